"""The simulated "now" of the cloud and its locks: real time, shifted, or frozen.

Stays, check-in and check-out windows are tested by moving this clock, never by waiting:
guest expiry, time-schedule windows, propagation delays, the consistency window and the
entries' timestamps all read it. Access tokens do *not*: they are judged by real wall time
(``identity.py``), so moving the clock days ahead for a stay never expires a token.

Times are aware UTC datetimes; site-local wall time is derived where needed.
"""

import datetime
import time
from collections.abc import Callable
from typing import Any

UTC = datetime.UTC


def parse_instant(text: str, naive_zone: datetime.tzinfo = UTC) -> datetime.datetime:
    """An ISO-8601 instant; a value without offset is taken in ``naive_zone``.

    Raises:
        ValueError: not an ISO-8601 date-time.
    """
    value = datetime.datetime.fromisoformat(text.strip().replace("z", "Z"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=naive_zone)
    return value.astimezone(UTC)


def iso_utc(value: datetime.datetime) -> str:
    """``2026-11-21T10:00:00Z``: whole seconds, as the API writes instants."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimClock:
    """Real UTC time plus an offset, or a fixed instant.

    Args:
        wall: the real-time source in seconds since the epoch (injected in tests).
    """

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._offset_s = 0.0
        self._frozen_at: datetime.datetime | None = None

    def _real(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._wall(), UTC)

    def now(self) -> datetime.datetime:
        if self._frozen_at is not None:
            return self._frozen_at
        return self._real() + datetime.timedelta(seconds=self._offset_s)

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def set(self, when: datetime.datetime, frozen: bool | None = None) -> None:
        """Make it ``when`` now; it keeps running unless frozen (now or before)."""
        stay_frozen = self.frozen if frozen is None else frozen
        if stay_frozen:
            self._frozen_at = when.astimezone(UTC)
        else:
            self._frozen_at = None
            self._offset_s = (when - self._real()).total_seconds()

    def advance(self, seconds: float) -> None:
        self.set(self.now() + datetime.timedelta(seconds=seconds))

    def real(self) -> None:
        """Back to the real time, running."""
        self._frozen_at = None
        self._offset_s = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"now": iso_utc(self.now()), "frozen": self.frozen,
                "offset_s": None if self.frozen else round(self._offset_s, 3)}
