"""ProAccess Space as an engine backend: key data kept ready, cards cut on request, check-out.

A booking's Space key is its rooms and validity, prepared when the booking is confirmed so
the desk can cut a card even while the PMS is away. Space itself learns of it only when a
card or a mobile key is made (CN/CC/CNM), and forgets it at check-out (CO). Key types,
products and administrations plug in here later; this is the one-administration core.
"""

import datetime
from collections.abc import Callable
from typing import Any

from appliance.config import Config
from appliance.engine.backend import (
    ENCODE,
    ISSUE,
    MOBILE,
    READ,
    REVOKE,
    TEST,
    UPDATE,
    BackendFailure,
    Checkpoint,
    Health,
    KeyRow,
    Outcome,
    PlannedKey,
    holder_fields,
    no_checkpoint,
)
from appliance.space import errors
from appliance.space.client import SpaceClient
from appliance.space.commands import SpaceCommands
from appliance.store.db import now_iso
from appliance.store.records import Job

NAME = "space"


class SpaceBackend:
    name = NAME

    def __init__(self, config: Config, client: SpaceClient | None = None,
                 on_change: Callable[[], None] = lambda: None) -> None:
        assert config.space is not None
        self.on_change = on_change  # the retained status follows the link at once
        self.config = config
        self.zone = config.site.zone
        self.client = client or SpaceClient(config.space, on_health=self._on_health)
        self.desk = SpaceCommands(self.client)
        self._health = Health(False, now_iso(), "not connected yet")

    def plan(self, units: tuple[str, ...], valid_from: datetime.datetime,
             valid_until: datetime.datetime) -> list[PlannedKey]:
        if not any(unit in self.config.units for unit in units):
            return []
        return [PlannedKey(NAME, units, valid_from, valid_until)]

    def rooms(self, units: tuple[str, ...]) -> list[str]:
        return [self.config.units[unit] for unit in units if unit in self.config.units]

    def check_encoder(self, encoder: str) -> str | None:
        if self.config.encoder(encoder) is None:
            known = ", ".join(e.id for e in self.config.encoders) or "none configured"
            return "no encoder %r in [[encoders]] (known: %s)" % (encoder, known)
        return None

    def idempotent(self, kind: str) -> bool:
        # Cutting a card or sending a mobile key twice makes a second key: never blindly.
        return kind not in (ENCODE, MOBILE)

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
        # Space cannot list the keys it knows (the PMS protocol has no such request); the
        # store-only comparison is all there is.
        return []

    async def run(self, job: Job, key: KeyRow | None,
                  checkpoint: Checkpoint = no_checkpoint) -> Outcome:
        try:
            return await self._run(job, key)
        except errors.SpaceRefused as err:
            raise BackendFailure(err.code, err.meaning, hint=err.hint,
                                 retry=err.retry_later) from err
        except errors.SpaceUnavailable as err:
            raise BackendFailure("backend_unavailable", str(err), retry=True,
                                 hint="check that ProAccess Space is running and reachable",
                                 may_have_run=err.request_may_have_run) from err
        except errors.SpaceError as err:
            raise BackendFailure("backend_error", str(err)) from err

    async def _run(self, job: Job, key: KeyRow | None) -> Outcome:
        if job.kind == TEST:
            ready = await self.desk.ping()
            return Outcome(data={"ready": ready})
        if job.kind == READ:
            return await self._read(job)
        assert key is not None, "job %d (%s) has no key" % (job.id, job.kind)
        if job.kind in (ISSUE, UPDATE):
            ids = dict(key.external_ids, rooms=self.rooms(key.units))
            return Outcome(key_state="active", external_ids=ids)
        if job.kind == REVOKE:
            return await self._revoke(job, key)
        if job.kind == ENCODE:
            return await self._encode(job, key)
        if job.kind == MOBILE:
            return await self._mobile(job, key)
        raise BackendFailure("internal_error", "Space cannot run a %s job" % job.kind)

    def _local(self, text: str) -> datetime.datetime:
        """Space works in the site's wall time (§4.1)."""
        return datetime.datetime.fromisoformat(text).astimezone(self.zone).replace(tzinfo=None)

    async def _encode(self, job: Job, key: KeyRow) -> Outcome:
        encoder = self.config.encoder(job.payload["encoder"])
        assert encoder is not None
        rooms = self.rooms(key.units)
        cards = await self.desk.encode(encoder.name, rooms, self._local(key.valid_from),
                                       self._local(key.valid_until), count=job.payload["count"],
                                       copy=job.payload["copy"])
        fields = holder_fields(key) | {
            "key_id": key.id, "encoder": encoder.id, "count": cards.count, "copy": cards.copy,
            "rooms": rooms, "valid_from": key.valid_from, "valid_until": key.valid_until,
            "serials": list(cards.serials)}
        action = "card_copied" if cards.copy else "card_encoded"
        return Outcome(data=fields, events=[("card_encoded", fields)], key_state="active",
                       external_ids=dict(key.external_ids, rooms=rooms, encoded=True),
                       audit=[(action, ",".join(cards.serials), "%d at %s"
                               % (cards.count, encoder.id))])

    async def _mobile(self, job: Job, key: KeyRow) -> Outcome:
        rooms = self.rooms(key.units)
        await self.desk.mobile(job.payload["phone"], rooms, self._local(key.valid_from),
                               self._local(key.valid_until))
        fields = holder_fields(key) | {
            "key_id": key.id, "backend": NAME, "units": list(key.units),
            "valid_from": key.valid_from, "valid_until": key.valid_until}
        return Outcome(data=fields, events=[("key_issued", fields)], key_state="active",
                       external_ids=dict(key.external_ids, rooms=rooms, mobile=True),
                       audit=[("mobile_key_sent", ",".join(rooms), "")])

    async def _revoke(self, job: Job, key: KeyRow) -> Outcome:
        rooms = key.external_ids.get("rooms") or self.rooms(key.units)
        in_space = bool(key.external_ids.get("encoded") or key.external_ids.get("mobile"))
        if in_space:
            for room in rooms:
                await self.desk.check_out(room)
        fields = holder_fields(key) | {
            "key_id": key.id, "backend": NAME, "units": list(key.units),
            "reason": job.payload.get("reason", ""), "checked_out": in_space}
        audit = [("revoked", ",".join(rooms), "check-out" if in_space else "key data deleted")]
        return Outcome(data=fields, events=[("key_revoked", fields)], key_state="revoked",
                       audit=audit)

    async def _read(self, job: Job) -> Outcome:
        encoder = self.config.encoder(job.payload["encoder"])
        assert encoder is not None
        card = await self.desk.read(encoder.name)
        fields: dict[str, Any] = {
            "encoder": encoder.id, "kind": card.kind,
            "room": card.rooms[0] if card.rooms else None, "rooms": list(card.rooms),
            "valid": card.valid, "copy": card.copy not in ("", "original"),
            "copy_label": card.copy or None,
            "valid_from": _aware(card.valid_from, self.zone),
            "valid_until": _aware(card.valid_until, self.zone)}
        return Outcome(data=fields, events=[("card_read", fields)])


def _aware(moment: datetime.datetime | None, zone: datetime.tzinfo) -> str | None:
    return None if moment is None else moment.replace(tzinfo=zone).isoformat()
