"""The chaos PMS: one MQTT 5 client with a persistent session that plays the day's scripts.

Each booking's script runs in its own turn of a thread pool: a command, then the wait for its
answer, then the next. A ``store_unavailable`` answer with ``will_retry: false`` is sent
again a moment later, as the contract asks; with ``will_retry: true`` the real reply is
awaited. A desk command's ``accepted`` is followed by its final reply. What never came within
``ANSWER_WAIT_S`` is a loss. Every reply and event is kept (duplicates too) for the verdict.
"""

import concurrent.futures
import json
import threading
import time
from collections import Counter
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.chaos.day import Script, Step

ANSWER_WAIT_S = 400.0  # longer than any outage of the day (the broker's 60 s, the disk's)
RESEND_AFTER_S = 2.0
WORKERS = 48


class ChaosPms:
    def __init__(self, port: int, root: str) -> None:
        self.root = root
        self.cond = threading.Condition()
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.sent: Counter[str] = Counter()
        self.final: dict[str, dict[str, Any] | None] = {}  # request_id -> its answer
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, "chaos-pms",
                                  protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 86400
        self.client.connect_async("127.0.0.1", port, 30, clean_start=False,
                                  properties=properties)
        self.client.loop_start()

    def _connected(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                   properties: Any) -> None:
        if not reason.is_failure:
            client.subscribe([(self.root + "/reply/#", 1), (self.root + "/event/#", 1)])

    def _message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        body = json.loads(message.payload)
        with self.cond:
            if "/reply/" in message.topic:
                self.replies.setdefault(str(body.get("request_id")), []).append(body)
            else:
                self.events.append(body)
            self.cond.notify_all()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # -- the day -------------------------------------------------------------------------------

    def play(self, scripts: list[Script], duration_s: float, stop: threading.Event) -> None:
        """Start each script at its moment of the day; return when all have ended."""
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            started = time.monotonic()
            futures = []
            for number, script in enumerate(scripts):
                at = started + duration_s * number / max(1, len(scripts))
                if stop.wait(max(0.0, at - time.monotonic())):
                    break
                futures.append(pool.submit(self._script, script))
            for future in futures:
                future.result()

    def _script(self, script: Script) -> None:
        for step in script.steps:
            answer = self._step(step)
            with self.cond:
                self.final[step.request_id] = answer

    def _step(self, step: Step) -> dict[str, Any] | None:
        self._send(step)
        seen, deadline = 0, time.monotonic() + ANSWER_WAIT_S
        while True:
            body = self._next_reply(step.request_id, seen, deadline)
            if body is None:
                return None
            seen += 1
            error = body.get("error") or {}
            if error.get("code") == "store_unavailable":
                if not (body.get("data") or {}).get("will_retry"):
                    time.sleep(RESEND_AFTER_S)  # a PMS's pause before it tries again
                    self._send(step)
                continue
            if step.desk and body.get("status") == "accepted":
                continue
            return body

    def _send(self, step: Step) -> None:
        with self.cond:
            self.sent[step.request_id] += 1
        self.client.publish("%s/cmd/%s" % (self.root, step.command), json.dumps(step.payload),
                            qos=1)

    def _next_reply(self, request_id: str, seen: int,
                    deadline: float) -> dict[str, Any] | None:
        with self.cond:
            found = self.cond.wait_for(lambda: len(self.replies.get(request_id, ())) > seen,
                                       max(0.0, deadline - time.monotonic()))
            return self.replies[request_id][seen] if found else None
