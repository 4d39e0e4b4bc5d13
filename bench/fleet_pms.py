"""The fleet's PMS (``bench/fleet.py``): one MQTT 3.1.1 client with a persistent session for
every site, publishing a campsite day's commands and keeping what it hears (replies with
their times, events by ``event_id``, each site's statuses) for the table.
"""

import json
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.nats import NatsNode

PMS_PASSWORD = "pms-fleet"  # noqa: S105 - a throwaway cluster's, on loopback


class Pms:
    """The PMS for every site: publishes commands, times replies, keeps statuses."""

    def __init__(self, node: NatsNode) -> None:
        self.lock = threading.Lock()
        self.sent: dict[str, float] = {}
        self.replies: dict[str, list[float]] = {}  # request_id → when each reply came
        self.final: dict[str, int] = {}  # request_id → final replies (ok, error)
        self.events: dict[str, dict[str, int]] = {}  # type → event_id → times received
        self.status_at: dict[str, list[tuple[float, str]]] = {}  # site → (when, node)
        self.echo: list[float] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, "pms-fleet",
                                  protocol=mqtt.MQTTv311, clean_session=False)
        self.client.username_pw_set("pms", PMS_PASSWORD)
        self.client.on_message = self._message
        self.client.on_connect = lambda client, *args: client.subscribe(
            [("keybridge/+/reply/+", 1), ("keybridge/+/status", 1), ("fleet/echo", 1),
             ("keybridge/+/event/+", 1)])
        self.client.connect(node.host, node.port, 30)
        self.client.loop_start()

    def _message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if message.topic == "fleet/echo":
            with self.lock:
                self.echo.append(now - float(message.payload))
            return
        body = json.loads(message.payload)
        site = message.topic.split("/")[1]
        with self.lock:
            if "/reply/" in message.topic:
                request = str(body.get("request_id"))
                self.replies.setdefault(request, []).append(now)
                if body.get("status") in ("ok", "error"):
                    self.final[request] = self.final.get(request, 0) + 1
            elif "/event/" in message.topic:
                seen = self.events.setdefault(str(body.get("type")), {})
                seen[str(body.get("event_id"))] = seen.get(str(body.get("event_id")), 0) + 1
            elif body.get("state") == "online":
                self.status_at.setdefault(site, []).append((now, str(body.get("updated_at"))))

    def answers(self, request: str) -> int:
        """How often ``request`` was answered: a card's by its final reply (ok, error), a
        booking's by any; more than once is a duplicate."""
        if request.endswith("-cut"):
            return self.final.get(request, 0)
        return len(self.replies.get(request, []))

    def answered(self, request: str) -> bool:
        return self.answers(request) > 0

    def all_answered(self) -> bool:
        with self.lock:
            return all(self.answered(request) for request in self.sent)

    def send(self, site: str, command: str, payload: dict[str, Any]) -> None:
        with self.lock:
            self.sent[str(payload["request_id"])] = time.monotonic()
        self.client.publish("keybridge/%s/cmd/%s" % (site, command), json.dumps(payload), 1)

    def echo_round_trips(self, count: int) -> None:
        for _ in range(count):
            self.client.publish("fleet/echo", repr(time.monotonic()), 1)
            time.sleep(0.01)

    def online(self) -> set[str]:
        with self.lock:
            return set(self.status_at)


UNITS = {"P0": "Pitch 12", "P1": "Pitch 14", "P2": "Chalet 3"}
"""The simulated site's rooms in service (config/space-sim.toml; Chalet 7 is out of it)."""


def booking(site: str, number: int, status: str) -> dict[str, Any]:
    return {"request_id": "%s-%d-%s" % (site, number, status.lower()), "booking": {
        "id": "B%d" % number, "revision": 1 if status == "CONFIRMED" else 2, "status": status,
        "units": ["P%d" % (number % len(UNITS))],  # a room's stays one after another
        "arrival": "2027-07-%02dT14:00:00+02:00" % (1 + 4 * (number // len(UNITS))),
        "departure": "2027-07-%02dT11:00:00+02:00" % (4 + 4 * (number // len(UNITS)))}}


def encode_card(site: str, number: int) -> dict[str, Any]:
    return {"request_id": "%s-%d-cut" % (site, number), "booking_id": "B%d" % number,
            "encoder": "desk-1"}
