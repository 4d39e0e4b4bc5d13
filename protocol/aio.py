"""A thin asyncio shim over CPython asyncio and MicroPython asyncio.

This module and ``driver.py`` are the only ones in ``protocol/`` that touch
I/O or a clock; the sans-IO core never imports them (a test checks).

Provides: sleep_ms, ticks_ms, wait_for_ms, create_task, Event, Lock,
open_connection, TimeoutError, CancelledError.

``ticks_ms`` never wraps: MicroPython's ``time.ticks_ms`` does, so the shim
accumulates ``ticks_diff`` steps into a plain int. Call it at least once per
wrap period (days on every port), which any running link does.
"""

import asyncio
import sys
import time

MICROPYTHON = sys.implementation.name == "micropython"

create_task = asyncio.create_task
Event = asyncio.Event
Lock = asyncio.Lock
TimeoutError = asyncio.TimeoutError
CancelledError = asyncio.CancelledError

# The MicroPython branch runs in the MicroPython test run, not under coverage.
if MICROPYTHON:  # pragma: no cover
    _ticks = [time.ticks_ms(), 0]  # type: ignore[attr-defined]  # last raw, total

    def ticks_ms() -> int:
        now = time.ticks_ms()  # type: ignore[attr-defined]
        _ticks[1] += time.ticks_diff(now, _ticks[0])  # type: ignore[attr-defined]
        _ticks[0] = now
        return int(_ticks[1])

    async def sleep_ms(ms: int) -> None:
        await asyncio.sleep_ms(ms)  # type: ignore[attr-defined]

    async def wait_for_ms(awaitable: object, ms: int) -> object:
        return await asyncio.wait_for_ms(awaitable, ms)  # type: ignore[attr-defined]

else:

    def ticks_ms() -> int:
        return int(time.monotonic() * 1000)

    async def sleep_ms(ms: int) -> None:
        await asyncio.sleep(ms / 1000)

    async def wait_for_ms(awaitable: object, ms: int) -> object:
        # Not asyncio.wait_for: on 3.11 it swallows a cancellation that
        # arrives as the awaited read completes, and the caller never stops.
        async with asyncio.timeout(ms / 1000):
            return await awaitable  # type: ignore[misc]


async def open_connection(host: str, port: int) -> tuple[object, object]:
    """(reader, writer) for a TCP connection, on either interpreter.

    Raises OSError where the port has no sockets (MicroPython on WebAssembly).
    """
    opener = getattr(asyncio, "open_connection", None)
    if opener is None:
        raise OSError("this asyncio has no open_connection")
    reader, writer = await opener(host, port)
    return reader, writer
