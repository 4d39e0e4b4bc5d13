"""One worker per backend: take the next due job, run it, repeat; sleep until there is work.

A backend's jobs run one at a time (Space has one link with one request in flight anyway),
so a desk request waits its turn behind a check-out rather than interleaving with it. The
worker wakes when the engine commits new work, when a retry falls due, and every
``POLL_S`` in case another process (``keybridge reconcile``) wrote jobs.
"""

import time
from collections.abc import Callable

from appliance.engine.jobs import JobRunner
from appliance.lifecycle import PENDING
from appliance.store.records import job_claim
from appliance.store.retry import persist
from appliance.wakeup import Wakeup

POLL_S = 5.0


class Worker:
    def __init__(self, runner: JobRunner, backend: str, lease_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.runner = runner
        self.backend = backend
        self.lease_s = lease_s
        self.clock = clock
        self.busy = False
        self._wakeup = Wakeup()

    def wake(self) -> None:
        self._wakeup.ring()

    def stop(self) -> None:
        """Finish the job in hand, then return from ``run``."""
        self._wakeup.stop()

    async def run(self) -> None:
        while not self._wakeup.stopping:
            self._wakeup.clear()  # before looking, so a commit meanwhile is not missed
            job = await persist(lambda: job_claim(self.runner.store, self.backend, self.clock(),
                                                  self.lease_s), "taking the next job")
            if job is None:
                await self._idle()
                continue
            self.busy = True
            try:
                await self.runner.execute(job)
            finally:
                self.busy = False

    async def _idle(self) -> None:
        await self._wakeup.wait(min(POLL_S, max(0.0, self._next_due() - self.clock())))

    def _next_due(self) -> float:
        row = self.runner.store.db.execute(
            "SELECT min(next_attempt_at) FROM jobs WHERE backend = ? AND state = ?",
            (self.backend, PENDING)).fetchone()
        return self.clock() + POLL_S if row[0] is None else float(row[0])
