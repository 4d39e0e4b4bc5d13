"""The connection to one Space server: opening it, knowing whether it is up, closing it.

``SpaceConnection`` holds at most one open stream and its ``LinkDriver``.
It opens the stream when asked, with exponential backoff and full jitter
between attempts inside a budget; notices that Space hung up while we were
idle; probes an idle link with ENQ; and reports every change of health (up,
since, last error) to the ``on_health`` observer. When to connect, probe or
hang up is the dispatcher's decision in ``appliance.space.client``.
"""

import asyncio
import datetime
import logging
import random
from collections.abc import Callable

import protocol
from appliance.space import errors
from appliance.space.settings import SpaceSettings
from appliance.space.transport import Transport, close_quietly
from protocol.driver import LinkDriver

log = logging.getLogger("keybridge.space")


class SpaceConnection:
    """The stream to one Space server and its health.

    Args:
        settings: timeouts, connect budget, backoff.
        transport: how to open the stream.
        rng: jitter source (injected in tests).
        on_health: called with ``(up, reason)`` when the link goes up or down.
    """

    def __init__(self, settings: SpaceSettings, transport: Transport, rng: random.Random,
                 on_health: Callable[[bool, str], None] | None) -> None:
        self.settings = settings
        self.transport = transport
        self.rng = rng
        self.on_health = on_health
        self.up: bool | None = None  # None until the first attempt
        self.since: datetime.datetime | None = None
        self.last_error = ""
        self.driver: LinkDriver | None = None
        self.retry_at = 0.0  # loop time of the next idle reconnect attempt
        self._writer: object = None
        self._failures = 0

    async def connect(self, abandoned: Callable[[], bool]) -> LinkDriver:
        """The open link, or a new one; SpaceUnavailable once the budget is spent.

        ``abandoned`` says the caller gave up: stop trying then.
        """
        if self.driver is not None and not self.driver.broken and not self._at_eof():
            return self.driver
        await self.disconnect()
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.settings.connect_budget_s
        while True:
            try:
                return await self.open()
            except errors.SpaceUnavailable:
                delay = self.backoff_s()
                if loop.time() + delay > give_up or abandoned():
                    raise
                await asyncio.sleep(delay)

    def _at_eof(self) -> bool:
        """Space hung up while we were idle (not read): reopen, and send nothing into it."""
        reader = self.driver.reader if self.driver is not None else None
        at_eof = getattr(reader, "at_eof", None)
        return bool(at_eof()) if callable(at_eof) else False

    async def open(self) -> LinkDriver:
        """One connection attempt; SpaceUnavailable (never ran) if it fails."""
        try:
            reader, writer = await self.transport.open()
        except (OSError, TimeoutError) as err:
            reason = "cannot connect to %s: %s" % (self.transport.describe(),
                                                   err or "timed out")
            self._health(False, reason)
            raise errors.SpaceUnavailable(reason, False) from err
        self._failures = 0
        self._writer = writer
        self.driver = LinkDriver(reader, writer, self._link())
        self._health(True, "connected to %s" % self.transport.describe())
        return self.driver

    def _link(self) -> protocol.ClientLink:
        return protocol.ClientLink(ack_timeout_ms=int(self.settings.ack_timeout_s * 1000),
                                   reply_timeout_ms=int(self.settings.reply_timeout_s * 1000),
                                   lrc_skip=self.settings.lrc_skip)

    def backoff_s(self) -> float:
        """Exponential backoff with full jitter, between min and max (settings)."""
        self._failures += 1
        low = self.settings.reconnect_min_s
        ceiling: float = min(self.settings.reconnect_max_s,
                             low * 2.0 ** min(self._failures - 1, 16))
        jitter: float = self.rng.random()
        return low + jitter * (ceiling - low)

    async def probe_idle(self) -> None:
        """Keep a persistent link known to be up: reopen it, or ENQ it."""
        driver = self.driver
        if driver is None or driver.broken:
            await self.disconnect()
            try:
                await self.open()
            except errors.SpaceUnavailable:
                self.retry_at = asyncio.get_running_loop().time() + self.backoff_s()
            return
        try:
            await driver.probe()
        except (protocol.ProtocolError, OSError) as err:
            await self.lost("health probe failed: %s" % err)

    async def lost(self, reason: str) -> None:
        """The link failed: report it down and close what is left of it."""
        self._health(False, reason)
        await self.disconnect()

    async def disconnect(self) -> None:
        writer, self._writer, self.driver = self._writer, None, None
        if writer is not None:
            await close_quietly(writer)  # type: ignore[arg-type]

    def _health(self, up: bool, reason: str) -> None:
        if not up:
            self.last_error = reason
        if up == self.up:
            return
        self.up = up
        self.since = datetime.datetime.now(datetime.UTC)
        (log.info if up else log.warning)("Space link %s: %s", "up" if up else "down", reason)
        if self.on_health is not None:
            try:
                self.on_health(up, reason)
            except Exception:  # the observer's bug is not the link's
                log.exception("Space health callback failed")
