"""Commands from the broker into the store: group commit, and an answer while it cannot write.

Every command that arrived while the last batch was being written is stored in one
transaction (one fsync), each in a savepoint of its own (``Engine.submit``); each is
acknowledged to the broker only once that transaction has committed.

When the store refuses the batch (disk full, read-only, locked past the busy timeout), every
command in it, and every one that arrives meanwhile, is answered at once with
``store_unavailable``, published straight to the broker (the outbox is in the store that
cannot write). The first ``KEEP_UNSTORED`` are kept in memory, unacknowledged, and tried again
with backoff (``will_retry: true``): once they commit they get their real replies, and the
broker still holds them if the appliance stops first. The others are acknowledged without
being stored (``will_retry: false``: send it again once the status says the store writes).
Keeping them all would not answer them: a broker hands a client only a small window of
unacknowledged messages (Mosquitto 20, RabbitMQ 10) and holds the rest back, unanswered.
"""

import asyncio
import json
import logging
import time

from appliance.bridge import contract
from appliance.bridge.mqtt import Incoming, MqttLink
from appliance.engine import replies
from appliance.engine.engine import Engine
from appliance.engine.replies import ReplyTo
from appliance.errors import CommandError
from appliance.store import Store
from appliance.store.retry import FIRST_WAIT_S, LONGEST_WAIT_S

log = logging.getLogger("keybridge.intake")
BATCH_MAX = 500
"""Commands stored in one transaction at most, while the store writes: bounds the work redone
if it is refused."""
WHAT = "storing commands"
KEEP_UNSTORED = 8
"""Commands held unacknowledged while the store refuses: below every broker's in-flight
window (RabbitMQ's MQTT prefetch is 10), so the others still reach the appliance."""


class Intake:
    def __init__(self, root: str, store: Store, engine: Engine, link: MqttLink) -> None:
        self.prefix = root + "/cmd/"
        self.root = root
        self.store = store
        self.engine = engine
        self.link = link
        self.accepting = True  # False while stopping: the broker keeps what comes
        self._queue: asyncio.Queue[Incoming] = asyncio.Queue()
        self._arrived = asyncio.Event()

    def put(self, incoming: Incoming) -> None:
        """paho's message, handed over on the event loop."""
        self._queue.put_nowait(incoming)
        self._arrived.set()

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            self._take_waiting(batch, BATCH_MAX)
            if not self.accepting:
                continue  # not acknowledged: the broker redelivers after the restart
            await self._store(batch)
            for incoming in batch:
                self._ack(incoming)

    def _take_waiting(self, batch: list[Incoming], limit: int) -> None:
        """Move what has arrived into ``batch``, up to ``limit`` in all."""
        self._arrived.clear()
        while len(batch) < limit and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    async def _store(self, batch: list[Incoming]) -> None:
        """Commit ``batch``, answering store_unavailable while the store refuses it."""
        told, wait = 0, FIRST_WAIT_S
        while not self.store.health.attempt(WHAT, lambda: self._commit(batch)):
            self._answer(batch, told)
            await self._answer_meanwhile(batch, wait)
            told, wait = len(batch), min(LONGEST_WAIT_S, wait * 2)

    async def _answer_meanwhile(self, batch: list[Incoming], wait_s: float) -> None:
        """Wait ``wait_s`` before the next try, answering every command that arrives."""
        deadline = time.monotonic() + wait_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                return
            told = len(batch)
            self._take_waiting(batch, len(batch) + self._queue.qsize())
            self._answer(batch, told)

    def _commit(self, batch: list[Incoming]) -> None:
        with self.store.transaction():
            for incoming in batch:
                if incoming.topic.startswith(self.prefix):
                    self.engine.submit(incoming.topic[len(self.prefix):], incoming.payload,
                                       incoming.retain, ReplyTo(incoming.response_topic,
                                                                incoming.correlation))

    def _answer(self, batch: list[Incoming], told: int) -> None:
        """Answer ``batch[told:]``; keep up to KEEP_UNSTORED in ``batch``, let the rest go."""
        kept = batch[:told]
        for incoming in batch[told:]:
            keep = len(kept) < KEEP_UNSTORED
            self._unavailable(incoming, keep)
            if keep:
                kept.append(incoming)
            else:
                self._ack(incoming)
        batch[:] = kept

    def _ack(self, incoming: Incoming) -> None:
        if incoming.qos > 0:  # a QoS 0 message has no PUBACK; sending one is an error
            self.link.ack(incoming.mid)

    def _unavailable(self, incoming: Incoming, kept: bool) -> None:
        if not incoming.topic.startswith(self.prefix) or not incoming.payload or incoming.retain:
            return  # nothing the engine would answer either
        command = incoming.topic[len(self.prefix):]
        error = CommandError("store_unavailable", "the appliance cannot write its store (disk "
                             "full, read-only or locked): %s" % (
                                 "the command is kept and carried out once it can, with its "
                                 "own reply then" if kept else "the command was not kept; send "
                                 "it again once the status says store.writable"))
        reply = replies.body(_request_id(incoming.payload), command, "error",
                             {"will_retry": kept}, error)
        route = replies.route(self.root, command, ReplyTo(incoming.response_topic,
                                                          incoming.correlation))
        try:
            self.link.publish(route.topic, json.dumps(reply).encode(),
                              correlation=incoming.correlation)
        except ValueError as err:  # a response topic paho refuses; the real reply says so
            log.warning("store_unavailable not sent to %r: %s", route.topic, err)


def _request_id(payload: bytes) -> str | None:
    """The command's request_id if it is a valid one: the reply must name it to be placed."""
    try:
        return contract.request_id(json.loads(payload))
    except (ValueError, CommandError):  # not JSON or UTF-8, or no usable request_id
        return None
