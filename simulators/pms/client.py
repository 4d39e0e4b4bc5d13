"""The PMS end of MQTT contract v1: publish commands, collect replies, events and the status.

paho-mqtt 2.x runs the connection on its own thread: MQTT 5, a persistent session (clean start
false, a session expiry), QoS 1 both ways, reconnecting by itself. Everything it receives lands
in one place guarded by a ``threading.Condition``, so the day's runner waits for a reply or an
event by predicate, with a timeout, and never sleeps. Events are de-duplicated by ``event_id``
(delivery is at least once). Each arriving message is printed at once as one line.
"""

import dataclasses
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from appliance.bridge.mqtt import no_delay

SESSION_EXPIRY_S = 3600  # a PMS away for up to an hour still gets every event it missed
KEEPALIVE_S = 30
TERMINAL = ("ok", "error")

Message = dict[str, Any]
Predicate = Callable[[Message], bool]


# What each event's line shows after its type and booking (or owner key); ``space`` stands for
# a Space key's validity as Space got it (space_valid_from → space_valid_until, wall time),
# shown instead of valid_until.
EVENT_FIELDS = {
    "key_issued": ("backend", "key_type", "units", "locks", "valid_until", "pin", "mobile",
                   "automatic", "copy", "phone", "authorizations", "space"),
    "key_updated": ("backend", "key_type", "units", "locks", "valid_until", "reencode_required",
                    "modified", "mobile_resent", "space"),
    "key_revoked": ("backend", "key_type", "units", "reason", "checked_out", "cards_unusable"),
    "key_failed": ("backend", "operation", "code", "message", "hint", "will_retry"),
    "card_encoded": ("key_type", "encoder", "count", "copy", "serials", "rooms",
                     "authorizations", "space"),
    "card_read": ("encoder", "booking_id", "room", "valid", "copy_label", "authorizations",
                  "space"),
    "reconcile_report": ("backend", "discrepancies", "repaired"),
    "door_event": ("backend", "door", "granted", "key_type", "detail"),
    "battery_low": ("backend", "door", "level"),
    "command_rejected": ("topic", "reason", "request_id"),
}
COLOURS = {"→": "36", "←": "32", "★": "33", "◆": "35", "⌨": "34", "▣": "34", "▭": "34",
           "✓": "32", "✗": "31", "?": "31", "·": "2", "══": "1"}
LINE_WIDTH = 200
STORY_MARKS = ("──", "══")
"""What a story shows besides failures: each step's title and the headings."""
HIDDEN = ("key_id", "event_id", "occurred_at")  # long ids that say nothing at a glance


class Printer:
    """The live flow on stdout, one line per message; colour only on a terminal.

    Lines come from two threads (paho's and the runner's), hence the lock.
    """

    def __init__(self, quiet: bool = False, stream: TextIO = sys.stdout,
                 story: bool = False) -> None:
        self.quiet = quiet
        self.story = story  # only each step's title and what went wrong
        self.stream = stream
        self.colour = stream.isatty()
        self._lock = threading.Lock()
        self._start = time.monotonic()

    def line(self, mark: str, text: str, error: bool = False, always: bool = False) -> None:
        if self.quiet and not always:
            return
        if self.story and not (always or error or mark.strip() in STORY_MARKS):
            return
        colour = COLOURS["✗"] if error else COLOURS.get(mark.strip(), "0")
        if self.colour and mark.strip():
            mark = "\033[%sm%s\033[0m" % (colour, mark)
        elapsed = "%6.1fs " % (time.monotonic() - self._start) if not always else ""
        with self._lock:
            print("%s%s %s" % (elapsed, mark, _cut(text)), file=self.stream, flush=True)

    def note(self, text: str) -> None:
        self.line("·", text)


def _cut(text: str) -> str:
    return text if len(text) <= LINE_WIDTH else text[:LINE_WIDTH - 1] + "…"


def mask_pin(pin: object) -> str:
    """A PIN is never shown: its length is enough to see that one came."""
    return "•" * len(str(pin))


def value_text(key: str, value: Any) -> str:
    """One field's value for a line; a PIN is masked wherever it sits."""
    if "pin" in key.lower() and value is not None:
        return mask_pin(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, list):
        if value and all(isinstance(item, dict) for item in value):
            return "%d item%s" % (len(value), "" if len(value) == 1 else "s")
        return ",".join(value_text(key, item) for item in value) or "[]"
    return str(value)


def fields_text(body: Message, keys: tuple[str, ...], prefix: str = "") -> list[str]:
    """``key=value`` for each of ``keys`` that has a value; nested objects as ``a.b=value``."""
    out = []
    for key in keys:
        value = body.get(key)
        if key in HIDDEN or value in (None, "", [], {}):
            continue
        if isinstance(value, dict):
            out += fields_text(value, tuple(value), "%s%s." % (prefix, key))
        else:
            out.append("%s%s=%s" % (prefix, key, value_text(key, value)))
    return out


def describe_reply(body: Message) -> str:
    head = "%-9s %-15s %-8s" % (body.get("request_id"), body.get("command"), body.get("status"))
    error = body.get("error")
    if isinstance(error, dict):
        return "%s %s %s: %s" % (head, error.get("code"), error.get("field") or "-",
                                 error.get("message"))
    data = body.get("data")
    return " ".join([head, *fields_text(data, tuple(data))]) if isinstance(data, dict) else head


def describe_event(body: Message) -> str:
    kind = str(body.get("type"))
    keys = EVENT_FIELDS.get(kind) or tuple(k for k in body if k != "type")
    holder = "" if "booking_id" in keys else body.get("booking_id") or body.get("owner_key_id")
    shown = dict(body)
    if body.get("space_valid_from") or body.get("space_valid_until"):
        # Space's own wall times say it shorter than the instants: shown instead of them.
        shown["space"] = "%s→%s" % (_wall(body.get("space_valid_from")),
                                    _wall(body.get("space_valid_until")))
        shown.pop("valid_until", None)
    return " ".join(filter(None, ["%-16s" % kind, str(holder or ""), *fields_text(shown, keys)]))


def _wall(text: object) -> str:
    """Space's ``2026-07-01T14:00`` as ``01-07 14:00``; "?" when absent."""
    value = str(text or "")
    if len(value) < 16 or value[10] != "T":
        return value or "?"
    return "%s-%s %s" % (value[8:10], value[5:7], value[11:16])


def describe_status(body: Message) -> str:
    """The state and each backend up or down; queue depths change too often to show."""
    backends = body.get("backends")
    parts = ["status %s" % body.get("state")]
    for name, health in (backends.items() if isinstance(backends, dict) else ()):
        up = isinstance(health, dict) and health.get("up")
        error = health.get("last_error") if isinstance(health, dict) else None
        parts.append("%s %s%s" % (name, "up" if up else "DOWN", " (%s)" % error if error else ""))
    return "  ".join(parts)


@dataclasses.dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str = ""
    password: str | None = None
    tls_ca: str = ""
    protocol: str = "5"
    """The MQTT version to speak: "5", or "3.1.1" (NATS and RabbitMQ take only that)."""


class PmsClient:
    """One MQTT connection for the PMS side of ``root`` (``{prefix}/{site}``)."""

    def __init__(self, broker: Broker, root: str, client_id: str, printer: Printer) -> None:
        self.broker = broker
        self.root = root
        self.show = printer
        self.sent: Counter[str] = Counter()
        self.problems: list[str] = []  # messages that break the contract's shape
        self._cond = threading.Condition()
        self._replies: dict[str, list[Message]] = {}
        self._events: list[Message] = []
        self._event_ids: set[str] = set()
        self._claimed: set[str] = set()
        self._status: Message | None = None
        self._connack: ReasonCode | None = None
        self._subscribed = False
        self._client = self._make_client(client_id)

    def _make_client(self, client_id: str) -> mqtt.Client:
        if self.broker.protocol == "3.1.1":
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                 protocol=mqtt.MQTTv311, clean_session=False)
        else:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                 protocol=mqtt.MQTTv5)
        client.reconnect_delay_set(1, 10)
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls_ca:
            client.tls_set(ca_certs=self.broker.tls_ca)
        client.on_connect = self._on_connect
        client.on_socket_open = lambda _client, _userdata, sock: no_delay(sock)
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    # -- the caller's side ------------------------------------------------------------------

    def connect(self, timeout: float) -> None:
        """Connect and subscribe; raises ConnectionError if that fails within ``timeout``."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        where = "broker %s:%d" % (self.broker.host, self.broker.port)
        try:  # the first attempt in the open, so a refusal is reported at once
            if self.broker.protocol == "3.1.1":
                self._client.connect(self.broker.host, self.broker.port, KEEPALIVE_S)
            else:
                self._client.connect(self.broker.host, self.broker.port, KEEPALIVE_S,
                                     clean_start=False, properties=properties)
        except OSError as err:
            raise ConnectionError("%s: %s" % (where, err)) from err
        self._client.loop_start()  # reconnects by itself from here on
        with self._cond:
            self._cond.wait_for(lambda: self._subscribed or self._refused(), timeout)
            if not self._subscribed:
                why = self._connack if self._refused() else "no answer in %gs" % timeout
                raise ConnectionError("%s: %s" % (where, why))

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def send(self, command: str, payload: Message, timeout: float) -> None:
        """Publish a command (QoS 1, never retained) and wait for the broker's PUBACK."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        info = self._client.publish("%s/cmd/%s" % (self.root, command), body, qos=1)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise TimeoutError("the broker did not acknowledge %s in %gs" % (command, timeout))
        with self._cond:
            self.sent[command] += 1

    def replies(self, request_id: str) -> list[Message]:
        with self._cond:
            return list(self._replies.get(request_id, []))

    def wait_replies(self, request_id: str, start: int, want: int, timeout: float
                     ) -> list[Message]:
        """Replies to ``request_id`` after the first ``start``: ``want`` of them, or fewer
        when a final one (ok, error) comes first or ``timeout`` passes."""
        def new() -> list[Message]:
            return self._replies.get(request_id, [])[start:]

        def done() -> bool:
            got = new()
            return len(got) >= want or any(r.get("status") in TERMINAL for r in got)

        with self._cond:
            self._cond.wait_for(done, timeout)
            return list(new())

    def take_event(self, matches: Predicate, timeout: float) -> Message | None:
        """The first event not taken before that ``matches``, waiting up to ``timeout``."""
        def find() -> Message | None:
            return next((e for e in self._events
                         if e["event_id"] not in self._claimed and matches(e)), None)

        with self._cond:
            found = self._cond.wait_for(find, timeout)
            if found is not None:
                self._claimed.add(found["event_id"])
            return found

    def events(self) -> list[Message]:
        with self._cond:
            return list(self._events)

    def wait_status(self, matches: Predicate, timeout: float) -> Message | None:
        with self._cond:
            self._cond.wait_for(lambda: self._status is not None and matches(self._status),
                                timeout)
            return self._status

    def reply_counts(self) -> Counter[str]:
        with self._cond:
            return Counter(str(r.get("status")) for rs in self._replies.values() for r in rs)

    # -- paho callbacks, on its network thread -----------------------------------------------

    def _refused(self) -> bool:
        return self._connack is not None and self._connack.is_failure

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, properties: Properties | None) -> None:
        with self._cond:
            self._connack = reason
            self._cond.notify_all()
        if reason.is_failure:
            self.show.note("broker refused the connection: %s" % reason)
            return
        self.show.note("connected to %s:%d (session %s)" % (
            self.broker.host, self.broker.port,
            "resumed" if flags.session_present else "new"))
        # Again on every connection: harmless when the session kept them, needed when not.
        topics = ("%s/reply/+" % self.root, "%s/event/+" % self.root, "%s/status" % self.root)
        if self.broker.protocol == "3.1.1":  # 3.1.1 has a QoS per topic, no options
            client.subscribe([(topic, 1) for topic in topics])
        else:
            client.subscribe([(topic, SubscribeOptions(qos=1)) for topic in topics])

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int,
                      reasons: list[ReasonCode], properties: Properties | None) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            self.show.note("subscription refused: %s" % ", ".join(refused))
        with self._cond:
            self._subscribed = not refused
            self._cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        kind, _, name = message.topic[len(self.root) + 1:].partition("/")
        try:
            body = json.loads(message.payload)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._problem("%s: not a JSON object" % message.topic)
        with self._cond:
            if kind == "reply":
                self._reply(name, body)
            elif kind == "event":
                self._event(name, body)
            elif kind == "status":
                self._status_changed(body)
            self._cond.notify_all()

    def _reply(self, command: str, body: Message) -> None:
        request_id = body.get("request_id")
        if body.get("status") not in ("accepted", *TERMINAL) or body.get("command") != command:
            self._problem("reply/%s: status %r, command %r" % (
                command, body.get("status"), body.get("command")))
        self._replies.setdefault(str(request_id), []).append(body)
        self.show.line("←", describe_reply(body), error=body.get("status") == "error")

    def _event(self, kind: str, body: Message) -> None:
        event_id = body.get("event_id")
        if not event_id or body.get("type") != kind or not body.get("occurred_at"):
            return self._problem("event/%s: needs event_id, type %r and occurred_at" % (
                kind, kind))
        if event_id in self._event_ids:
            return  # delivered again (QoS 1 is at least once): the PMS acts only once
        self._event_ids.add(event_id)
        self._events.append(body)
        self.show.line("★", describe_event(body), error=kind in ("key_failed", "command_rejected"))

    def _status_changed(self, body: Message) -> None:
        before = self._status
        self._status = body
        if before is None or describe_status(before) != describe_status(body):
            self.show.line("◆", describe_status(body), error=body.get("state") != "online")

    def _problem(self, text: str) -> None:
        self.problems.append(text)
        self.show.line("?", text, error=True)
