"""The doorbell of a service loop (a backend's worker, the outbox publisher).

The loop clears it before it looks for work, so a ring meanwhile is not missed, and waits on
it with a timeout when there is none; whoever commits new work rings it; ``stop`` rings it
one last time and tells the loop to end after the turn in hand.
"""

import asyncio
import contextlib


class Wakeup:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.stopping = False

    def ring(self) -> None:
        self._event.set()

    def stop(self) -> None:
        self.stopping = True
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout_s: float) -> None:
        """Until rung, or ``timeout_s`` has passed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._event.wait()
