"""Retention: what the store forgets after ``[store] retention_days``, so it stays bounded on
a Pi's SD card.

Forgotten, each by its own repository, once the cut-off has passed:

- finished jobs (``done``, ``failed``), by their last change;
- inbox rows, by when the command came: until then a repeated request_id gets the stored
  reply, after it the command is carried out again (a booking's stored revision makes an
  old one a stale no-op); a row whose desk job still waits stays;
- revoked keys no job names any more, by their last change, with their secret.

Kept: the audit log (append-only by trigger) and the integration log, the bookings (their
revision is what turns a stale booking into a no-op: forgetting it would let a very old
revision, repeated, issue keys again), the owner keys (a few per site; their deletion time is
not stored), ``meta``. The published outbox has its own shorter prune (``Outbox.prune``).

A pass is a series of short transactions of at most ``BATCH`` rows of one table, each
retried by ``persist`` and with the event loop free in between, so the running service is
never held up.
"""

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import Callable

from appliance.store.db import Store
from appliance.store.retry import persist
from appliance.store.tx import Tx

log = logging.getLogger("keybridge.store")
BATCH = 500
"""Rows per transaction: a few milliseconds of the writer at a time."""
Step = Callable[[Tx, str, int], int]
STEPS: dict[str, Step] = {  # jobs first: a revoked key goes with its last job
    "jobs": lambda tx, before, limit: tx.jobs.prune(before, limit),
    "keys": lambda tx, before, limit: tx.keys.prune(before, limit),
    "inbox": lambda tx, before, limit: tx.inbox.prune(before, limit),
}


@dataclasses.dataclass(frozen=True)
class Pruned:
    """How many rows of each table a pass forgot."""

    jobs: int = 0
    keys: int = 0
    inbox: int = 0

    def total(self) -> int:
        return self.jobs + self.keys + self.inbox


def cutoff(days: int, now: datetime.datetime | None = None) -> str:
    """The instant ``days`` before ``now``, as the store's timestamps are written (UTC)."""
    now = now or datetime.datetime.now(datetime.UTC)
    return (now.astimezone(datetime.UTC) - datetime.timedelta(days=days)).isoformat(
        timespec="seconds")


async def prune(store: Store, days: int, *, now: datetime.datetime | None = None,
                limit: int = BATCH) -> Pruned:
    """Forget what is older than ``days`` (see the module), table by table, batch by batch."""
    before = cutoff(days, now)
    pruned = Pruned(**{table: await _table(store, step, before, limit)
                       for table, step in STEPS.items()})
    if pruned.total():
        log.info("pruned past retention", extra={"ctx": dataclasses.asdict(pruned) | {
            "retention_days": days}})
    return pruned


async def _table(store: Store, step: Step, before: str, limit: int) -> int:
    count = 0
    while True:
        batch = await persist(lambda: _batch(store, step, before, limit), "pruning the store",
                              store.health)
        count += batch
        if batch < limit:
            return count
        await asyncio.sleep(0)  # commands and workers go between two batches


def _batch(store: Store, step: Step, before: str, limit: int) -> int:
    with store.transaction() as tx:
        return step(tx, before, limit)
