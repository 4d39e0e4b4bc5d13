"""The inbox (every command by its request_id, with its last reply) and the outbox (replies
and events waiting for the broker's PUBACK, as Fernet tokens: key_issued carries a PIN or a
binary mobile key). A row the broker confirmed keeps its topic and times, not its payload."""

import dataclasses
import datetime
import json
import sqlite3
import uuid
from typing import Any

from appliance import lifecycle
from appliance.store.clock import now_iso
from appliance.store.tx import Crypt, dumps

EVENT_NAMESPACE = uuid.UUID("6f1d8a52-0b0e-4c59-9a57-4d3c2b8e7a10")


@dataclasses.dataclass(frozen=True)
class Route:
    """Where a message goes: a topic and its MQTT 5 properties (``correlation_hex``)."""

    topic: str
    properties: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Outgoing:
    id: int
    topic: str
    payload: bytes
    properties: dict[str, str]


def job_event_id(store_id: str, job_id: int, kind: str, attempt: int = 0) -> str:
    """The same id every time the same job reports the same thing: a job repeated after a
    crash (it may have run, its end was not committed) publishes what the PMS already has.
    ``store_id`` (meta, random per store) keeps another site's job of the same number, or
    this site's store made anew, from publishing the same ids."""
    return str(uuid.uuid5(EVENT_NAMESPACE, "job/%s/%d/%s/%d" % (store_id, job_id, kind,
                                                                 attempt)))


class Inbox:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def reply(self, request_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT reply FROM inbox WHERE request_id = ?",
                              (request_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def add(self, request_id: str, command: str, payload: dict[str, Any],
            reply: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO inbox (request_id, command, received_at, payload, reply) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (request_id, command, now_iso(), dumps(payload), dumps(reply)))

    def set_reply(self, request_id: str, reply: dict[str, Any]) -> None:
        self.db.execute("UPDATE inbox SET reply = ? WHERE request_id = ?",
                        (dumps(reply), request_id))

    def prune(self, before: str, limit: int) -> int:
        """Forget up to ``limit`` commands received before ``before`` (ISO UTC); one whose
        desk job still waits stays, as the job's final reply is written to it."""
        return self.db.execute(
            "DELETE FROM inbox WHERE rowid IN (SELECT rowid FROM inbox WHERE received_at < ? "
            "AND request_id NOT IN (SELECT request_id FROM jobs WHERE request_id IS NOT NULL "
            "AND state IN (?, ?)) LIMIT ?)", (before, *lifecycle.WAITING, limit)).rowcount


class Outbox:
    def __init__(self, db: sqlite3.Connection, crypt: Crypt) -> None:
        self.db = db
        self.crypt = crypt

    def add(self, route: Route, payload: dict[str, Any]) -> None:
        token = self.crypt.encrypt(dumps(payload).encode("utf-8"))
        self.db.execute("INSERT INTO outbox (topic, payload, properties, created_at) "
                        "VALUES (?, ?, ?, ?)",
                        (route.topic, token, dumps(route.properties), now_iso()))

    def event(self, root: str, kind: str, fields: dict[str, Any],
              event_id: str | None = None) -> str:
        """Queue ``event/{kind}``; returns its event_id (a new one unless given)."""
        event_id = event_id or str(uuid.uuid4())
        payload = {"event_id": event_id, "type": kind, "occurred_at": now_iso(), **fields}
        self.add(Route("%s/event/%s" % (root, kind)), payload)
        return event_id

    def pending(self, after_id: int, limit: int) -> list[Outgoing]:
        rows = self.db.execute(
            "SELECT id, topic, payload, properties FROM outbox WHERE published_at IS NULL "
            "AND id > ? ORDER BY id LIMIT ?", (after_id, limit))
        return [Outgoing(row[0], row[1], self.crypt.decrypt(row[2]), json.loads(row[3]))
                for row in rows]

    def published(self, ids: list[int]) -> None:
        """The broker has these: their payloads go at once, as nothing sends them again and a
        key_issued's PIN or binary key must not outlive its delivery on disk."""
        self.db.executemany("UPDATE outbox SET published_at = ?, payload = X'' WHERE id = ?",
                            [(now_iso(), outgoing_id) for outgoing_id in ids])

    def prune(self, keep_s: float = 7 * 86400) -> int:
        """Forget the rows the broker confirmed long ago (their payloads went at the PUBACK)."""
        cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=keep_s)
        return self.db.execute("DELETE FROM outbox WHERE published_at IS NOT NULL AND "
                               "published_at < ?",
                               (cutoff.isoformat(timespec="seconds"),)).rowcount

    def depth(self) -> int:
        return int(self.db.execute(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0])
