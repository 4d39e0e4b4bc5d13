"""One worker per backend: take the next due job, run it, repeat; sleep until there is work.

A backend's jobs run one at a time (Space has one link with one request in flight anyway),
so a desk request waits its turn behind a check-out rather than interleaving with it. The
worker wakes when the engine commits new work, when a retry falls due, and every
``POLL_S`` in case another process (``keybridge reconcile``) wrote jobs.
"""

import time
from collections.abc import Callable

from appliance.engine.jobs import JobRunner
from appliance.store import Job
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
            job = await persist(self._claim, "taking the next job")
            if job is None:
                await self._idle()
                continue
            self.busy = True
            try:
                await self.runner.run_job(job)
            finally:
                self.busy = False

    async def _idle(self) -> None:
        await self._wakeup.wait(min(POLL_S, max(0.0, self._next_due() - self.clock())))

    def _claim(self) -> Job | None:
        with self.runner.store.transaction() as tx:
            return tx.jobs.claim(self.backend, self.clock(), self.lease_s)

    def _next_due(self) -> float:
        due = self.runner.store.read.jobs.next_due(self.backend)
        return self.clock() + POLL_S if due is None else due
