"""The desk's jobs on one administration: cut cards, send mobile keys, read a card.

Each takes the key's prepared data (``keydata.py``), asks Space through ``SpaceCommands``
and says what happened as an ``Outcome``: the event for the PMS, the key's new backend ids
(cards made, mobile keys sent) and the audit rows.
"""

import contextlib
import datetime
import time
import zoneinfo
from collections.abc import Iterator
from typing import Any

from appliance import lifecycle
from appliance.engine.backend import BackendFailure, Checkpoint, KeyRow, Outcome, holder_fields
from appliance.space.commands import SpaceCommands
from appliance.space.errors import SpaceRefused, SpaceUnavailable
from appliance.space.keydata import from_wire
from appliance.space.rules import SpaceRules
from appliance.space.settings import Administration


def key_fields(key: KeyRow) -> dict[str, Any]:
    """What every Space key event says about the key."""
    plan = key.plan
    fields = holder_fields(key) | {
        "key_id": key.id, "backend": "space", "administration": plan.get("administration"),
        "units": list(key.units), "rooms": plan.get("rooms", []),
        "authorizations": plan.get("authorizations", []),
        "valid_from": key.valid_from.isoformat(), "valid_until": key.valid_until.isoformat(),
        "space_valid_from": plan.get("space_valid_from"),
        "space_valid_until": plan.get("space_valid_until"), "rounded": plan.get("rounded", [])}
    kind = key.key_type or plan.get("key_type")
    if kind:
        fields["key_type"] = kind
    return fields


def in_space(key: KeyRow) -> bool:
    """Whether Space has been told of the key: a card cut or a mobile key sent."""
    return bool(key.external_ids.get("encoded") or key.external_ids.get("mobile"))


async def encode(desk: SpaceCommands, key: KeyRow, encoder_id: str, encoder_name: str,
                 count: int, copy: bool, checkpoint: Checkpoint) -> Outcome:
    """New cards (CN: the room's older cards and mobile keys stop working) or copies (CC)."""
    plan = key.plan
    made = int(key.external_ids.get("cards", 0)) if copy else 0
    if made + count > plan["max_cards"]:
        raise BackendFailure("copy_limit", "%d more card(s) would make %d; this key type "
                             "allows %d" % (count, made + count, plan["max_cards"]),
                             hint="collect a card before copying, or cut new cards "
                             "(copy = false) to start again")
    ids = _in_space(key, "encoded", checked_in=not copy)
    with _unless_refused(key, ids, checkpoint):
        cards = await desk.encode(encoder_name, plan["rooms"],
                                  from_wire(plan["space_valid_from"]),
                                  from_wire(plan["space_valid_until"]), count=count, copy=copy,
                                  granted=plan["granted"], print_info=plan["print_info"])
    fields = key_fields(key) | {"encoder": encoder_id, "count": cards.count, "copy": copy,
                                "serials": list(cards.serials)}
    ids["cards"] = made + count
    if not copy and key.external_ids.get("mobile"):
        # A new key for the room: the phone's key stopped working with the old cards.
        fields["mobile_invalidated"] = True
        ids.pop("delivered", None)
        ids["mobile"] = False
    return Outcome(data=fields, events=[("card_encoded", fields)],
                   key_event=lifecycle.ISSUED,
                   external_ids=ids, audit=[("card_copied" if copy else "card_encoded",
                                             ",".join(cards.serials),
                                             "%d at %s" % (count, encoder_id))])


def _in_space(key: KeyRow, what: str, checked_in: bool) -> dict[str, Any]:
    """The key's ids once Space holds it; ``checked_in_ns`` says since when it holds the
    room's check-in (CN, CNM), so an older key's check-out leaves the room alone."""
    ids = dict(key.external_ids, **{what: True})
    if checked_in:
        ids["checked_in_ns"] = time.time_ns()  # seconds are too coarse: two cuts a second
    return ids


@contextlib.contextmanager
def _unless_refused(key: KeyRow, ids: dict[str, Any], checkpoint: Checkpoint
                    ) -> Iterator[None]:
    """Record ``ids`` before asking: Space may act although its answer is lost (a check-out
    must still go out then). A refusal, or a request never sent, changed nothing in Space:
    the old ids again."""
    checkpoint(ids)
    try:
        yield
    except SpaceRefused:
        checkpoint(key.external_ids)
        raise
    except SpaceUnavailable as err:
        if not err.request_may_have_run:
            checkpoint(key.external_ids)
        raise


def delivered(key: KeyRow, phone: str) -> dict[str, Any]:
    """What a mobile key was sent for: sent again only once this changes."""
    plan = key.plan
    return {"rooms": plan.get("rooms"), "from": plan.get("space_valid_from"),
            "until": plan.get("space_valid_until"), "granted": plan.get("granted"),
            "phone": phone}


async def mobile(desk: SpaceCommands, key: KeyRow, phone: str, automatic: bool,
                 checkpoint: Checkpoint) -> Outcome:
    """A JustIN Mobile key: CNM for a key Space does not know yet, else CCM (a copy), so
    the cards already in the guest's hands keep working."""
    plan = key.plan
    if not phone:
        raise BackendFailure("no_phone", "the booking has no guest phone for its mobile key",
                             hint="add guest.phone to the booking, or send_mobile_key "
                             "with a phone")
    copy = in_space(key)
    ids = _in_space(key, "mobile", checked_in=not copy)
    with _unless_refused(key, ids, checkpoint):
        await desk.mobile(phone, plan["rooms"], from_wire(plan["space_valid_from"]),
                          from_wire(plan["space_valid_until"]), copy=copy,
                          message=plan.get("mobile_message", ""), granted=plan["granted"],
                          auth_code=plan.get("auth_code", ""))
    fields = key_fields(key) | {"mobile": True, "phone": phone, "automatic": automatic,
                                "copy": copy}
    ids["delivered"] = delivered(key, phone)
    return Outcome(data=fields, events=[("key_issued", fields)],
                   key_event=lifecycle.ISSUED,
                   external_ids=ids, audit=[("mobile_key_sent", phone[-4:].rjust(8, "*"),
                                             "automatic" if automatic else "desk")])


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
