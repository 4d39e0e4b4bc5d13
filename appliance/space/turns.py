"""Whose turn it is on the Space link: a queued request and the rule that picks the next.

The link carries one request at a time (the protocol has no message ids, §3.1). The next is
the first queued one whose encoder is not cooling down after OV, desk requests before
background ones (the door-event poller's audit walk), so nobody at the desk waits for the
barrier's history.
"""

import asyncio
import dataclasses


@dataclasses.dataclass
class Job:
    message: object  # a protocol request, or client.PROBE
    encoder: bytes | None
    future: asyncio.Future[object]
    busy_retries: int
    reply_timeout_s: float | None = None
    not_before: float = 0.0  # loop time; after OV the encoder cools down
    sent: bool = False  # the frame (or ENQ) went out: Space may have acted on it
    background: bool = False  # only when no other request waits


def next_ready(queue: list[Job], now: float) -> Job | None:
    """The job to send at loop time ``now``, left in ``queue``; None if none may go yet."""
    cooling: set[bytes | None] = set()
    ready: list[Job] = []
    for job in queue:
        # After OV the encoder cools down: its later jobs wait too, so
        # cards come off it in the order they were asked for.
        if job.not_before > now or job.encoder in cooling:
            if job.encoder is not None:
                cooling.add(job.encoder)
            continue
        if not job.background:
            return job
        ready.append(job)
    return ready[0] if ready else None
