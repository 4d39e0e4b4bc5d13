"""Riding out a busy or failing store instead of letting the service die.

Another writer (``keybridge rotate-key``, a technician's sqlite3 shell) may hold the database
longer than the busy timeout; the disk may fill up or be remounted read-only. The loops of the
service then wait and try again, keeping what they hold (an unacknowledged command, a finished
job's outcome), rather than ending the TaskGroup and with it the service.

``StoreHealth`` is the one record of whether the store takes writes: each loop reports its
failures and its recovery under what it was doing, the store counts as unavailable while any
of them still fails, and the journal hears of it once a minute, not once a try.
"""

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from appliance.errors import StoreError
from appliance.store.clock import now_iso

T = TypeVar("T")
log = logging.getLogger("keybridge.store")
FIRST_WAIT_S = 0.5
LONGEST_WAIT_S = 30.0
JOURNAL_EVERY_S = 60.0
REFUSALS = (StoreError, sqlite3.OperationalError)
"""What a store that cannot write raises: locked past the busy timeout, disk full, read-only."""


class StoreHealth:
    """Whether the store at ``path`` takes writes, from what the service's loops saw."""

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.clock = clock
        self.on_change: Callable[[], None] = lambda: None  # the service republishes status
        self.failing: dict[str, str] = {}  # what was being done -> the store's last error
        self.since = ""  # wall time of the first refusal, for status
        self._since_s = 0.0
        self._journalled_s = 0.0
        self._tries = 0

    def failed(self, what: str, err: BaseException) -> None:
        first = not self.failing
        self.failing[what] = str(err)
        self._tries += 1
        now = self.clock()
        if first:
            self.since, self._since_s, self._journalled_s, self._tries = now_iso(), now, now, 1
            log.error("the store %s refuses writes (%s: %s); commands are answered "
                      "store_unavailable and kept until it takes them again: check free space "
                      "(df) and that the file and its directory are writable by the service",
                      self.path, what, err)
            self.on_change()
        elif now - self._journalled_s >= JOURNAL_EVERY_S:
            self._journalled_s = now
            log.error("the store %s still refuses writes after %.0f s (%d tries): %s",
                      self.path, now - self._since_s, self._tries, err)

    def recovered(self, what: str) -> None:
        if self.failing.pop(what, None) is not None and not self.failing:
            log.warning("the store %s takes writes again after %.0f s; the kept work goes on",
                        self.path, self.clock() - self._since_s)
            self.on_change()

    def attempt(self, what: str, action: Callable[[], object]) -> bool:
        """``action()`` once, its refusal or its success recorded under ``what``; True if
        the store took it. For loops that do something else between tries."""
        try:
            action()
        except REFUSALS as err:
            self.failed(what, err)
            return False
        self.recovered(what)
        return True

    def view(self) -> dict[str, Any]:
        """The store's part of the status."""
        if not self.failing:
            return {"writable": True}
        return {"writable": False, "since": self.since,
                "last_error": next(reversed(self.failing.values()))}


async def persist(action: Callable[[], T], what: str, health: StoreHealth) -> T:
    """``action()``, retried with backoff for as long as the store refuses it."""
    wait = FIRST_WAIT_S
    while True:
        try:
            result = action()
        except REFUSALS as err:
            health.failed(what, err)
        else:
            health.recovered(what)
            return result
        await asyncio.sleep(wait)
        wait = min(LONGEST_WAIT_S, wait * 2)
