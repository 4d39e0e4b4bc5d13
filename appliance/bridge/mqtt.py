"""The broker connection: paho-mqtt 2.x in its own network thread, handed to asyncio.

- A persistent session (clean session off, MQTT 5 session expiry), so commands published
  while the appliance is down wait at the broker.
- Manual acknowledgement: a command's PUBACK goes to the broker only after the engine has
  committed it (``ack``), so a power cut before the commit means the broker redelivers.
- On every CONNACK: subscribe again and run ``on_connected`` (republish status, restart the
  outbox), because a broker restarted without persistence forgets both.
- The last will publishes the retained ``{"state": "offline"}``.

- ``protocol = "auto"`` speaks MQTT 5 and falls back to 3.1.1, for good in this run, when the
  broker refuses 5 ("Unsupported protocol version": NATS) or opens the connection and never
  answers a version-5 CONNECT (RabbitMQ); the journal and the status say which one is used.

paho reconnects by itself with its backoff (``reconnect_delay_set``); callbacks run on the
network thread and only ever hand over to the event loop with ``call_soon_threadsafe``.
"""

import asyncio
import contextlib
import dataclasses
import logging
import random
import socket
import ssl
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from appliance.bridge.takeover import TakeoverWatch
from appliance.config import Mqtt

log = logging.getLogger("keybridge.mqtt")
OFFLINE = b'{"state": "offline"}'
QOS = 1
UNSUPPORTED_VERSION = 0x84
"""CONNACK reason: the broker does not speak this MQTT version."""
ANSWER_WAIT_S = 10.0
"""How long "auto" waits for an answer to a version-5 CONNECT before it tries 3.1.1."""


def _without_noise(record: logging.LogRecord) -> bool:
    """paho's "Client is not connected. Socket: None" follows every failed attempt and
    names no broker; ``_connect_failed`` says it once, with the address and the fix."""
    return not str(record.msg).startswith("Client is not connected")


def no_delay(sock: Any) -> None:
    """TCP_NODELAY on a paho socket (paho leaves Nagle on). Without it a PUBACK or a small
    reply written right after another small packet waits for the peer's delayed ACK: ~40 ms
    per message on Linux, measured as the largest part of a command's reply time."""
    with contextlib.suppress(OSError, AttributeError):  # a Unix socket, or already closed
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclasses.dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes
    retain: bool
    mid: int
    qos: int
    response_topic: str
    correlation: bytes


def identify(client: paho.Client, settings: Mqtt) -> None:
    """The configured credentials on a paho client: username/password and TLS."""
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set(ca_certs=settings.ca_file or None, certfile=settings.cert_file or None,
                       keyfile=settings.key_file or None, cert_reqs=ssl.CERT_REQUIRED)


class MqttLink:
    def __init__(self, settings: Mqtt, root: str, *,
                 on_message: Callable[[Incoming], None],
                 on_connected: Callable[[], None], on_disconnected: Callable[[], None],
                 on_published: Callable[[int], None],
                 on_taken_over: Callable[[str], None] = lambda why: None,
                 on_subscribed: Callable[[], None] = lambda: None) -> None:
        self.settings = settings
        self.root = root
        self.status_topic = root + "/status"
        self._loop = asyncio.get_running_loop()
        self._handlers = (on_message, on_connected, on_disconnected, on_published)
        self._on_taken_over = on_taken_over
        self._on_subscribed = on_subscribed  # the broker's SUBACK came: status says so now
        self.takeover = TakeoverWatch()
        self.connected = asyncio.Event()
        self.stopping = False
        self.last_error = ""
        self._unreachable = False  # said once per outage, not at every retry
        self.subscribed: bool | None = None  # the broker's SUBACK for cmd/+; None: not yet
        self.auto = settings.protocol == "auto"
        self.hosts = settings.hosts or ((settings.host, settings.port),)
        self.host_index = 0  # the node tried now; the next after every failed attempt
        self._failures = 0  # since the last CONNACK, for the backoff
        self._accepted = False  # this connection got a successful CONNACK
        self._answered_5 = False  # a CONNACK to version 5 came: never fall back after it
        self._refused = ""  # why the node refused this connection, if it did
        self._rng = random.Random()  # noqa: S311 - jitter, not secrets
        self.protocol = "3.1.1" if settings.protocol == "3.1.1" else "5"
        self.client = self._client()

    @property
    def v5(self) -> bool:
        return self.protocol == "5"

    def _client(self) -> paho.Client:
        settings = self.settings
        if self.v5:
            client = paho.Client(CallbackAPIVersion.VERSION2, settings.client_id,
                                 protocol=paho.MQTTv5, manual_ack=True)
        else:
            client = paho.Client(CallbackAPIVersion.VERSION2, settings.client_id,
                                 clean_session=False, protocol=paho.MQTTv311, manual_ack=True)
        paho_log = logging.getLogger("keybridge.paho")
        paho_log.addFilter(_without_noise)
        client.enable_logger(paho_log)
        client.will_set(self.status_topic, OFFLINE, qos=QOS, retain=True)
        identify(client, settings)
        self._delay(client)
        client.max_inflight_messages_set(settings.inflight_window)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_socket_open = self._on_socket_open
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def start(self) -> None:
        settings = self.settings
        if self.v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = settings.session_expiry_s
            self.client.connect_async(*self.hosts[self.host_index], settings.keepalive_s,
                                      clean_start=False, properties=properties)
        else:
            self.client.connect_async(*self.hosts[self.host_index], settings.keepalive_s)
        self.client.loop_start()

    def alive(self) -> bool:
        """The network thread is running (the watchdog asks)."""
        thread = getattr(self.client, "_thread", None)
        return thread is not None and thread.is_alive()

    def stop(self) -> None:
        """Publish offline ourselves (an orderly stop does not fire the will) and leave."""
        self.stopping = True
        # paho logs the network thread's exit as an error; on a stop we asked for, it is not.
        self.client.disable_logger()
        if self.connected.is_set():
            self.client.publish(self.status_topic, OFFLINE, qos=QOS, retain=True)
        self.client.disconnect()
        self.client.loop_stop()

    def ack(self, mid: int) -> None:
        self.client.ack(mid, QOS)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False,
                correlation: bytes = b"") -> int | None:
        """Queue a QoS 1 publish; its message id, or None if not connected."""
        properties = None
        if correlation and self.v5:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.CorrelationData = correlation
        info = self.client.publish(topic, payload, qos=QOS, retain=retain, properties=properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            return None
        return int(info.mid)

    # paho's callbacks, on the network thread.

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any,
                    reason: ReasonCode, properties: Any) -> None:
        if reason.is_failure and self.auto and self.v5 and reason.value == UNSUPPORTED_VERSION:
            self._loop.call_soon_threadsafe(self._fall_back, "the broker refused MQTT 5 (%s)"
                                            % reason)
            return
        self._answered_5 = self._answered_5 or self.v5
        if reason.is_failure:  # the disconnect that follows moves on to the next node
            self._refused = "the broker at %s refused the connection: %s" % (self.where(),
                                                                            reason)
            return
        self._failures = 0
        self._accepted = True
        self.takeover.connected()
        if self.v5:
            # Retain-as-published: otherwise the broker clears the flag on live delivery and a
            # retained command could not be told apart (and refused). 3.1.1 has no such
            # option; there only the replay at (re)subscription shows the flag.
            client.subscribe(self.root + "/cmd/+", options=SubscribeOptions(
                qos=QOS, retainAsPublished=True))
        else:
            client.subscribe(self.root + "/cmd/+", qos=QOS)
        self._loop.call_soon_threadsafe(self._connected)

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int,
                      reasons: list[ReasonCode], properties: Any) -> None:
        refused = [str(reason) for reason in reasons if reason.is_failure]
        self._loop.call_soon_threadsafe(self._subscribe_answered, refused)

    def _subscribe_answered(self, refused: list[str]) -> None:
        self.subscribed = not refused
        self._on_subscribed()
        if refused:
            self.last_error = ("the broker refused the subscription to %s/cmd/+ (%s): no "
                               "command can arrive" % (self.root, ", ".join(refused)))
            log.error("%s; check the broker's permissions for this site's user (ACL, NATS "
                      "permissions) and that [site] id and [mqtt] prefix are topics it "
                      "takes", self.last_error, extra={"ctx": {"broker": self.where()}})

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        no_delay(sock)
        self._accepted, self._refused = False, ""
        if self.auto and self.v5:  # a broker that cannot parse 5 may say nothing at all
            self._loop.call_soon_threadsafe(self._loop.call_later, self._answer_wait_s(),
                                            self._answered_or_fall_back, client)

    def _answer_wait_s(self) -> float:
        return float(min(self.settings.keepalive_s, ANSWER_WAIT_S))

    def _answered_or_fall_back(self, client: paho.Client) -> None:
        # One that answered 5 once and is slow or gone now is not a broker that cannot.
        if client is self.client and self.v5 and not (self.connected.is_set() or
                                                      self._answered_5):
            self._fall_back("no answer to an MQTT 5 CONNECT within %g s" % self._answer_wait_s())

    def _fall_back(self, why: str) -> None:
        """MQTT 3.1.1 from now on: a new paho client, the old one stopped quietly."""
        if not self.v5 or self.stopping:
            return
        log.warning("%s; using MQTT 3.1.1 with it", why,
                    extra={"ctx": {"broker": self.where()}})
        old, self.protocol = self.client, "3.1.1"
        for name in ("on_connect", "on_connect_fail", "on_socket_open", "on_subscribe",
                     "on_disconnect", "on_message", "on_publish"):
            setattr(old, name, None)
        old.disable_logger()
        old.disconnect()
        old.loop_stop()
        self.client = self._client()
        self.start()

    def _delay(self, client: paho.Client) -> None:
        """The wait before paho's next attempt: exponential from reconnect_min_s to
        reconnect_max_s, with full jitter so a fleet that lost one node does not come back
        to another in step."""
        low, high = self.settings.reconnect_min_s, self.settings.reconnect_max_s
        ceiling = min(high, low * 2 ** min(self._failures, 20))
        wait = max(1, round(self._rng.uniform(low, max(low, ceiling))))
        client.reconnect_delay_set(wait, wait)

    def _next_host(self, client: paho.Client) -> None:
        """On the network thread, between attempts: the next node of [mqtt] hosts."""
        self._failures += 1
        if len(self.hosts) > 1:
            self.host_index = (self.host_index + 1) % len(self.hosts)
            # paho's host/port setters refuse while it retries; its reconnect() reads these
            # two between attempts (paho 2.x, pinned in pyproject.toml).
            client._host, client._port = self.hosts[self.host_index]
        self._delay(client)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        failed = self.where()
        self._next_host(client)
        self._loop.call_soon_threadsafe(self._connect_failed, failed)

    def _connect_failed(self, where: str, why: str = "") -> None:
        self.last_error = why or "cannot reach the broker at %s" % where
        if not self._unreachable and not self.stopping:
            others = " (trying the other %d of [mqtt] hosts in turn)" % (
                len(self.hosts) - 1) if len(self.hosts) > 1 else ""
            fix = ("[mqtt] username, password_file and certificates, and the broker's "
                   "permissions for this client" if why else "[mqtt] host and port in the "
                   "configuration, the network, and that the broker runs")
            log.error("%s%s; check %s; trying again every %d s at most", self.last_error,
                      others, fix, max(1, int(self.settings.reconnect_max_s)),
                      extra={"ctx": {"broker": where}})
        self._unreachable = True

    def _connected(self) -> None:
        log.info("connected to the broker", extra={"ctx": {"broker": self.where(),
                                                           "mqtt": self.protocol}})
        self._unreachable = False
        self.last_error = ""
        self.connected.set()
        self._handlers[1]()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any,
                       reason: ReasonCode, properties: Any) -> None:
        why = None if self.stopping else self.takeover.dropped(reason.value)
        if why is not None:
            self.stopping = True
            client.disconnect()  # no reconnect: fighting for the session helps nobody
            self._loop.call_soon_threadsafe(self._disconnected, str(reason))
            self._loop.call_soon_threadsafe(self._on_taken_over, why)
            return
        if not self._accepted and not self.stopping:  # refused, or no CONNACK: a node that
            failed = self.where()  # takes TCP but not us; the next one, with backoff
            why = self._refused or "the broker at %s closed the connection before accepting " \
                "it (%s)" % (failed, reason)
            self._next_host(client)
            self._loop.call_soon_threadsafe(self._connect_failed, failed, why)
            return
        self._accepted = False
        self._failures = 0
        self._delay(client)  # the same node first: a restart or a blip
        self._loop.call_soon_threadsafe(self._disconnected, str(reason))

    def _disconnected(self, reason: str) -> None:
        if self.connected.is_set() and not self.stopping:
            log.warning("lost the broker (%s); reconnecting", reason,
                        extra={"ctx": {"broker": self.where()}})
        self.last_error = "disconnected: %s" % reason
        self.subscribed = None
        self.connected.clear()
        self._handlers[2]()

    def _on_message(self, client: paho.Client, userdata: Any,
                    message: paho.MQTTMessage) -> None:
        properties = getattr(message, "properties", None)
        incoming = Incoming(message.topic, bytes(message.payload), bool(message.retain),
                            message.mid, message.qos,
                            getattr(properties, "ResponseTopic", "") or "",
                            bytes(getattr(properties, "CorrelationData", b"") or b""))
        self._loop.call_soon_threadsafe(self._handlers[0], incoming)

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int,
                    reason: ReasonCode, properties: Any) -> None:
        if reason.is_failure:
            # MQTT 5 brokers say why (e.g. the ACL); retrying would fail the same way.
            log.error("the broker refused publish %d: %s", mid, reason)
        self._loop.call_soon_threadsafe(self._handlers[3], mid)

    def where(self) -> str:
        """The broker node the link uses (or tries) now."""
        return "%s:%d" % self.hosts[self.host_index]
