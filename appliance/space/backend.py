"""One ProAccess Space administration as an engine backend.

A booking's Space key is prepared when the booking is confirmed: the product that matches
it gives the key type (authorizations, card lines), the unit map gives the rooms, the
administration gives the local times (``keydata.py``). Space itself learns of the key only
when a card or a mobile key is made (CN/CC/CNM/CCM, ``cards.py``), and forgets it at
check-out (CO). Each administration is its own backend ("space", "space:north"): its own
link, its own worker, so one Space server being away never holds up another.
"""

import dataclasses
import datetime
from collections.abc import Awaitable, Callable
from typing import Any

from appliance import lifecycle
from appliance.bridge import contract
from appliance.config import Config
from appliance.engine.backend import (
    DELIVER,
    ENCODE,
    ISSUE,
    MOBILE,
    READ,
    REVOKE,
    TEST,
    UPDATE,
    Backend,
    BackendFailure,
    Checkpoint,
    Health,
    Holder,
    KeyRow,
    Outcome,
    PlannedKey,
    no_checkpoint,
)
from appliance.errors import CommandError
from appliance.space import cards, errors, hooks, keydata, reconcile, siteconf, tools
from appliance.space.client import SpaceClient
from appliance.space.commands import SpaceCommands
from appliance.space.data import SpaceIds, SpaceKeyData
from appliance.space.settings import Administration
from appliance.space.siteconf import Encoder
from appliance.store import Job, Tx, now_iso

AFTER = "checked_in_after_ns"
"""A card or phone-key job's argument: the newest check-in of the store when it began."""

class SpaceBackend(Backend):
    family = "space"
    desk_kinds = (ENCODE, READ, MOBILE)

    def __init__(self, config: Config, admin: Administration | None = None,
                 client: SpaceClient | None = None,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.site = siteconf.of(config)
        self.admin = admin or self.site.administrations[0]
        self.name = self.admin.backend
        self.on_change = on_change  # the retained status follows the link at once
        self.config = config
        self.rules = self.site.rules_of(self.admin.id)
        self.units = self.site.admin_units(self.admin.id)
        self.client = client or SpaceClient(self.admin.settings, on_health=self._on_health)
        self.desk = SpaceCommands(self.client, self.admin.settings.operator)
        self._health = Health(False, now_iso(), "not connected yet")

    def knows_unit(self, unit: str) -> bool:
        return unit in self.units

    def plan(self, holder: Holder) -> list[PlannedKey]:
        units = tuple(unit for unit in holder.units if unit in self.units)
        if units:
            self._check_key_type(holder, units)
        choice = self.rules.choose(holder) if units else None
        if choice is None:
            return []
        kind, product = choice
        rooms = [self.units[unit] for unit in units]
        times = keydata.stay(holder, product, self.admin, self.config.site)
        plan = keydata.prepare(holder, rooms, kind, product, self.rules, self.admin, times)
        # One Space key per holder and administration, whatever its type: a new product
        # mid-stay changes the key (re-encode), it does not check the room out.
        return [PlannedKey(self.name, units, times[0], times[1], "", plan.to_json(),
                           keydata.deliver_at(product, holder, times[0]))]

    def _check_key_type(self, holder: Holder, units: tuple[str, ...]) -> None:
        """An owner key naming another administration's key type, with a unit here, is
        refused: cut here it would open none of the doors it was meant for. A type no
        administration has (a KS key type) gets no Space key, as it always did."""
        kinds = self.rules.key_types
        if (holder.owner_key_id is None or not kinds or holder.key_type in kinds
                or holder.key_type not in self.site.key_types()):
            return
        raise CommandError("unknown_key_type", "owner_key.key_type %r is no key type of "
                           "Space administration %r, which has unit %s; its key types are "
                           "%s" % (holder.key_type, self.admin.id, ", ".join(units),
                                   ", ".join(kinds)), "owner_key.key_type")

    def check_encoder(self, encoder: str) -> str | None:
        found = self.site.encoder(encoder)
        if found is None:
            known = ", ".join(e.id for e in self.site.encoders) or "none configured"
            return "no encoder %r in [[encoders]] (known: %s)" % (encoder, known)
        if found.administration != self.admin.id:
            return "encoder %r belongs to administration %r, not %r" % (
                encoder, found.administration, self.admin.id)
        return None

    def idempotent(self, kind: str) -> bool:
        # Cutting a card or sending a mobile key twice makes a second key: never blindly.
        return kind not in (ENCODE, MOBILE, DELIVER)

    def outcome_unknown_hint(self, kind: str) -> str:
        if kind in (MOBILE, DELIVER):  # no card to read: the phone's key may exist or not
            return ("Space may have made the mobile key; send_mobile_key again: it goes as a "
                    "copy (CCM, CCMB for a binary key), so a key already made keeps working")
        return "read the card on the encoder to see whether it was encoded, then ask again " \
            "if needed"

    def failure_fields(self, job: Job) -> dict[str, Any]:
        return {"backend": self.family, "administration": self.admin.id}

    def prepare(self, job: Job, key: KeyRow | None, store: Tx) -> Job:
        if key is not None and job.kind in (UPDATE, REVOKE) and cards.in_space(key):
            # Only a key Space holds is checked out; which of its rooms are someone else's
            # now only the store knows.
            return dataclasses.replace(job, payload=job.payload | {
                "rooms_taken": hooks.rooms_taken(store, key)})
        if key is not None and job.kind in (ENCODE, MOBILE, DELIVER):
            return dataclasses.replace(job, payload=job.payload | {
                AFTER: hooks.latest_check_in(store, self.name)})
        return job

    def describe(self, job: Job, outcome: Outcome, store: Tx) -> None:
        if job.kind == READ:
            hooks.read_back(store, self.name, outcome)

    async def start(self) -> None:
        self.client.start()

    async def close(self) -> None:
        await self.client.close()

    def health(self) -> Health:
        return self._health

    def _on_health(self, up: bool, reason: str) -> None:
        self._health = Health(up, now_iso(), None if up else reason)
        self.on_change()

    async def reconcile(self, keys: list[KeyRow]) -> list[dict[str, Any]]:
        # Space cannot list the keys it knows; reconcile.py checks what it does answer.
        found: list[dict[str, Any]] = await self._translated(reconcile.check(
            self.desk, self.admin, keys, datetime.datetime.now(datetime.UTC)))
        return found

    async def run(self, job: Job, key: KeyRow | None,
                  checkpoint: Checkpoint = no_checkpoint) -> Outcome:
        result: Outcome = await self._translated(self._run(job, key, checkpoint))
        return result

    async def tool(self, verb: str, args: dict[str, Any]) -> Any:
        if verb not in tools.VERBS:
            raise BackendFailure("usage", "no Space request %r; the requests are %s"
                                 % (verb, ", ".join(tools.VERBS)))
        return await self._translated(tools.run(self.desk, verb, args))

    async def _translated(self, request: Awaitable[Any]) -> Any:
        """Space's errors as the engine's: what can help and whether it may have run."""
        try:
            return await request
        except errors.SpaceRefused as err:
            raise BackendFailure(err.code, err.meaning, hint=err.hint,
                                 retry=err.retry_later) from err
        except errors.SpaceUnavailable as err:
            raise BackendFailure("backend_unavailable", str(err), retry=True,
                                 hint="check that ProAccess Space is running and reachable",
                                 may_have_run=err.request_may_have_run) from err
        except errors.SpaceError as err:
            raise BackendFailure("backend_error", str(err)) from err

    async def _run(self, job: Job, key: KeyRow | None, checkpoint: Checkpoint) -> Outcome:
        if job.kind == TEST:
            return Outcome(data={"ready": await self.desk.ping(),
                                 "administration": self.admin.id})
        if job.kind == READ:
            encoder = self._encoder(job)
            return await cards.read(self.desk, self.rules, self.admin, encoder.id, encoder.name)
        assert key is not None, "job %d (%s) has no key" % (job.id, job.kind)
        if job.kind == ISSUE:
            return Outcome(key_event=lifecycle.ISSUED)
        if job.kind == UPDATE:
            return await self._update(job, key)
        if job.kind == REVOKE:
            return await self._revoke(job, key)
        data = SpaceKeyData.from_json(key.plan)
        if not data.prepared:
            raise BackendFailure("no_key_data", "the key was made before this version and "
                                 "has no key data yet", hint="send the booking again with a "
                                 "higher revision")
        if job.kind == ENCODE:
            args = contract.from_payload(contract.EncodeCardArgs, job.payload)
            encoder = self._encoder(job)
            return await cards.encode(self.desk, key, encoder.id, encoder.name, args.count,
                                      args.copy, checkpoint, job.payload.get(AFTER, 0))
        if job.kind == MOBILE:
            mobile = contract.from_payload(contract.MobileKeyArgs, job.payload)
            return await cards.mobile(self.desk, key, mobile.phone, False, checkpoint,
                                      job.payload.get(AFTER, 0), binary=mobile.binary)
        if job.kind == DELIVER:
            sent = SpaceIds.from_json(key.external_ids).delivered
            if sent == cards.delivered(data, data.phone):
                return Outcome()  # already on the phone, as it is now
            return await cards.mobile(self.desk, key, data.phone, True, checkpoint,
                                      job.payload.get(AFTER, 0))
        raise BackendFailure("internal_error", "Space cannot run a %s job" % job.kind)

    def _encoder(self, job: Job) -> Encoder:
        # Both card jobs name their encoder the same way.
        name = contract.from_payload(contract.ReadCardArgs, job.payload).encoder
        encoder = self.site.encoder(name)
        assert encoder is not None
        return encoder

    async def _update(self, job: Job, key: KeyRow) -> Outcome:
        """New dates or rooms: Space holds the old ones on the cards already cut."""
        before = job.payload.get("before", {})
        old, new = SpaceKeyData.from_json(before.get("plan", {})), SpaceKeyData.from_json(
            key.plan)
        if (old.rooms, old.granted, old.space_valid_from, old.space_valid_until) == (
                new.rooms, new.granted, new.space_valid_from, new.space_valid_until):
            return Outcome(key_event=lifecycle.UPDATED)  # only the delivery plan changed
        modified, held = False, cards.in_space(key)
        if held:  # rooms the key no longer has are left to nobody
            await self._check_out(job, [room for room in old.rooms if room not in new.rooms])
        if held and self._modifiable(old, new):
            await self.desk.modify(new.rooms[0], keydata.from_wire(new.space_valid_until))
            modified = True
        event = cards.key_fields(key) | {
            "modified": modified, "reencode_required": held and not modified,
            "previous": {name: before.get(name) for name in ("units", "valid_from",
                                                             "valid_until")}}
        return Outcome(data=event, events=[("key_updated", event)],
                       key_event=lifecycle.UPDATED,
                       audit=[("key_modified" if modified else "key_data_updated",
                               ",".join(new.rooms), job.payload.get("trigger", ""))])

    def _modifiable(self, old: SpaceKeyData, new: SpaceKeyData) -> bool:
        """MC moves only the end of an occupied room's stay (§5.6)."""
        return (self.admin.settings.modify_check_in and old.rooms == new.rooms
                and old.granted == new.granted
                and old.space_valid_from == new.space_valid_from)

    async def _revoke(self, job: Job, key: KeyRow) -> Outcome:
        rooms = list(SpaceKeyData.from_json(key.plan).rooms
                     or SpaceIds.from_json(key.external_ids).rooms)
        checked_out = cards.in_space(key) and await self._check_out(job, rooms)
        fields = cards.key_fields(key) | {
            "reason": job.payload.get("reason", ""), "checked_out": checked_out,
            "cards_unusable": checked_out and self.admin.settings.checkout_disables_cards}
        audit = [("revoked", ",".join(rooms), "check-out" if checked_out
                  else "key data deleted, no check-out")]
        return Outcome(data=fields, events=[("key_revoked", fields)],
                       key_event=lifecycle.REVOKED_EVENT,
                       audit=audit)

    async def _check_out(self, job: Job, rooms: list[str]) -> bool:
        """CO each room, except one a newer key has checked in since: Space holds one
        check-in per room, and checking it out would lock the next guest out. True if any
        room was checked out."""
        taken = set(job.payload.get("rooms_taken", ()))
        done = False
        for room in rooms:
            if room not in taken:
                await self.desk.check_out(room)
                done = True
        return done
