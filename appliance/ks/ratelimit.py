"""A token bucket in front of every KS API request.

Why: at peak (arrival day on a large campsite) the appliance issues several
hundred PINs an hour, each a handful of requests, plus the nightly
reconciliation that pages every guest. KS documents no rate limit and no
client has seen a 429 (salto-ks-connect.md §4.3), so we cannot know where the
wall is; the safe stance is to space requests out (``rate_per_hour``) while
allowing a short burst (``burst``) for one booking's saga, and to honour a 429
at once: ``pause(retry_after_s)`` holds every caller back, not just the one
that was refused.

Waiting is computed, not polled: a caller that finds the bucket empty sleeps
exactly until its token is due, then takes it. Callers are served in arrival
order (an ``asyncio.Lock`` is FIFO), so a reconciliation walk cannot starve a
guest at the desk for longer than the queue ahead of it. Clock and sleep are
injected so tests run without waiting.
"""

import asyncio
import datetime
import email.utils
import math
import time
from collections.abc import Awaitable, Callable

# A Retry-After longer than this is taken as this: a typo at KS must not stop us for days.
MAX_RETRY_AFTER_S = 3600.0


class TokenBucket:
    """``burst`` tokens, refilled at ``rate_per_hour``; one per request.

    Args:
        rate_per_hour: sustained requests per hour (> 0).
        burst: tokens available at once (>= 1); the bucket starts full.
        clock: monotonic seconds.
        sleep: awaited with the seconds to wait.
    """

    def __init__(self, rate_per_hour: float, burst: int,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        if not rate_per_hour > 0 or burst < 1:
            raise ValueError("a token bucket needs rate_per_hour > 0 and burst >= 1")
        self.rate_per_s = rate_per_hour / 3600.0
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._paused_until = -math.inf
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait for a token, then take it; callers are served first come, first served."""
        async with self._lock:
            while (wait_s := self.waiting_s()) > 0:
                await self._sleep(wait_s)
            self._tokens -= 1.0

    def pause(self, seconds: float) -> None:
        """Nobody gets a token before now + ``seconds`` (a 429's Retry-After).

        When the pause ends one request may go (to see whether KS is back),
        the rest follow at the sustained rate: no burst into a server that
        has just said it is overloaded.
        """
        until = self._clock() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            self._tokens = 1.0
            self._updated = until

    def waiting_s(self) -> float:
        """Seconds until the next token is due (0.0: one is there now)."""
        now = self._clock()
        self._refill(now)
        deficit_s = (1.0 - self._tokens) / self.rate_per_s if self._tokens < 1.0 else 0.0
        return max(0.0, self._paused_until - now, deficit_s)

    @property
    def paused(self) -> bool:
        return self._clock() < self._paused_until

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(float(self.burst),
                               self._tokens + (now - self._updated) * self.rate_per_s)
            self._updated = now


def retry_after_s(value: str | None, default: float = 1.0) -> float:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), at most an hour.

    ``default`` when the header is absent or unreadable.
    """
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = _until_http_date(value, default)
    if not math.isfinite(seconds):
        return default
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))


def _until_http_date(value: str, default: float) -> float:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return (when - datetime.datetime.now(datetime.UTC)).total_seconds()
