"""Jobs out, results in: the engine's work side.

``JobRunner.run_job`` runs one leased job on its backend and commits the outcome (key state,
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
import time
from collections.abc import Callable, Mapping
from typing import Any

from appliance import lifecycle
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
    no_checkpoint,
)
from appliance.engine.engine import APPLIANCE, reply_body
from appliance.engine.reconcile import reconcile
from appliance.errors import CommandError
from appliance.space.cards import in_space
from appliance.store import Job, Route, Store, Tx, job_event_id
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
        self.cross = CrossJobs(store, root, backends, wake)
        self.record = Recorder(store, root, backends)

    async def run_job(self, job: Job) -> None:
        key = self.store.read.keys.get(job.key_id)
        ctx = _ctx(job, key)
        if job.kind in (ISSUE, UPDATE, DELIVER) and (key is None
                                                     or key.state not in lifecycle.LIVE):
            log.info("%s skipped: the key was revoked meanwhile", job.kind, extra={"ctx": ctx})
            self._skip(job)
            return
        if job.kind in (ENCODE, MOBILE) and (key is None or key.state not in lifecycle.LIVE):
            # delete_keys or a check-out arrived after this request was accepted.
            self.failed(job, key, BackendFailure(
                "no_key", "the key was revoked before the card could be made",
                hint="the booking was checked out or its keys deleted; confirm it again"))
            return
        log.info("%s started (attempt %d)", job.kind, job.attempts, extra={"ctx": ctx})
        self._started(job)
        try:
            outcome = await self._run(job, key)
        except BackendFailure as failure:
            await self._failed(job, key, failure)
        except Exception as err:
            log.exception("%s crashed", job.kind, extra={"ctx": ctx})
            await self._failed(job, key, BackendFailure(
                "internal_error", "%s: %s" % (type(err).__name__, err), retry=True))
        else:
            # The effect happened: its record must land, however long the store is busy.
            await persist(functools.partial(self.record.succeeded, job, key, outcome),
                          "recording a result")
            log.info("%s done", job.kind, extra={"ctx": ctx})
        self.wake()

    async def _run(self, job: Job, key: KeyRow | None) -> Outcome:
        if job.backend == APPLIANCE:
            return await self.cross.run(job)
        if key is not None and job.kind in (UPDATE, REVOKE) and in_space(key):
            # Only a key Space holds is checked out; which of its rooms are someone else's
            # now is asked of the store here, where it is.
            job = dataclasses.replace(job, payload=job.payload | {
                "rooms_taken": self._rooms_taken(key)})
        checkpoint = no_checkpoint if key is None else functools.partial(self._checkpoint,
                                                                           key.id)
        outcome = await self.backends[job.backend].run(job, key, checkpoint)
        if job.kind == READ:
            self._read_back(job.backend, outcome)
        return outcome

    def _rooms_taken(self, key: KeyRow) -> list[str]:
        """Rooms a newer live key of the same backend checked in since this one did."""
        since = key.external_ids.get("checked_in_ns", 0)
        taken: set[str] = set()
        for other in self.store.read.keys.live(key.backend):
            if other.id != key.id and other.external_ids.get("checked_in_ns", 0) > since:
                taken.update(other.plan.get("rooms", ()))
        return sorted(taken)

    def _read_back(self, backend: str, outcome: Outcome) -> None:
        """Name the booking or owner key a card read at the desk belongs to: the newest key
        of that room, revoked ones too (a card handed back at check-out names its stay),
        one with the card's very end first."""
        room, until = outcome.data.get("room"), outcome.data.get("space_valid_until")
        found: dict[str, Any] = {"booking_id": None, "owner_key_id": None, "key_id": None}
        candidates = []
        for key in self.store.read.keys.of_backend(backend, newest_first=True):
            rooms = key.plan.get("rooms") or key.external_ids.get("rooms", ())
            if room is not None and list(rooms)[:1] == [room] and in_space(key):
                candidates.append(key)
        exact = [key for key in candidates
                 if until and key.plan.get("space_valid_until", "") == until[:16]]
        if exact or candidates:
            key = (exact or candidates)[0]
            found |= key.holder() | {"key_id": key.id}
        outcome.data.update(found)
        for _kind, fields in outcome.events:
            fields.update(found)

    def _skip(self, job: Job) -> None:
        with self.store.transaction() as tx:
            tx.jobs.done(job, lifecycle.SKIPPED)

    def _started(self, job: Job) -> None:
        """Committed before the external call: after a crash it may have happened."""
        with self.store.transaction() as tx:
            tx.jobs.started(job)

    def _checkpoint(self, key_id: str, ids: dict[str, Any]) -> None:
        with self.store.transaction() as tx:
            tx.keys.set_ids(key_id, ids)

    async def _failed(self, job: Job, key: KeyRow | None, failure: BackendFailure) -> None:
        await persist(functools.partial(self.failed, job, key, failure), "recording a failure")

    def failed(self, job: Job, key: KeyRow | None, failure: BackendFailure) -> None:
        desk = job.kind in REPLIED_KINDS
        backend = self.backends.get(job.backend)
        repeatable = not failure.may_have_run or (backend is not None
                                                  and backend.idempotent(job.kind))
        retry = failure.retry and not desk and repeatable
        ctx = _ctx(job, key) | {"code": failure.code, "will_retry": retry}
        log.warning("%s failed: %s", job.kind, failure.message, extra={"ctx": ctx})
        at = self.clock() + self._backoff_s(job.attempts) if retry else None
        self.record.failed(job, key, failure, at)

    def _backoff_s(self, attempts: int) -> float:
        """Exponential with full jitter, so a fleet of jobs does not retry in step."""
        ceiling = min(self.retry_max_s, self.retry_min_s * 2 ** min(attempts - 1, 30))
        return max(self.retry_min_s, self.rng.uniform(0, ceiling))

    def recover(self) -> int:
        """Settle jobs a previous run died holding; returns how many."""
        interrupted = self.store.read.jobs.interrupted()
        for job in interrupted:
            self._recover(job)
        return len(interrupted)

    def _recover(self, job: Job) -> None:
        backend = self.backends.get(job.backend)
        if not job.started or backend is None or backend.idempotent(job.kind):
            with self.store.transaction() as tx:
                tx.jobs.retry(job, self.clock(), "interrupted by a restart",
                              lifecycle.INTERRUPTED)
            return
        self.failed(job, self.store.read.keys.get(job.key_id), BackendFailure(
            "outcome_unknown", "keybridge restarted while %s was under way; it may or may "
            "not have happened" % job.kind, hint="read the card on the encoder to see "
            "whether it was encoded, then ask again if needed"))

    async def reconcile(self, repair: bool, trigger: str) -> Outcome:
        """Compare the store with the bookings and with the backends; see reconcile.py."""
        return await self.cross.reconcile(repair, trigger)


class Recorder:
    def __init__(self, store: Store, root: str, backends: Mapping[str, Backend]) -> None:
        self.store = store
        self.root = root
        self.backends = backends

    def succeeded(self, job: Job, key: KeyRow | None, outcome: Outcome) -> None:
        trigger = job.request_id or str(job.payload.get("trigger", "engine"))
        with self.store.transaction() as tx:
            events = outcome.events
            if key is not None:
                state = _update_key(tx, key, outcome)
                if job.kind in (ISSUE, UPDATE) and state not in lifecycle.LIVE:
                    # Revoked while this job ran: a PIN about to die is no news for the PMS.
                    events = []
            for action, external_id, detail in outcome.audit:
                tx.audit.add(action, job.backend, trigger, key_id=job.key_id,
                             external_id=external_id, detail=detail,
                             booking_id=None if key is None else key.booking_id,
                             owner_key_id=None if key is None else key.owner_key_id)
            for kind, fields in events:
                tx.outbox.event(self.root, kind, fields, job_event_id(job.id, kind))
            if job.kind in REPLIED_KINDS:
                self._final_reply(tx, job, reply_body(job.request_id, job.kind, "ok",
                                                      outcome.data))
            tx.jobs.done(job)

    def failed(self, job: Job, key: KeyRow | None, failure: BackendFailure,
               retry_at: float | None) -> None:
        """Record ``failure``; ``retry_at``: when to try again, None to give up."""
        retry = retry_at is not None
        with self.store.transaction() as tx:
            tx.integration.add(job.backend, "failure", failure.message, key_id=job.key_id,
                               detail={"job": job.kind, "code": failure.code,
                                       "attempt": job.attempts})
            if job.kind in REPLIED_KINDS:
                self._final_reply(tx, job, _error_reply(job, failure))
            # A retried failure is news once; its end is news again. A key revoked before
            # its card was cut has failed nothing: key_revoked said it all.
            if job.kind in KEY_FAILED_KINDS and (job.attempts == 1 or not retry) and (
                    failure.code != "no_key"):
                tx.outbox.event(self.root, "key_failed",
                                self._failure_fields(job, key, failure, retry),
                                job_event_id(job.id, "key_failed", job.attempts))
            if retry_at is not None:
                tx.jobs.retry(job, retry_at, failure.message)
            else:
                tx.jobs.failed(job, failure.message)

    def _final_reply(self, tx: Tx, job: Job, reply: dict[str, Any]) -> None:
        route = job.payload.get("reply") or {
            "topic": "%s/reply/%s" % (self.root, job.kind), "properties": {}}
        if job.request_id is not None:
            tx.inbox.set_reply(job.request_id, reply)
        tx.outbox.add(Route(route["topic"], route["properties"]), reply)

    def _failure_fields(self, job: Job, key: KeyRow | None, failure: BackendFailure,
                        retry: bool) -> dict[str, Any]:
        """key_failed: whose key, which operation, the (vendor) code and what to do."""
        family, _, administration = job.backend.partition(":")
        fields: dict[str, Any] = {"backend": family, "operation": job.kind}
        if key is not None:
            fields |= key.holder() | {"key_id": key.id}
            kind = key.key_type or key.plan.get("key_type")
            if kind:  # only keys of backends with key types name theirs
                fields["key_type"] = kind
        if family == "space":
            fields["administration"] = administration or "main"
        if "encoder" in job.payload:
            fields["encoder"] = job.payload["encoder"]
        return fields | {"code": failure.code, "message": failure.message,
                         "hint": failure.hint, "will_retry": retry}


def _update_key(tx: Tx, key: KeyRow, outcome: Outcome) -> str:
    """Record the outcome on the key; returns the state it now has."""
    current = tx.keys.get(key.id) or key
    state = current.state
    if outcome.key_event is not None:
        state = tx.keys.move(key.id, outcome.key_event)
    # Written even when unchanged: updated_at says which key of a room is the newest.
    tx.keys.set_ids(key.id, current.external_ids if outcome.external_ids is None
                    else outcome.external_ids)
    if outcome.secret is not None:
        tx.keys.set_secret(key.id, outcome.secret)
    return state


def _ctx(job: Job, key: KeyRow | None) -> dict[str, Any]:
    """The journal's context for a job's lines."""
    found: dict[str, Any] = {"job": job.id, "backend": job.backend}
    if job.request_id:
        found["request_id"] = job.request_id
    if key is not None:
        found.update(key.holder(), key_id=key.id)
    return found


def _error_reply(job: Job, failure: BackendFailure) -> dict[str, Any]:
    code = failure.code
    data: dict[str, Any] = {"hint": failure.hint}
    if code not in ("backend_unavailable", "backend_not_configured", "outcome_unknown",
                    "internal_error", "no_key"):
        data["vendor_code"] = code
        code = "backend_refused"
    return reply_body(job.request_id, job.kind, "error", data,
                      CommandError(code, failure.message))


class CrossJobs:
    def __init__(self, store: Store, root: str, backends: Mapping[str, Backend],
                 wake: Callable[[], None]) -> None:
        self.store = store
        self.root = root
        self.backends = backends
        self.wake = wake

    async def run(self, job: Job) -> Outcome:
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
