"""The desk's jobs on one administration: cut cards, send mobile keys, read a card.

Each takes the key's prepared data (``keydata.py``), asks Space through ``SpaceCommands``
and says what happened as an ``Outcome``: the event for the PMS, the key's new backend ids
(cards made, mobile keys sent) and the audit rows.
"""

import contextlib
import dataclasses
import datetime
import time
import zoneinfo
from collections.abc import Iterator
from typing import Any

from appliance import lifecycle
from appliance.engine.backend import BackendFailure, Checkpoint, KeyRow, Outcome, holder_fields
from appliance.space.commands import MobileKey, SpaceCommands
from appliance.space.data import SpaceIds, SpaceKeyData
from appliance.space.errors import SpaceRefused, SpaceUnavailable
from appliance.space.keydata import from_wire
from appliance.space.rules import SpaceRules
from appliance.space.settings import Administration


def key_fields(key: KeyRow) -> dict[str, Any]:
    """What every Space key event says about the key."""
    data = SpaceKeyData.from_json(key.plan)
    fields = holder_fields(key) | {
        "key_id": key.id, "backend": "space", "administration": data.administration or None,
        "units": list(key.units), "rooms": list(data.rooms),
        "authorizations": list(data.authorizations),
        "valid_from": key.valid_from.isoformat(), "valid_until": key.valid_until.isoformat(),
        "space_valid_from": data.space_valid_from or None,
        "space_valid_until": data.space_valid_until or None, "rounded": list(data.rounded)}
    kind = key.key_type or data.key_type
    if kind:
        fields["key_type"] = kind
    return fields


def in_space(key: KeyRow) -> bool:
    """Whether Space has been told of the key: a card cut or a mobile key sent."""
    return SpaceIds.from_json(key.external_ids).in_space


async def encode(desk: SpaceCommands, key: KeyRow, encoder_id: str, encoder_name: str,
                 count: int, copy: bool, checkpoint: Checkpoint, after_ns: int = 0) -> Outcome:
    """New cards (CN: the room's older cards and mobile keys stop working) or copies (CC)."""
    data, before = SpaceKeyData.from_json(key.plan), SpaceIds.from_json(key.external_ids)
    made = before.cards if copy else 0
    if made + count > data.max_cards:
        raise BackendFailure("copy_limit", "%d more card(s) would make %d; this key type "
                             "allows %d" % (count, made + count, data.max_cards),
                             hint="collect a card before copying, or cut new cards "
                             "(copy = false) to start again")
    ids = _in_space(before, encoded=True, checked_in=not copy, after_ns=after_ns)
    with _unless_refused(before, ids, checkpoint):
        cards = await desk.encode(encoder_name, list(data.rooms),
                                  from_wire(data.space_valid_from),
                                  from_wire(data.space_valid_until), count=count, copy=copy,
                                  granted=list(data.granted), print_info=list(data.print_info))
    fields = key_fields(key) | {"encoder": encoder_id, "count": cards.count, "copy": copy,
                                "serials": list(cards.serials)}
    ids.cards = made + count
    if not copy and before.mobile:
        # A new key for the room: the phone's key stopped working with the old cards.
        fields["mobile_invalidated"] = True
        ids.delivered, ids.mobile = None, False
    return Outcome(data=fields, events=[("card_encoded", fields)],
                   key_event=lifecycle.ISSUED, external_ids=ids.to_json(),
                   audit=[("card_copied" if copy else "card_encoded", ",".join(cards.serials),
                           "%d at %s" % (count, encoder_id))])


def _in_space(before: SpaceIds, *, encoded: bool = False, mobile: bool = False,
              checked_in: bool, after_ns: int = 0) -> SpaceIds:
    """The key's ids once Space holds it; ``checked_in_ns`` orders the room check-ins (CN,
    CNM), so an older key's check-out leaves the room alone. Wall time, but never before
    ``after_ns``, the newest check-in the store knows: the clock may have been stepped back."""
    ids = dataclasses.replace(before, encoded=before.encoded or encoded,
                              mobile=before.mobile or mobile)
    if checked_in:  # nanoseconds: seconds are too coarse, two cuts a second
        ids.checked_in_ns = max(time.time_ns(), after_ns + 1)
    return ids


@contextlib.contextmanager
def _unless_refused(before: SpaceIds, ids: SpaceIds, checkpoint: Checkpoint
                    ) -> Iterator[None]:
    """Record ``ids`` before asking: Space may act although its answer is lost (a check-out
    must still go out then). A refusal, or a request never sent, changed nothing in Space:
    the old ids again."""
    checkpoint(ids.to_json())
    try:
        yield
    except SpaceRefused:
        checkpoint(before.to_json())
        raise
    except SpaceUnavailable as err:
        if not err.request_may_have_run:
            checkpoint(before.to_json())
        raise


def delivered(data: SpaceKeyData, phone: str) -> dict[str, Any]:
    """What a mobile key was sent for: sent again only once this changes."""
    return {"rooms": list(data.rooms), "from": data.space_valid_from,
            "until": data.space_valid_until, "granted": list(data.granted), "phone": phone}


async def mobile(desk: SpaceCommands, key: KeyRow, phone: str, automatic: bool,
                 checkpoint: Checkpoint, after_ns: int = 0, binary: bool = False) -> Outcome:
    """A JustIN Mobile key: CNM for a key Space does not know yet, else CCM (a copy), so
    the cards already in the guest's hands keep working. ``binary``: CNMB/CCMB, Space hands
    the key back for the PMS's own app (``_binary``)."""
    data, before = SpaceKeyData.from_json(key.plan), SpaceIds.from_json(key.external_ids)
    if not phone:
        raise BackendFailure("no_phone", "the booking has no guest phone for its mobile key",
                             hint="add guest.phone to the booking, or send_mobile_key "
                             "with a phone")
    copy = before.in_space
    ids = _in_space(before, mobile=True, checked_in=not copy, after_ns=after_ns)
    with _unless_refused(before, ids, checkpoint):
        sent = await desk.mobile(phone, list(data.rooms), from_wire(data.space_valid_from),
                                 from_wire(data.space_valid_until), copy=copy,
                                 message=data.mobile_message, granted=list(data.granted),
                                 auth_code=data.auth_code, binary=binary)
    fields = key_fields(key) | {"mobile": True, "phone": phone, "automatic": automatic,
                                "copy": copy}
    if binary:
        return _binary(fields, sent, ids)
    ids.delivered = delivered(data, phone)
    return Outcome(data=fields, events=[("key_issued", fields)],
                   key_event=lifecycle.ISSUED, external_ids=ids.to_json(),
                   audit=[("mobile_key_sent", phone[-4:].rjust(8, "*"),
                           "automatic" if automatic else "desk")])


def _binary(fields: dict[str, Any], sent: MobileKey, ids: SpaceIds) -> Outcome:
    """The key data travels once, in ``key_issued`` (the outbox is encrypted); the reply,
    which the inbox keeps in clear for a repeated request_id, and the key's ids never hold
    it. ``delivered`` stays: the phone's JustIN app did not get this key, so a product's
    automatic delivery still goes out."""
    fields |= {"binary": True}
    secret = {"binary_key": sent.key_hex, "installation_id": sent.installation_id or None}
    return Outcome(data=fields, events=[("key_issued", fields | secret)],
                   key_event=lifecycle.ISSUED, external_ids=ids.to_json(),
                   audit=[("mobile_key_binary", sent.phone[-4:].rjust(8, "*"), "desk")])


async def read(desk: SpaceCommands, rules: SpaceRules, admin: Administration,
               encoder_id: str, encoder_name: str) -> Outcome:
    """Read the card on the encoder (LT); the job runner names the booking it belongs to."""
    card = await desk.read(encoder_name)
    fields: dict[str, Any] = {
        "encoder": encoder_id, "administration": admin.id, "kind": card.kind,
        "room": card.rooms[0] if card.rooms else None, "rooms": list(card.rooms),
        "valid": card.valid, "copy": card.copy not in ("", "original"),
        "copy_label": card.copy or None, "authorizations": rules.names(card.authorizations),
        "space_valid_from": None if card.valid_from is None else card.valid_from.isoformat(),
        "space_valid_until": None if card.valid_until is None else card.valid_until.isoformat(),
        "valid_from": _aware(card.valid_from, admin),
        "valid_until": _aware(card.valid_until, admin)}
    return Outcome(data=fields, events=[("card_read", fields)])


def _aware(moment: datetime.datetime | None, admin: Administration) -> str | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=zoneinfo.ZoneInfo(admin.timezone)).isoformat()
