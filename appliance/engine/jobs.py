"""Jobs out, results in: the engine's work side.

``JobRunner.execute`` runs one leased job on its backend and commits the outcome (key state,
audit rows, events, the desk's final reply) together with the job's end. A failure is retried
with backoff when that can help and the job converges a key; a desk request a person waits for
gets an error reply at once. After a crash, ``recover`` puts interrupted jobs back, except
those whose effect may have happened and must not be repeated blindly (a card cut twice is
two cards): those end with ``outcome_unknown`` and a hint.
"""

import dataclasses
import functools
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Mapping
from typing import Any

from appliance import lifecycle
from appliance.engine import keys as keyset
from appliance.engine.backend import (
    DELIVER,
    DESK_KINDS,
    ENCODE,
    ISSUE,
    MOBILE,
    READ,
    RECONCILE,
    REVOKE,
    TEST,
    UPDATE,
    Backend,
    BackendFailure,
    KeyRow,
    Outcome,
    holder_fields,
    no_checkpoint,
)
from appliance.engine.engine import APPLIANCE, reply_body
from appliance.engine.reconcile import reconcile
from appliance.errors import CommandError
from appliance.space.cards import in_space
from appliance.store.db import Store, now_iso
from appliance.store.records import (
    Job,
    audit,
    dumps,
    event,
    inbox_set_reply,
    integration,
    job_done,
    job_event_id,
    job_failed,
    job_retry,
    job_started,
    jobs_interrupted,
    outbox_add,
)
from appliance.store.retry import persist

log = logging.getLogger("keybridge.jobs")
REPLIED_KINDS = (*DESK_KINDS, RECONCILE)
"""Jobs that end with a second reply to the command that asked for them."""
KEY_FAILED_KINDS = (ISSUE, UPDATE, REVOKE, DELIVER, ENCODE, MOBILE, READ)
"""Jobs whose failure the PMS hears of as key_failed (the desk's besides its reply)."""


class JobRunner:
    def __init__(self, store: Store, root: str, backends: Mapping[str, Backend], *,
                 retry_min_s: float, retry_max_s: float,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.time,
                 wake: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.root = root
        self.backends = backends
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self.clock = clock
        self.wake = wake

    async def execute(self, job: Job) -> None:
        key = keyset.load_key(self.store.db, job.key_id)
        ctx = _ctx(job, key)
        if job.kind in (ISSUE, UPDATE, DELIVER) and (key is None
                                                     or key.state not in lifecycle.LIVE):
            log.info("%s skipped: the key was revoked meanwhile", job.kind, extra={"ctx": ctx})
            with self.store.transaction() as db:
                job_done(db, job, lifecycle.SKIPPED)
            return
        if job.kind in (ENCODE, MOBILE) and (key is None or key.state not in lifecycle.LIVE):
            # delete_keys or a check-out arrived after this request was accepted.
            self.failed(job, key, BackendFailure(
                "no_key", "the key was revoked before the card could be made",
                hint="the booking was checked out or its keys deleted; confirm it again"))
            return
        log.info("%s started (attempt %d)", job.kind, job.attempts, extra={"ctx": ctx})
        job_started(self.store, job)
        try:
            outcome = await self._run(job, key)
        except BackendFailure as failure:
            await persist(functools.partial(self.failed, job, key, failure),
                          "recording a failure")
        except Exception as err:
            log.exception("%s crashed", job.kind, extra={"ctx": ctx})
            crash = BackendFailure("internal_error", "%s: %s" % (type(err).__name__, err),
                                   retry=True)
            await persist(functools.partial(self.failed, job, key, crash), "recording a failure")
        else:
            # The effect happened: its record must land, however long the store is busy.
            await persist(functools.partial(self.succeeded, job, key, outcome),
                          "recording a result")
            log.info("%s done", job.kind, extra={"ctx": ctx})
        self.wake()

    async def _run(self, job: Job, key: KeyRow | None) -> Outcome:
        if job.backend == APPLIANCE:
            return await self._appliance(job)
        if key is not None and job.kind in (UPDATE, REVOKE) and in_space(key):
            # Only a key Space holds is checked out; which of its rooms are someone else's
            # now is asked of the store here, where it is.
            job = dataclasses.replace(job, payload=job.payload | {
                "rooms_taken": self._rooms_taken(key)})
        checkpoint = no_checkpoint if key is None else functools.partial(self._checkpoint,
                                                                           key.id)
        return await self.backends[job.backend].run(job, key, checkpoint)

    def _rooms_taken(self, key: KeyRow) -> list[str]:
        """Rooms a newer live key of the same backend checked in since this one did."""
        since = key.external_ids.get("checked_in_ns", 0)
        taken: set[str] = set()
        for row in self.store.query("SELECT * FROM keys WHERE backend = ? AND id != ? AND "
                                    "state IN (?, ?)", key.backend, key.id, *lifecycle.LIVE):
            other = keyset.key_from_row(row)
            if other.external_ids.get("checked_in_ns", 0) > since:
                taken.update(other.plan.get("rooms", ()))
        return sorted(taken)

    def _checkpoint(self, key_id: str, ids: dict[str, Any]) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE keys SET external_ids = ?, updated_at = ? WHERE id = ?",
                       (dumps(ids), now_iso(), key_id))

    def succeeded(self, job: Job, key: KeyRow | None, outcome: Outcome) -> None:
        trigger = job.request_id or str(job.payload.get("trigger", "engine"))
        if job.kind == READ:
            self._read_back(job.backend, outcome)
        with self.store.transaction() as db:
            if key is not None:
                state = self._update_key(db, key, outcome)
                if job.kind in (ISSUE, UPDATE) and state not in lifecycle.LIVE:
                    # Revoked while this job ran: a PIN about to die is no news for the PMS.
                    outcome.events = []
            for action, external_id, detail in outcome.audit:
                audit(db, action, job.backend, trigger, key_id=job.key_id,
                      external_id=external_id, detail=detail,
                      booking_id=None if key is None else key.booking_id,
                      owner_key_id=None if key is None else key.owner_key_id)
            for kind, fields in outcome.events:
                event(self.store, db, self.root, kind, fields, job_event_id(job.id, kind))
            if job.kind in REPLIED_KINDS:
                self._final_reply(db, job, reply_body(job.request_id, job.kind, "ok",
                                                      outcome.data))
            job_done(db, job)

    def failed(self, job: Job, key: KeyRow | None, failure: BackendFailure) -> None:
        desk = job.kind in REPLIED_KINDS
        backend = self.backends.get(job.backend)
        repeatable = not failure.may_have_run or (backend is not None
                                                  and backend.idempotent(job.kind))
        retry = failure.retry and not desk and repeatable
        ctx = _ctx(job, key) | {"code": failure.code, "will_retry": retry}
        log.warning("%s failed: %s", job.kind, failure.message, extra={"ctx": ctx})
        with self.store.transaction() as db:
            integration(db, job.backend, "failure", failure.message, key_id=job.key_id,
                        detail={"job": job.kind, "code": failure.code, "attempt": job.attempts})
            if desk:
                self._final_reply(db, job, _error_reply(job, failure))
            # A retried failure is news once; its end is news again. A key revoked before
            # its card was cut has failed nothing: key_revoked said it all.
            if job.kind in KEY_FAILED_KINDS and (job.attempts == 1 or not retry) and (
                    failure.code != "no_key"):
                event(self.store, db, self.root, "key_failed",
                      _failure_fields(job, key, failure, retry),
                      job_event_id(job.id, "key_failed", job.attempts))
            if retry:
                job_retry(db, job, self.clock() + self._backoff_s(job.attempts), failure.message)
            else:
                job_failed(db, job, failure.message)

    def _backoff_s(self, attempts: int) -> float:
        """Exponential with full jitter, so a fleet of jobs does not retry in step."""
        ceiling = min(self.retry_max_s, self.retry_min_s * 2 ** min(attempts - 1, 30))
        return max(self.retry_min_s, self.rng.uniform(0, ceiling))

    def recover(self) -> int:
        """Settle jobs a previous run died holding; returns how many."""
        interrupted = jobs_interrupted(self.store)
        for job in interrupted:
            backend = self.backends.get(job.backend)
            repeatable = not job.started or backend is None or backend.idempotent(job.kind)
            if repeatable:
                with self.store.transaction() as db:
                    job_retry(db, job, self.clock(), "interrupted by a restart",
                              lifecycle.INTERRUPTED)
                continue
            key = keyset.load_key(self.store.db, job.key_id)
            self.failed(job, key, BackendFailure(
                "outcome_unknown", "keybridge restarted while %s was under way; it may or may "
                "not have happened" % job.kind, hint="read the card on the encoder to see "
                "whether it was encoded, then ask again if needed"))
        return len(interrupted)

    def _update_key(self, db: sqlite3.Connection, key: KeyRow, outcome: Outcome) -> str:
        """Record the outcome on the key; returns the state it now has."""
        current = keyset.load_key(db, key.id)  # not the copy read when the job began
        key = current or key
        state = key.state
        if outcome.key_event is not None:  # the table keeps a revoked key from coming back
            state = keyset.move(db, key.id, outcome.key_event)
        ids = key.external_ids if outcome.external_ids is None else outcome.external_ids
        db.execute("UPDATE keys SET external_ids = ?, updated_at = ? WHERE id = ?",
                   (dumps(ids), now_iso(), key.id))
        if outcome.secret is not None:
            db.execute("UPDATE keys SET secret = ? WHERE id = ?",
                       (self.store.encrypt(outcome.secret), key.id))
        return state

    def _final_reply(self, db: sqlite3.Connection, job: Job, reply: dict[str, Any]) -> None:
        route = job.payload.get("reply") or {
            "topic": "%s/reply/%s" % (self.root, job.kind), "properties": {}}
        if job.request_id is not None:
            inbox_set_reply(db, job.request_id, reply)
        outbox_add(self.store, db, route["topic"], reply, route["properties"])

    def _read_back(self, backend: str, outcome: Outcome) -> None:
        """Name the booking or owner key a card read at the desk belongs to: the newest key
        of that room, revoked ones too (a card handed back at check-out names its stay),
        one with the card's very end first."""
        room, until = outcome.data.get("room"), outcome.data.get("space_valid_until")
        found: dict[str, Any] = {"booking_id": None, "owner_key_id": None, "key_id": None}
        candidates = []
        for row in self.store.query("SELECT * FROM keys WHERE backend = ? ORDER BY "
                                    "updated_at DESC, created_at DESC", backend):
            key = keyset.key_from_row(row)
            rooms = key.plan.get("rooms") or key.external_ids.get("rooms", ())
            if room is not None and list(rooms)[:1] == [room] and in_space(key):
                candidates.append(key)
        exact = [key for key in candidates
                 if until and key.plan.get("space_valid_until", "") == until[:16]]
        if exact or candidates:
            key = (exact or candidates)[0]
            found |= holder_fields(key) | {"key_id": key.id}
        outcome.data.update(found)
        for _kind, fields in outcome.events:
            fields.update(found)

    async def _appliance(self, job: Job) -> Outcome:
        if job.kind == TEST:
            return await self._test_connection(job)
        if job.kind == RECONCILE:
            return await self.reconcile(bool(job.payload.get("repair")),
                                        job.request_id or "cmd")
        raise BackendFailure("internal_error", "no %s job for the appliance" % job.kind)

    async def _test_connection(self, job: Job) -> Outcome:
        wanted = job.payload.get("backend", "all")
        results: dict[str, Any] = {}
        for name, backend in self.backends.items():
            if wanted not in ("all", name.split(":")[0]):
                continue
            try:
                outcome = await backend.run(job, None)
                results[name] = {"ok": True, "detail": outcome.data}
            except BackendFailure as failure:
                results[name] = {"ok": False, "code": failure.code, "message": failure.message,
                                 "hint": failure.hint}
        if not results:
            raise BackendFailure("backend_not_configured", "no backend is configured")
        return Outcome(data={"backends": results,
                             "ok": all(result["ok"] for result in results.values())})

    async def reconcile(self, repair: bool, trigger: str) -> Outcome:
        """Compare the store with the bookings and with the backends; see reconcile.py."""
        summary = await reconcile(self.store, self.root, self.backends, repair, trigger)
        self.wake()
        return Outcome(data=summary)


def _failure_fields(job: Job, key: KeyRow | None, failure: BackendFailure,
                    retry: bool) -> dict[str, Any]:
    """key_failed: whose key, which operation, the (vendor) code and what to do about it."""
    family, _, administration = job.backend.partition(":")
    fields: dict[str, Any] = {"backend": family, "operation": job.kind}
    if key is not None:
        fields |= holder_fields(key) | {"key_id": key.id}
        kind = key.key_type or key.plan.get("key_type")
        if kind:  # only keys of backends with key types name theirs
            fields["key_type"] = kind
    if family == "space":
        fields["administration"] = administration or "main"
    if "encoder" in job.payload:
        fields["encoder"] = job.payload["encoder"]
    return fields | {"code": failure.code, "message": failure.message, "hint": failure.hint,
                     "will_retry": retry}


def _ctx(job: Job, key: KeyRow | None) -> dict[str, Any]:
    ctx: dict[str, Any] = {"job": job.id, "backend": job.backend}
    if job.request_id:
        ctx["request_id"] = job.request_id
    if key is not None:
        ctx.update(holder_fields(key), key_id=key.id)
    return ctx


def _error_reply(job: Job, failure: BackendFailure) -> dict[str, Any]:
    code = failure.code
    data: dict[str, Any] = {"hint": failure.hint}
    if code not in ("backend_unavailable", "backend_not_configured", "outcome_unknown",
                    "internal_error", "no_key"):
        data["vendor_code"] = code
        code = "backend_refused"
    return reply_body(job.request_id, job.kind, "error", data,
                      CommandError(code, failure.message))
