"""One worker per backend: take the next due job, run it, repeat; sleep until there is work.

A backend runs ``concurrency`` jobs at once: one for Space (one link with one request in
flight anyway, so a desk request waits its turn behind a check-out rather than interleaving
with it), a handful for KS, where each job mostly waits for the cloud. Never two jobs of one
key at once: the claim skips a key whose job runs, so a key's jobs keep their order. The
worker wakes when the engine commits new work, when a job ends, when a retry falls due, and
every ``POLL_S`` in case another process (``keybridge reconcile``) wrote jobs.
"""

import asyncio
import time
from collections.abc import Callable

from appliance.engine.jobs import JobRunner
from appliance.store import Job
from appliance.store.retry import persist
from appliance.wakeup import Wakeup

POLL_S = 5.0


class Worker:
    def __init__(self, runner: JobRunner, backend: str, lease_s: float, concurrency: int = 1,
                 clock: Callable[[], float] = time.time) -> None:
        self.runner = runner
        self.backend = backend
        self.lease_s = lease_s
        self.concurrency = concurrency
        self.clock = clock
        self.running: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None  # a job's crash ends the worker, as before
        self._wakeup = Wakeup()

    def wake(self) -> None:
        self._wakeup.ring()

    def stop(self) -> None:
        """Finish the jobs in hand, then return from ``run``."""
        self._wakeup.stop()

    async def run(self) -> None:
        try:
            while not self._wakeup.stopping:
                self._wakeup.clear()  # before looking, so a commit meanwhile is not missed
                if self._failure is not None:
                    raise self._failure
                while len(self.running) < self.concurrency and not self._wakeup.stopping:
                    job = await persist(self._claim, "taking the next job",
                                        self.runner.store.health)
                    if job is None:
                        break
                    self._start(job)
                if not self._wakeup.stopping:
                    await self._idle()
            if self.running:
                await asyncio.wait(self.running)
        finally:
            for task in self.running:  # cancelled: the jobs' tasks go with the worker
                task.cancel()

    def _start(self, job: Job) -> None:
        task = asyncio.get_running_loop().create_task(self.runner.run_job(job))
        self.running.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        self._wakeup.ring()  # a free slot, and the key's next job may run now
        if not task.cancelled() and task.exception() is not None:
            self._failure = task.exception()

    async def _idle(self) -> None:
        if len(self.running) >= self.concurrency:
            await self._wakeup.wait(POLL_S)
            return
        await self._wakeup.wait(min(POLL_S, max(0.0, self._next_due() - self.clock())))

    def _claim(self) -> Job | None:
        due = self.runner.store.read.jobs.next_due(self.backend)
        if due is None or due > self.clock():
            return None  # no write transaction (and its lock) just to find nothing
        with self.runner.store.transaction() as tx:
            return tx.jobs.claim(self.backend, self.clock(), self.lease_s)

    def _next_due(self) -> float:
        due = self.runner.store.read.jobs.next_due(self.backend)
        return self.clock() + POLL_S if due is None else due
