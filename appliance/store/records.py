"""The rows the engine reads and writes: inbox, outbox, jobs, keys, audit, integration log.

Functions that change something take the open transaction (``db``) so the caller decides
what commits together; that is how a state change, its jobs and its events land as one.
"""

import dataclasses
import datetime
import json
import sqlite3
import time
import uuid
from typing import Any

from appliance import lifecycle
from appliance.lifecycle import PENDING, RUNNING
from appliance.store.db import Store, now_iso


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


# -- inbox ---------------------------------------------------------------------------------

def inbox_reply(store: Store, request_id: str) -> dict[str, Any] | None:
    row = store.db.execute("SELECT reply FROM inbox WHERE request_id = ?",
                           (request_id,)).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def inbox_add(db: sqlite3.Connection, request_id: str, command: str, payload: dict[str, Any],
              reply: dict[str, Any]) -> None:
    db.execute("INSERT INTO inbox (request_id, command, received_at, payload, reply) "
               "VALUES (?, ?, ?, ?, ?)",
               (request_id, command, now_iso(), dumps(payload), dumps(reply)))


def inbox_set_reply(db: sqlite3.Connection, request_id: str, reply: dict[str, Any]) -> None:
    db.execute("UPDATE inbox SET reply = ? WHERE request_id = ?", (dumps(reply), request_id))


# -- outbox --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Outgoing:
    id: int
    topic: str
    payload: bytes
    properties: dict[str, str]


def outbox_add(store: Store, db: sqlite3.Connection, topic: str, payload: dict[str, Any],
               properties: dict[str, str] | None = None) -> None:
    token = store.encrypt(dumps(payload).encode("utf-8"))
    db.execute("INSERT INTO outbox (topic, payload, properties, created_at) VALUES (?, ?, ?, ?)",
               (topic, token, dumps(properties or {}), now_iso()))


def event(store: Store, db: sqlite3.Connection, root: str, kind: str,
          fields: dict[str, Any], event_id: str | None = None) -> str:
    """Queue ``event/{kind}``; returns its event_id (a new one unless given)."""
    event_id = event_id or str(uuid.uuid4())
    payload = {"event_id": event_id, "type": kind, "occurred_at": now_iso(), **fields}
    outbox_add(store, db, "%s/event/%s" % (root, kind), payload)
    return event_id


def job_event_id(job_id: int, kind: str, attempt: int = 0) -> str:
    """The same id every time the same job reports the same thing: a job repeated after a
    crash (it may have run, its end was not committed) publishes what the PMS already has."""
    return str(uuid.uuid5(EVENT_NAMESPACE, "job/%d/%s/%d" % (job_id, kind, attempt)))


EVENT_NAMESPACE = uuid.UUID("6f1d8a52-0b0e-4c59-9a57-4d3c2b8e7a10")


def outbox_pending(store: Store, after_id: int, limit: int) -> list[Outgoing]:
    rows = store.db.execute(
        "SELECT id, topic, payload, properties FROM outbox WHERE published_at IS NULL "
        "AND id > ? ORDER BY id LIMIT ?", (after_id, limit))
    return [Outgoing(row[0], row[1], store.decrypt(row[2]), json.loads(row[3])) for row in rows]


def outbox_published(store: Store, ids: list[int]) -> None:
    with store.transaction() as db:
        db.executemany("UPDATE outbox SET published_at = ? WHERE id = ?",
                       [(now_iso(), outgoing_id) for outgoing_id in ids])


def outbox_prune(store: Store, keep_s: float = 7 * 86400) -> int:
    """Forget what the broker confirmed long ago: a published PIN need not stay on disk."""
    cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=keep_s)
    with store.transaction() as db:
        return db.execute("DELETE FROM outbox WHERE published_at IS NOT NULL AND "
                          "published_at < ?", (cutoff.isoformat(timespec="seconds"),)).rowcount


def outbox_depth(store: Store) -> int:
    return int(store.db.execute(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0])


# -- jobs ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Job:
    id: int
    backend: str
    kind: str
    key_id: str | None
    request_id: str | None
    payload: dict[str, Any]
    attempts: int
    started: bool


def job_add(db: sqlite3.Connection, backend: str, kind: str, payload: dict[str, Any], *,
            key_id: str | None = None, request_id: str | None = None,
            at: float | None = None) -> None:
    db.execute("INSERT INTO jobs (backend, kind, key_id, request_id, payload, state, "
               "next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (backend, kind, key_id, request_id, dumps(payload),
                lifecycle.job_next(lifecycle.QUEUED_NEW, lifecycle.QUEUED),
                time.time() if at is None else at, now_iso(), now_iso()))


def job_claim(store: Store, backend: str, now: float, lease_s: float) -> Job | None:
    """The oldest due job of ``backend``, leased to the caller; None if nothing is due."""
    with store.transaction() as db:
        row = db.execute("SELECT * FROM jobs WHERE backend = ? AND state = ? AND "
                         "next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1",
                         (backend, PENDING, now)).fetchone()
        if row is None:
            return None
        db.execute("UPDATE jobs SET state = ?, attempts = attempts + 1, lease_until = ?, "
                   "started = 0, updated_at = ? WHERE id = ?",
                   (lifecycle.job_next(PENDING, lifecycle.CLAIMED), now + lease_s, now_iso(),
                    row["id"]))
    # As the UPDATE above left it: one attempt more, nothing started yet.
    return dataclasses.replace(_job(row), attempts=row["attempts"] + 1, started=False)


def job_started(store: Store, job: Job) -> None:
    """Committed before the external call: after a crash it may have happened."""
    with store.transaction() as db:
        db.execute("UPDATE jobs SET started = 1 WHERE id = ?", (job.id,))


def job_done(db: sqlite3.Connection, job: Job, event: str = lifecycle.SUCCEEDED) -> None:
    db.execute("UPDATE jobs SET state = ?, lease_until = NULL, last_error = NULL, "
               "updated_at = ? WHERE id = ?",
               (lifecycle.job_next(RUNNING, event), now_iso(), job.id))


def job_retry(db: sqlite3.Connection, job: Job, at: float, error: str,
              event: str = lifecycle.RETRY) -> None:
    db.execute("UPDATE jobs SET state = ?, next_attempt_at = ?, lease_until = NULL, "
               "started = 0, last_error = ?, updated_at = ? WHERE id = ?",
               (lifecycle.job_next(RUNNING, event), at, error, now_iso(), job.id))


def job_failed(db: sqlite3.Connection, job: Job, error: str) -> None:
    db.execute("UPDATE jobs SET state = ?, lease_until = NULL, last_error = ?, updated_at = ? "
               "WHERE id = ?",
               (lifecycle.job_next(RUNNING, lifecycle.GAVE_UP), error, now_iso(), job.id))


def jobs_interrupted(store: Store) -> list[Job]:
    """Jobs a previous run left RUNNING: it died holding them."""
    rows = store.db.execute("SELECT * FROM jobs WHERE state = ? ORDER BY id", (RUNNING,))
    return [_job(row) for row in rows]


def _job(row: sqlite3.Row) -> Job:
    return Job(row["id"], row["backend"], row["kind"], row["key_id"], row["request_id"],
               json.loads(row["payload"]), row["attempts"], bool(row["started"]))


def job_depths(store: Store) -> dict[str, int]:
    rows = store.db.execute("SELECT backend, count(*) FROM jobs WHERE state IN (?, ?) "
                            "GROUP BY backend", (PENDING, RUNNING))
    return {row[0]: row[1] for row in rows}


def job_last_errors(store: Store) -> dict[str, str]:
    rows = store.db.execute("SELECT backend, last_error FROM jobs WHERE last_error IS NOT NULL "
                            "ORDER BY updated_at, id")
    return {row[0]: row[1] for row in rows}


# -- keys, audit, integration log ---------------------------------------------------------

def audit(db: sqlite3.Connection, action: str, backend: str, trigger: str, *,
          key_id: str | None = None, external_id: str | None = None,
          booking_id: str | None = None, owner_key_id: str | None = None,
          detail: str = "") -> None:
    db.execute("INSERT INTO audit (at, action, backend, key_id, external_id, booking_id, "
               "owner_key_id, trigger, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (now_iso(), action, backend, key_id, external_id, booking_id, owner_key_id,
                trigger, detail))


def integration(db: sqlite3.Connection, backend: str, kind: str, message: str, *,
                key_id: str | None = None, detail: dict[str, Any] | None = None) -> None:
    db.execute("INSERT INTO integration_log (at, backend, kind, key_id, message, detail) "
               "VALUES (?, ?, ?, ?, ?, ?)",
               (now_iso(), backend, kind, key_id, message, dumps(detail or {})))


# -- key rotation ----------------------------------------------------------------------------

REENCRYPT = (("SELECT rowid, secret FROM keys WHERE secret IS NOT NULL",
              "UPDATE keys SET secret = ? WHERE rowid = ?"),
             ("SELECT rowid, payload FROM outbox WHERE published_at IS NULL",
              "UPDATE outbox SET payload = ? WHERE rowid = ?"))
BATCH = 100


def reencrypt(store: Store) -> int:
    """Every stored secret under the newest key, in short transactions so the running
    service is never held up; returns how many."""
    assert store.keyring is not None
    count = 0
    for select, update in REENCRYPT:
        rows = store.query(select)
        for start in range(0, len(rows), BATCH):
            with store.transaction() as db:
                db.executemany(update, [(store.keyring.rotate(token), rowid)
                                        for rowid, token in rows[start:start + BATCH]])
            count += len(rows[start:start + BATCH])
    return count
