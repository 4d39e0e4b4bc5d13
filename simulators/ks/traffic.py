"""Per-request faults and what tests watch: counts, the request log, hung requests,
rate-limit violations.

The server asks this object, for every Connect request, whether to answer 429 or 500
and whether a hang rule catches it (the knobs decide; counters count down here). A hung
request blocks its handler thread until ``release()`` or ``stop()``; the connection is
then closed without a response — how a test kills the appliance between saga steps.
A request that arrives before an announced ``Retry-After`` has elapsed is recorded as a
violation. ``wait()`` lets a test (or ``POST /_sim/wait``) block until something happened
instead of polling.
"""

import collections
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from simulators.ks.knobs import Knobs

LOG_LENGTH = 1000


class Traffic:
    """Fault firing and observation for one server.

    Args:
        knobs: the cloud's knobs (read and, for counters, counted down).
        monotonic: the real-time source for Retry-After windows (injected in tests).
    """

    def __init__(self, knobs: Knobs, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.knobs = knobs
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self.stopped = False
        self._generation = 0
        self.reset()

    def reset(self) -> None:
        """Forget counts, log and violations; release every hung request."""
        with self._cond:
            self.counts: collections.Counter[str] = collections.Counter()
            self.log: collections.deque[dict[str, Any]] = collections.deque(maxlen=LOG_LENGTH)
            self.violations: list[dict[str, Any]] = []
            self.hung: list[dict[str, Any]] = []
            self._retry_until: float | None = None
            self._seeding: tuple[int, int] | None = None
            self._rng = random.Random()  # noqa: S311 - fault injection, not secrets
            self._generation += 1
            self._cond.notify_all()

    # -- per request ---------------------------------------------------------------------

    def arrive(self, key: str, method: str, path: str, connect: bool) -> None:
        """Count a request; a Connect request inside a Retry-After window is a violation."""
        with self._cond:
            self.counts[key] += 1
            now = self._monotonic()
            if connect and self._retry_until is not None and now < self._retry_until:
                self.violations.append({"request": key, "method": method, "path": path,
                                        "early_by_s": round(self._retry_until - now, 3)})
            self._cond.notify_all()

    def rate_limited(self) -> int | None:
        """The Retry-After seconds if this request is one of the knob's next N, else None."""
        with self._cond:
            limit = self.knobs.rate_limit
            if not limit or limit["count"] <= 0:
                return None
            limit["count"] -= 1
            retry_after: int = math.ceil(float(limit["retry_after_s"]))
            self._retry_until = self._monotonic() + retry_after
            return retry_after

    def failed_at_random(self) -> bool:
        """Whether ``error_rate`` picks this request for a 500 (seeded with ``seed``)."""
        with self._cond:
            if self.knobs.error_rate <= 0:
                return False
            seeding = (self.knobs.seed, self.knobs.seedings)
            if self._seeding != seeding:
                self._seeding = seeding
                self._rng = random.Random(self.knobs.seed)  # noqa: S311 - seeded faults
            return self._rng.random() < self.knobs.error_rate

    def hang_rule(self, method: str, path: str) -> dict[str, Any] | None:
        """The first hang rule that catches this request (its count goes down), or None."""
        with self._cond:
            for rule in self.knobs.hang:
                if rule["method"] in (None, method) and rule["path_contains"] in path:
                    rule["count"] -= 1
                    if rule["count"] <= 0:
                        self.knobs.hang = [r for r in self.knobs.hang if r is not rule]
                    return dict(rule)
            return None

    def hang(self, record: dict[str, Any]) -> None:
        """Block until ``release()``, ``reset()`` or ``stop()``."""
        with self._cond:
            generation = self._generation
            self.hung.append(record)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._generation != generation or self.stopped)
            if record in self.hung:
                self.hung.remove(record)
            self._cond.notify_all()

    def finished(self, entry: dict[str, Any]) -> None:
        with self._cond:
            self.log.append(entry)
            self._cond.notify_all()

    # -- control -------------------------------------------------------------------------

    def release(self) -> int:
        """Let every hung request go (their connections close unanswered); how many."""
        with self._cond:
            released = len(self.hung)
            self._generation += 1
            self._cond.notify_all()
            return released

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()

    def wait(self, hung: int | None = None, requests: Mapping[str, int] | None = None,
             timeout: float = 10.0) -> bool:
        """Block until at least ``hung`` requests hang and each ``requests`` count is
        reached; False on timeout."""
        def done() -> bool:
            return ((hung is None or len(self.hung) >= hung) and
                    all(self.counts[key] >= n for key, n in (requests or {}).items()))
        with self._cond:
            return self._cond.wait_for(done, timeout)

    def state(self) -> dict[str, Any]:
        with self._cond:
            return {"hung": len(self.hung), "hung_requests": list(self.hung),
                    "rate_limit_violations": list(self.violations),
                    "requests": dict(sorted(self.counts.items()))}

    def requests_log(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self.log)
