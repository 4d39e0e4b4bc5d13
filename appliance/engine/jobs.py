"""Jobs out, results in: the engine's work side.

``JobRunner.run_job`` runs one leased job on its backend and commits the outcome (key state,
audit rows, events, the desk's final reply) together with the job's end. A failure is retried
with backoff when that can help and the job converges a key; a desk request a person waits for
gets an error reply at once. After a crash, ``recover`` puts interrupted jobs back, except
those whose effect may have happened and must not be repeated blindly (a card cut twice is
two cards): those end with ``outcome_unknown`` and the backend's hint.

Every write goes through ``persist``: a store held by another writer delays a job's record,
it never ends the service.
"""

import functools
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from appliance import lifecycle
from appliance.engine import outcomes
from appliance.engine.backend import (
    DELIVER,
    ENCODE,
    ISSUE,
    MOBILE,
    UPDATE,
    Backend,
    BackendFailure,
    KeyRow,
    Outcome,
    no_checkpoint,
)
from appliance.engine.crossjobs import APPLIANCE, CrossJobs
from appliance.errors import StoreError
from appliance.lifecycle import LifecycleError
from appliance.store import Job, Store
from appliance.store.retry import persist

log = logging.getLogger("keybridge.jobs")


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
        self.record = outcomes.Recorder(store, root, backends)

    async def run_job(self, job: Job) -> None:
        key = self.store.read.keys.get(job.key_id)
        ctx = outcomes.ctx(job, key)
        if job.kind in (ISSUE, UPDATE, DELIVER) and (key is None
                                                     or key.state not in lifecycle.LIVE):
            log.info("%s skipped: the key was revoked meanwhile", job.kind, extra={"ctx": ctx})
            await persist(functools.partial(self._skip, job), "recording a skipped job",
                          self.store.health)
            return
        if job.kind in (ENCODE, MOBILE) and (key is None or key.state not in lifecycle.LIVE):
            # delete_keys or a check-out arrived after this request was accepted.
            await self._failed(job, key, BackendFailure(
                "no_key", "the key was revoked before the card could be made",
                hint="the booking was checked out or its keys deleted; confirm it again"))
            return
        log.info("%s started (attempt %d)", job.kind, job.attempts, extra={"ctx": ctx})
        try:
            outcome = await self._run(job, key)
        except BackendFailure as failure:
            await self._failed(job, key, failure)
        except StoreError as err:  # a checkpoint could not be written: try again later
            await self._failed(job, key, BackendFailure(
                "store_busy", "the store refused a checkpoint: %s" % err, retry=True))
        except Exception as err:
            log.exception("%s crashed", job.kind, extra={"ctx": ctx})
            await self._failed(job, key, BackendFailure(
                "internal_error", "%s: %s" % (type(err).__name__, err), retry=True))
        else:
            await self._succeeded(job, key, outcome, ctx)
        self.wake()

    async def _succeeded(self, job: Job, key: KeyRow | None, outcome: Outcome,
                         ctx: dict[str, Any]) -> None:
        try:
            # The effect happened: its record must land, however long the store is busy.
            await persist(functools.partial(self.record.succeeded, job, key, outcome),
                          "recording a result", self.store.health)
        except LifecycleError as err:
            # A backend reported what cannot follow the key's state: a bug, recorded as the
            # job's failure (repeating it would report the same), never the service's end.
            log.error("%s reported an impossible outcome: %s", job.kind, err,
                      extra={"ctx": ctx})
            await self._failed(job, key, BackendFailure("internal_error", str(err)))
            return
        log.info("%s done", job.kind, extra={"ctx": ctx})

    async def _run(self, job: Job, key: KeyRow | None) -> Outcome:
        if job.backend == APPLIANCE:
            return await self.cross.run(job)
        backend = self.backends[job.backend]
        job = backend.prepare(job, key, self.store.read)
        checkpoint = no_checkpoint if key is None else functools.partial(self._checkpoint,
                                                                           key.id)
        outcome = await backend.run(job, key, checkpoint)
        backend.describe(job, outcome, self.store.read)
        return outcome

    def _skip(self, job: Job) -> None:
        with self.store.transaction() as tx:
            tx.jobs.done(job, lifecycle.SKIPPED)

    def _checkpoint(self, key_id: str, ids: dict[str, Any]) -> None:
        with self.store.transaction() as tx:
            tx.keys.set_ids(key_id, ids)

    async def _failed(self, job: Job, key: KeyRow | None, failure: BackendFailure) -> None:
        await persist(functools.partial(self.failed, job, key, failure), "recording a failure",
                      self.store.health)

    def failed(self, job: Job, key: KeyRow | None, failure: BackendFailure) -> None:
        desk = job.kind in outcomes.REPLIED_KINDS
        backend = self.backends.get(job.backend)
        repeatable = not failure.may_have_run or (backend is not None
                                                  and backend.idempotent(job.kind))
        retry = failure.retry and not desk and repeatable
        ctx = outcomes.ctx(job, key) | {"code": failure.code, "will_retry": retry}
        log.warning("%s failed: %s", job.kind, failure.message, extra={"ctx": ctx})
        at = self.clock() + self._backoff_s(job.attempts) if retry else None
        self.record.failed(job, key, failure, at)

    def _backoff_s(self, attempts: int) -> float:
        """Exponential with full jitter, so a fleet of jobs does not retry in step."""
        ceiling = min(self.retry_max_s, self.retry_min_s * 2 ** min(attempts - 1, 30))
        return max(self.retry_min_s, self.rng.uniform(0, ceiling))

    async def recover(self) -> int:
        """Settle jobs a previous run died holding; returns how many."""
        interrupted = await persist(self.store.read.jobs.interrupted, "reading stopped jobs",
                                  self.store.health)
        for job in interrupted:
            await persist(functools.partial(self._recover, job), "settling a stopped job",
                          self.store.health)
        await persist(self._bound_waits, "bounding waiting jobs", self.store.health)
        return len(interrupted)

    def _bound_waits(self) -> None:
        """No retry waits longer than ``retry_max_s``: one due later was scheduled by a clock
        that has since been stepped back while keybridge was stopped (a Pi's clock before NTP
        set it at boot). A delivery's first attempt keeps its date."""
        with self.store.transaction() as tx:
            moved = tx.jobs.bound(self.clock(), self.clock() + self.retry_max_s, DELIVER)
        if moved:
            log.warning("%d waiting job(s) were due more than %.0f s from now (the clock was "
                        "stepped back while keybridge was stopped); they run now", moved,
                        self.retry_max_s)

    def _recover(self, job: Job) -> None:
        backend = self.backends.get(job.backend)
        if not job.started or backend is None or backend.idempotent(job.kind):
            with self.store.transaction() as tx:
                tx.jobs.retry(job, self.clock(), "interrupted by a restart",
                              lifecycle.INTERRUPTED)
            return
        self.failed(job, self.store.read.keys.get(job.key_id), BackendFailure(
            "outcome_unknown", "keybridge restarted while %s was under way; it may or may "
            "not have happened" % job.kind, hint=backend.outcome_unknown_hint(job.kind)))

    async def reconcile(self, repair: bool, trigger: str) -> Outcome:
        """Compare the store with the bookings and with the backends; see reconcile.py."""
        return await self.cross.reconcile(repair, trigger)
