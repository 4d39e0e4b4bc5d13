"""Salto KS as an engine backend: a PIN per key type for exactly the stay.

``plan`` gives a booking one key per ``[[ks.key_types]]`` entry once any of its units is in
``[ks.units]``. Issuing and updating both run the saga (saga.py), which converges the KS side
on the key; the PIN, new only at the first issue, is stored encrypted and published once in
``key_issued``. Revoking deletes the guest (its seat is free at once, the PIN dead) and its
access group. Every KS error becomes a ``BackendFailure`` saying whether a retry can help.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from appliance import lifecycle
from appliance.config import Config
from appliance.engine import stay
from appliance.engine.backend import (
    ISSUE,
    REMOVE_REMOTE,
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
    holder_fields,
    no_checkpoint,
)
from appliance.ks import config as ks_config
from appliance.ks import errors, seats
from appliance.ks.client import KsClient
from appliance.ks.config import KeyType, KsConfig
from appliance.ks.ids import KsIds
from appliance.ks.reconcile import compare
from appliance.ks.saga import Saga
from appliance.ks.site import KsSite
from appliance.store import Job, now_iso

T = TypeVar("T")
log = logging.getLogger("keybridge.ks")
NAME = "ks"
AUTH_HINT = ("check [ks] client_id, client_secret_file, username and password_file, and that "
             "Salto enabled the password grant for the client")


class KsBackend(Backend):
    name = NAME
    family = NAME

    def __init__(self, config: Config, client: KsClient | None = None,
                 on_change: Callable[[], None] = lambda: None) -> None:
        ks = ks_config.of(config)
        assert ks is not None
        self.ks: KsConfig = ks
        self.config = config
        self.concurrency = ks.settings.max_in_flight  # waiting for KS, not for one another
        self.on_change = on_change  # the retained status follows KS at once
        self.client = client or KsClient(self.ks.settings)
        self.site = KsSite(self.client, config.site.id, config.site.zone)
        self.saga = Saga(self.client, self.ks, self.site)
        self.seats = seats.SeatGate(ks.seats_retry_min_s, ks.seats_retry_max_s)
        self._length_said = False
        self._health = Health(False, now_iso(), "not contacted yet")

    def knows_unit(self, unit: str) -> bool:
        return unit in self.ks.units

    def plan(self, holder: Holder) -> list[PlannedKey]:
        if not any(unit in self.ks.units for unit in holder.units):
            return []
        kinds = [kind for kind in self.ks.key_types if kind.name == holder.key_type]
        # An owner key naming one of our key types gets that PIN only; any other, all.
        return [PlannedKey(NAME, holder.units, *self._times(holder, kind), kind.name)
                for kind in kinds or self.ks.key_types]

    def _times(self, holder: Holder, kind: KeyType) -> stay.Stay:
        """The key type's times, else the site's: the same policy as Space's cards."""
        zone = self.config.site.timezone  # KS schedules are the site's wall time
        site_in, site_out = stay.site_times(self.config.site)
        return stay.key_times(holder, stay.first(stay.WallTime(kind.start_time, zone), site_in),
                              stay.first(stay.WallTime(kind.end_time, zone), site_out))

    def check_encoder(self, encoder: str) -> str | None:
        return "Salto KS has no encoders"

    def idempotent(self, kind: str) -> bool:
        # Every step is looked up before it is repeated; a PIN is only ever set while we
        # hold none, and then nobody has the old one.
        return True

    async def start(self) -> None:
        """A first look (token, site) in the background, so the status says up or why not
        without waiting for the first booking; the door-event poller keeps it current."""
        self._probe = asyncio.get_running_loop().create_task(self._first_look())

    async def _first_look(self) -> None:
        with contextlib.suppress(BackendFailure):
            await self.guarded(self.site.resolve())

    async def close(self) -> None:
        probe = getattr(self, "_probe", None)
        if probe is not None:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
        await self.client.close()

    def health(self) -> Health:
        return self._health

    def _set_health(self, up: bool, reason: str | None) -> None:
        if up != self._health.up or (not up and reason != self._health.last_error):
            self._health = Health(up, now_iso(), reason)
            self.on_change()

    async def run(self, job: Job, key: KeyRow | None,
                  checkpoint: Checkpoint = no_checkpoint) -> Outcome:
        if job.kind == ISSUE:
            self.seats.admit()  # refused at once, no request, while the seats are taken
        failure: BackendFailure | None = None
        try:
            outcome = await self.guarded(self._run(job, key, checkpoint))
        except BackendFailure as err:
            failure = err
            raise
        finally:
            self._seats_after(job.kind, failure)
        return outcome

    def _seats_after(self, kind: str, failure: BackendFailure | None) -> None:
        if kind == ISSUE:
            self.seats.done(failure)
        elif kind == UPDATE and failure is not None and failure.code == seats.NO_SEATS:
            self.seats.refused()
        elif kind == REVOKE and failure is None:
            self.seats.freed()

    async def guarded(self, work: Awaitable[T]) -> T:
        """Await ``work``, turning KS errors into BackendFailure and tracking health."""
        try:
            result = await work
        except errors.KsUnavailable as err:
            self._set_health(False, str(err))
            raise BackendFailure("backend_unavailable", str(err), retry=True,
                                 may_have_run=err.request_may_have_run,
                                 hint="KS is unreachable or overloaded; keybridge keeps "
                                 "trying (status.saltoks.com shows outages)") from err
        except errors.KsAuthError as err:
            self._set_health(False, str(err))
            raise BackendFailure("ks_auth_failed", str(err), hint=AUTH_HINT, retry=True) from err
        except errors.KsRefused as err:
            self._set_health(True, None)
            # 403/404 may pass (propagation, a role granted, a seat freed); 400s will not.
            raise BackendFailure("ks_%s" % (err.error_code or err.status), str(err),
                                 hint=err.hint, retry=err.status in (403, 404)) from err
        except errors.KsError as err:
            raise BackendFailure("ks_protocol_error", str(err), retry=True) from err
        self._set_health(True, None)
        return result

    async def _run(self, job: Job, key: KeyRow | None, checkpoint: Checkpoint) -> Outcome:
        if job.kind == TEST:
            return Outcome(data=await self.test_connection())
        if job.kind == REMOVE_REMOTE:
            return await self._remove_remote(job, key)
        if key is None:
            raise BackendFailure("internal_error", "a %s job without a key" % job.kind)
        if job.kind in (ISSUE, UPDATE):
            return await self._ensure(job, key, checkpoint)
        if job.kind == REVOKE:
            return await self._revoke(job, key)
        raise BackendFailure("not_supported", "Salto KS cannot %s" % job.kind.replace("_", " "),
                             hint="cards are cut on a Space encoder")

    async def _ensure(self, job: Job, key: KeyRow, checkpoint: Checkpoint) -> Outcome:
        known = KsIds.from_json(key.external_ids)
        # pin_stored is committed with the encrypted PIN itself: one fact, one transaction.
        # A reissue forgets the secret: then a new PIN is due whatever the ids say.
        has_pin = known.pin_stored and key.has_secret
        ids, pin = await self.saga.ensure(key, known, has_pin,
                                          lambda ids: checkpoint(ids.to_json()),
                                          first_try=job.kind == ISSUE and job.attempts == 1)
        fields = holder_fields(key) | {
            "key_id": key.id, "backend": NAME, "key_type": key.key_type,
            "units": list(key.units), "locks": self._lock_names(ids),
            "valid_from": key.valid_from.isoformat(),
            "valid_until": key.valid_until.isoformat()}
        if pin is None:
            return Outcome(data=fields, events=[("key_updated", fields)],
                           key_event=lifecycle.UPDATED, external_ids=ids.to_json(),
                           audit=[("pin_updated", str(ids.site_user_id), ids.audit_text())])
        ids.pin_stored = True
        self._check_length(pin)
        return Outcome(data=fields, events=[("key_issued", fields | {"pin": pin})],
                       key_event=lifecycle.ISSUED, external_ids=ids.to_json(),
                       secret=pin.encode("ascii"),
                       audit=[("pin_minted", str(ids.site_user_id), ids.audit_text())])

    def _check_length(self, pin: str) -> None:
        """A PIN of another length than the doors take is said once: the doors, or the
        setting, are set up otherwise than the site thinks. The PIN itself is never logged."""
        wanted = self.ks.pin_length
        if wanted and len(pin) != wanted and not self._length_said:
            self._length_said = True
            log.warning("KS returned a %d-digit PIN where [ks] pin_length = %d: check the "
                        "PIN length of the site's doors in KS, and the setting", len(pin),
                        wanted)

    async def _revoke(self, job: Job, key: KeyRow) -> Outcome:
        ids = KsIds.from_json(key.external_ids)
        removed = await self.saga.remove(key, ids)
        fields = holder_fields(key) | {
            "key_id": key.id, "backend": NAME, "key_type": key.key_type,
            "units": list(key.units), "reason": job.payload.get("reason", "")}
        detail = ids.audit_text() + (" (already gone)" if not any(removed.values()) else "")
        return Outcome(data=fields, events=[("key_revoked", fields)],
                       key_event=lifecycle.REVOKED_EVENT,
                       audit=[("pin_revoked", ids.site_user_id or "", detail)])

    async def _remove_remote(self, job: Job, key: KeyRow | None) -> Outcome:
        remote = dict(job.payload.get("remote") or {})
        if key is not None and key.state != lifecycle.REVOKED:
            return Outcome(data={"removed": None, "reason": "the key is live again"})
        # Only what the listing showed: no look-up by reference, which could find a key's
        # guest made since.
        stray = KsIds(site_user_id=remote.get("site_user_id"),
                      access_group_id=remote.get("access_group_id"))
        await self.saga.remove(None, stray)
        return Outcome(data={"removed": remote}, audit=[(
            "stray_removed", str(stray.site_user_id or stray.access_group_id),
            "reconciliation: %s" % stray.audit_text())])

    def _lock_names(self, ids: KsIds) -> list[str]:
        names = self.site.lock_names()
        return [names.get(lock, lock) for lock in ids.locks]

    async def reconcile(self, keys: list[KeyRow]) -> list[dict[str, Any]]:
        return await self.guarded(compare(self.saga, keys))

    async def tool(self, verb: str, args: dict[str, Any]) -> Any:
        """``test_connection`` through the running service, which holds the secrets a
        technician's shell cannot read (systemd credentials)."""
        if verb != "test_connection":
            raise BackendFailure("usage", "KS takes only test_connection from a technician")
        return await self.guarded(self.test_connection())

    async def test_connection(self) -> dict[str, Any]:
        """Token, site, locks: each step's failure names what to fix."""
        site = await self.site.resolve()
        locks = await self.site.locks(fresh=True)
        names = {lock.get("customer_reference") for lock in locks} | {
            lock.get("id") for lock in locks}
        wanted = {lock for locks_ in self.ks.units.values() for lock in locks_} | {
            lock for kind in self.ks.key_types for lock in kind.locks}
        missing = sorted(lock for lock in wanted if lock not in names)
        if missing:
            raise BackendFailure("ks_unknown_lock", "the KS site %s has no lock %s"
                                 % (site.get("customer_reference"), ", ".join(missing)),
                                 hint="fix [ks.units] or [[ks.key_types]] locks; the site has: "
                                 + ", ".join(sorted(str(n) for n in names if n)))
        return {"site": site.get("customer_reference"), "site_id": site.get("id"),
                "api_url": self.ks.settings.api_url,  # which KS: [ks] environment, or the URL given
                "time_zone": site.get("time_zone"), "locks": len(locks),
                "seats": {"used": site.get("active_user_amount"),
                          "limit": site.get("subscribed_user_amount")}}

