"""The outbox publisher: replies and events to the broker, at least once, in order.

A row leaves the outbox only when the broker's PUBACK for it has arrived, so a restart of
either side republishes what was not confirmed (events carry ``event_id`` for the PMS to
drop a duplicate). PUBACKs are recorded in one commit per ``CONFIRM_AFTER_S`` (or per
``CONFIRM_BATCH`` of them), not one per message: a booking's reply and its event were two
fsyncs of their own. What a crash loses meanwhile is only the record of a PUBACK, so at
most that second's messages go out once more.

At most ``window`` publishes are unconfirmed at a time, which bounds the memory paho holds
and keeps order sensible after a reconnect.
"""

import asyncio
import contextlib
import logging
import time

from appliance.bridge.mqtt import MqttLink
from appliance.store.db import Store
from appliance.store.retry import persist
from appliance.wakeup import Wakeup

log = logging.getLogger("keybridge.outbox")
POLL_S = 5.0
"""Also look every few seconds: another process (keybridge reconcile) may add rows."""
CONFIRM_AFTER_S = 1.0
CONFIRM_BATCH = 200


class Publisher:
    def __init__(self, store: Store, link: MqttLink, window: int) -> None:
        self.store = store
        self.link = link
        self.window = window
        self.in_flight: dict[int, int] = {}  # paho message id -> outbox row id
        self._after = 0  # highest row id handed to paho in this connection
        self._acked: list[int] = []
        self._acked_since = 0.0  # monotonic time of the oldest PUBACK not yet recorded
        self._force = False  # record PUBACKs before sending anything (a new connection)
        self._wakeup = Wakeup()
        self._progress = asyncio.Event()  # a PUBACK arrived

    def wake(self) -> None:
        self._wakeup.ring()

    def stop(self) -> None:
        self._wakeup.stop()

    def depth(self) -> int:
        return self.store.read.outbox.depth()

    def connected(self) -> None:
        """A new connection: everything unconfirmed goes again, from the oldest row."""
        self.in_flight.clear()
        self._after = 0
        self._force = True  # else rows confirmed but not yet recorded would go again
        self._wakeup.ring()

    def disconnected(self) -> None:
        self.in_flight.clear()
        self._after = 0

    def published(self, mid: int) -> None:
        row = self.in_flight.pop(mid, None)
        if row is not None:
            if not self._acked:
                self._acked_since = time.monotonic()
            self._acked.append(row)
            self._wakeup.ring()
            self._progress.set()

    async def run(self) -> None:
        while not self._wakeup.stopping:
            self._wakeup.clear()
            await persist(self._confirm, "recording published messages",
                          self.store.health)
            if self.link.connected.is_set() and not self._force:
                await persist(self._send, "reading the outbox", self.store.health)
            await self._wakeup.wait(self._idle_s())
        self._force = True
        await persist(self._confirm, "recording published messages",
                          self.store.health)

    def _idle_s(self) -> float:
        if not self._acked:
            return POLL_S
        return max(0.0, min(POLL_S, self._acked_since + CONFIRM_AFTER_S - time.monotonic()))

    async def drain(self, timeout_s: float) -> bool:
        """Wait until nothing is in flight (on stop); False if the broker never confirmed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self.in_flight or (self.link.connected.is_set() and self.depth()):
                    self._force = True  # stopping: record every PUBACK now
                    self._progress.clear()
                    self._wakeup.ring()
                    await self._progress.wait()
                return True
        return False

    def _confirm(self) -> None:
        due = (self._force or len(self._acked) >= CONFIRM_BATCH
               or time.monotonic() - self._acked_since >= CONFIRM_AFTER_S)
        if self._acked and due:
            acked = list(self._acked)
            with self.store.transaction() as tx:
                tx.outbox.published(acked)
            del self._acked[:len(acked)]  # only once committed: a busy store keeps them
            self._progress.set()  # drain() counts the outbox's rows, recorded just now
        self._force = False

    def _send(self) -> None:
        room = self.window - len(self.in_flight)
        if room <= 0:
            return
        for row in self.store.read.outbox.pending(self._after, room):
            correlation = bytes.fromhex(row.properties.get("correlation_hex", ""))
            try:
                mid = self.link.publish(row.topic, row.payload, correlation=correlation)
            except ValueError as err:  # a topic paho refuses: never publishable, set aside
                log.error("outbox row %d can never be published (%s); dropped", row.id, err)
                self._acked.append(row.id)
                continue
            if mid is None:
                return  # the connection just went; connected() starts over
            self.in_flight[mid] = row.id
            self._after = row.id
