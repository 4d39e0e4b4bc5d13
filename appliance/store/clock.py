"""The store's timestamps, and noticing when the wall clock is stepped.

Rows and events carry UTC ISO 8601 to the second. A Pi has no real-time clock: NTP may step
its wall clock by an hour or more in the middle of a day. Waiting is measured on the
monotonic clock everywhere in the service; what the store keeps as a wall time (a job's next
attempt) is a wall time so that it survives a restart. ``ClockWatch`` sees a step by the
change in the distance between the two clocks, so the jobs can be moved with it.
"""

import datetime
import time
from collections.abc import Callable

STEP_S = 30.0
"""A change of the wall clock against the monotonic one that counts as a step (NTP slews
smaller errors gradually, at most 0.5 ms a second)."""


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class ClockWatch:
    def __init__(self, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.wall = wall
        self.monotonic = monotonic
        self._offset = wall() - monotonic()

    def step(self) -> float:
        """Seconds the wall clock jumped since the last look (0.0: none worth noticing)."""
        offset = self.wall() - self.monotonic()
        jumped, self._offset = offset - self._offset, offset
        return jumped if abs(jumped) >= STEP_S else 0.0
