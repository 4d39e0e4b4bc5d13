"""The bench's PMS: one MQTT 5 client that publishes commands and times what comes back.

Replies are kept by request_id and events by (type, booking_id, backend), each with the
monotonic time it arrived; callers wait on a condition, never on a sleep. The same client
measures the MQTT floor: a QoS 1 publish to a topic it subscribes to, until it hears it back.
"""

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from appliance.bridge.mqtt import no_delay

WAIT_S = 300.0


class BenchPms:
    def __init__(self, port: int, root: str) -> None:
        self.root = root
        self.cond = threading.Condition()
        self.sent: dict[str, float] = {}
        self.replies: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self.events: dict[tuple[str, str, str], float] = {}
        self.echoes: dict[str, float] = {}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, "bench-pms",
                                  protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_socket_open = lambda _client, _userdata, sock: no_delay(sock)
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port, 60)
        self.client.subscribe([(root + "/reply/#", 1), (root + "/event/#", 1),
                               ("bench/echo", 1)])
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        with self.cond:
            if message.topic == "bench/echo":
                self.echoes[message.payload.decode()] = now
            else:
                body = json.loads(message.payload)
                if "/reply/" in message.topic:
                    self.replies.setdefault(str(body.get("request_id")), []).append((now, body))
                else:
                    key = (str(body.get("type")), str(body.get("booking_id")),
                           str(body.get("backend")))
                    self.events.setdefault(key, now)
            self.cond.notify_all()

    def send(self, command: str, payload: dict[str, Any]) -> float:
        at = time.monotonic()
        with self.cond:
            self.sent[str(payload["request_id"])] = at
        self.client.publish("%s/cmd/%s" % (self.root, command), json.dumps(payload), 1)
        return at

    def wait(self, predicate: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
        with self.cond:
            found = self.cond.wait_for(predicate, timeout)
        if not found:
            raise SystemExit("bench: %s did not arrive within %g s" % (what, timeout))
        return found

    def reply(self, request_id: str, status: str | None = None) -> tuple[float, dict[str, Any]]:
        """(when, body) of the first reply to ``request_id`` (with ``status``, if given)."""
        def found() -> tuple[float, dict[str, Any]] | None:
            return next((item for item in self.replies.get(request_id, ())
                         if status in (None, item[1].get("status"))), None)
        return self.wait(found, "the %s reply to %s" % (status or "first", request_id))  # type: ignore[no-any-return]

    def event(self, kind: str, booking_id: str, backend: str) -> float:
        key = (kind, booking_id, backend)
        return float(self.wait(lambda: self.events.get(key), "%s for %s" % (kind, booking_id)))

    def echo(self) -> float:
        """One MQTT QoS 1 round trip through the broker: the floor of every MQTT figure."""
        token = repr(time.monotonic())
        start = time.monotonic()
        self.client.publish("bench/echo", token, 1)
        return float(self.wait(lambda: self.echoes.get(token), "an echo")) - start
