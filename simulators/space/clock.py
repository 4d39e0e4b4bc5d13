"""The simulated site's wall clock: set it, move it, stop it.

Validity windows (a key valid 14:00 today to 11:00 in three days) are tested
by moving this clock, never by waiting. Times are naive local wall time, as
Space keeps them (§4.1: no time zone on the wire).
"""

import datetime
import time
from collections.abc import Callable


class SimClock:
    """Local wall time that runs from a start point, or stands still.

    Args:
        start: the wall time now; the real local time if None.
        running: whether it advances with real time.
        monotonic: the real-time source (injected in tests).
    """

    def __init__(self, start: datetime.datetime | None = None, running: bool = True,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._base = start if start is not None else datetime.datetime.now().replace(
            second=0, microsecond=0)
        self._since = monotonic()
        self.running = running

    def now(self) -> datetime.datetime:
        if not self.running:
            return self._base
        return self._base + datetime.timedelta(seconds=self._monotonic() - self._since)

    def set(self, when: datetime.datetime) -> None:
        self._base = when
        self._since = self._monotonic()

    def advance(self, seconds: float) -> None:
        self.set(self.now() + datetime.timedelta(seconds=seconds))

    def freeze(self) -> None:
        self.set(self.now())
        self.running = False

    def resume(self) -> None:
        self.set(self.now())
        self.running = True
