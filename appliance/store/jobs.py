"""Jobs: durable work for the backends, with attempts, backoff, a lease and a reply route.

Every state a job row takes comes from ``appliance.lifecycle.JOB_TRANSITIONS``. ``started``
is committed with the claim, before a job's external call: after a crash, the call may have
happened.
"""

import dataclasses
import json
import sqlite3
import time
from typing import Any

from appliance import lifecycle
from appliance.lifecycle import PENDING, RUNNING
from appliance.store.clock import now_iso
from appliance.store.messages import Route
from appliance.store.tx import dumps


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
    reply: Route | None = None
    """Where the job's final reply goes, for jobs a person waits for."""


CLAIM = ("SELECT * FROM jobs WHERE backend = ? AND state = ? AND next_attempt_at <= ? AND "
         "(key_id IS NULL OR key_id NOT IN (SELECT key_id FROM jobs WHERE state = ? AND "
         "key_id IS NOT NULL)) ORDER BY next_attempt_at, id LIMIT 1")
"""A key's jobs one after another, in order; other keys' meanwhile."""


class Jobs:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, backend: str, kind: str, payload: dict[str, Any], *,
            key_id: str | None = None, request_id: str | None = None,
            at: float | None = None, reply: Route | None = None) -> None:
        self.db.execute(
            "INSERT INTO jobs (backend, kind, key_id, request_id, payload, state, "
            "next_attempt_at, created_at, updated_at, reply_topic, reply_properties) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (backend, kind, key_id, request_id, dumps(payload),
             lifecycle.job_next(lifecycle.QUEUED_NEW, lifecycle.QUEUED),
             time.time() if at is None else at, now_iso(), now_iso(),
             None if reply is None else reply.topic,
             None if reply is None else dumps(reply.properties)))

    def claim(self, backend: str, now: float, lease_s: float) -> Job | None:
        """The oldest due job of ``backend`` whose key has no job running, leased and
        marked started (call inside a transaction).

        Started at once, in the claim's own commit: the external call follows within the
        same turn of the event loop, and a second commit just to say so cost an fsync per
        job. A crash in between makes the job look as if it may have run, which is what
        recovery assumes of every started job anyway."""
        row = self.db.execute(CLAIM, (backend, PENDING, now, RUNNING)).fetchone()
        if row is None:
            return None
        self.db.execute("UPDATE jobs SET state = ?, attempts = attempts + 1, lease_until = ?, "
                        "started = 1, updated_at = ? WHERE id = ?",
                        (lifecycle.job_next(PENDING, lifecycle.CLAIMED), now + lease_s,
                         now_iso(), row["id"]))
        # As the UPDATE above left it: one attempt more, started.
        return dataclasses.replace(_job(row), attempts=row["attempts"] + 1, started=True)

    def done(self, job: Job, event: str = lifecycle.SUCCEEDED) -> None:
        self.db.execute("UPDATE jobs SET state = ?, lease_until = NULL, last_error = NULL, "
                        "updated_at = ? WHERE id = ?",
                        (lifecycle.job_next(RUNNING, event), now_iso(), job.id))

    def retry(self, job: Job, at: float, error: str, event: str = lifecycle.RETRY) -> None:
        self.db.execute("UPDATE jobs SET state = ?, next_attempt_at = ?, lease_until = NULL, "
                        "started = 0, last_error = ?, updated_at = ? WHERE id = ?",
                        (lifecycle.job_next(RUNNING, event), at, error, now_iso(), job.id))

    def failed(self, job: Job, error: str) -> None:
        self.db.execute("UPDATE jobs SET state = ?, lease_until = NULL, last_error = ?, "
                        "updated_at = ? WHERE id = ?",
                        (lifecycle.job_next(RUNNING, lifecycle.GAVE_UP), error, now_iso(),
                         job.id))

    def supersede(self, key_id: str, kind: str) -> None:
        """Drop the key's ``kind`` jobs not yet begun: they are planned again."""
        lifecycle.job_next(PENDING, lifecycle.SUPERSEDED)  # the table allows it: a row goes
        self.db.execute("DELETE FROM jobs WHERE key_id = ? AND kind = ? AND state = ?",
                        (key_id, kind, PENDING))

    def queued(self, key_id: str, kinds: tuple[str, ...]) -> bool:
        """Whether a job of ``kinds`` waits (or runs) for the key."""
        return self.db.execute(
            "SELECT 1 FROM jobs WHERE key_id = ? AND kind IN (SELECT value FROM json_each(?)) "
            "AND state IN (?, ?)", (key_id, dumps(kinds), *lifecycle.WAITING)).fetchone() \
            is not None

    def listing(self, everything: bool = False) -> list[dict[str, Any]]:
        """Waiting and failed jobs (``everything``: done ones too), with whose key they
        concern, oldest first."""
        rows = self.db.execute(
            "SELECT jobs.id, jobs.backend, jobs.kind, jobs.state, jobs.attempts, "
            "jobs.next_attempt_at, jobs.last_error, jobs.key_id, jobs.request_id, "
            "jobs.updated_at, keys.booking_id, keys.owner_key_id, keys.key_type "
            "FROM jobs LEFT JOIN keys ON keys.id = jobs.key_id "
            "WHERE ? OR jobs.state IN (?, ?, ?) ORDER BY jobs.id",
            (everything, PENDING, RUNNING, lifecycle.FAILED))
        return [dict(row) for row in rows]

    def get(self, job_id: int) -> tuple[Job, str] | None:
        """The job and its state."""
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else (_job(row), str(row["state"]))

    def ask(self, job: Job, state: str, event: str, now: float, note: str) -> None:
        """A technician's ``event`` (retry_asked, cancelled) on a job in ``state``."""
        self.db.execute("UPDATE jobs SET state = ?, next_attempt_at = ?, last_error = "
                        "coalesce(?, last_error), updated_at = ? WHERE id = ?",
                        (lifecycle.job_next(state, event), now,
                         note if event == lifecycle.CANCELLED else None, now_iso(), job.id))

    def interrupted(self) -> list[Job]:
        """Jobs a previous run left RUNNING: it died holding them."""
        rows = self.db.execute("SELECT * FROM jobs WHERE state = ? ORDER BY id", (RUNNING,))
        return [_job(row) for row in rows]

    def follow_clock(self, jumped_s: float, fixed_kind: str) -> int:
        """Move every waiting job's next attempt with a wall-clock step of ``jumped_s``,
        so a retry due in 5 minutes is still due in 5 minutes, not in an hour and 5. The
        first attempt of ``fixed_kind`` keeps its time: it means a moment of the stay."""
        return self.db.execute("UPDATE jobs SET next_attempt_at = next_attempt_at + ? WHERE "
                               "state = ? AND NOT (kind = ? AND attempts = 0)",
                               (jumped_s, PENDING, fixed_kind)).rowcount

    def bound(self, now: float, latest: float, fixed_kind: str) -> int:
        """Waiting jobs due after ``latest`` due ``now`` instead, but the first attempt of
        ``fixed_kind`` (see ``follow_clock``)."""
        return self.db.execute("UPDATE jobs SET next_attempt_at = ? WHERE state = ? AND "
                               "next_attempt_at > ? AND NOT (kind = ? AND attempts = 0)",
                               (now, PENDING, latest, fixed_kind)).rowcount

    def next_due(self, backend: str) -> float | None:
        row = self.db.execute("SELECT min(next_attempt_at) FROM jobs WHERE backend = ? AND "
                              "state = ?", (backend, PENDING)).fetchone()
        return None if row[0] is None else float(row[0])

    def depths(self) -> dict[str, int]:
        rows = self.db.execute("SELECT backend, count(*) FROM jobs WHERE state IN (?, ?) "
                               "GROUP BY backend", lifecycle.WAITING)
        return {row[0]: row[1] for row in rows}

    def prune(self, before: str, limit: int) -> int:
        """Forget up to ``limit`` finished jobs last changed before ``before`` (ISO UTC)."""
        return self.db.execute(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN (?, ?) AND "
            "updated_at < ? LIMIT ?)", (*lifecycle.FINISHED, before, limit)).rowcount

    def last_errors(self) -> dict[str, str]:
        rows = self.db.execute("SELECT backend, last_error FROM jobs WHERE last_error IS NOT "
                               "NULL ORDER BY updated_at, id")
        return {row[0]: row[1] for row in rows}


def _job(row: sqlite3.Row) -> Job:
    reply = None
    if row["reply_topic"] is not None:
        reply = Route(row["reply_topic"], json.loads(row["reply_properties"] or "{}"))
    return Job(row["id"], row["backend"], row["kind"], row["key_id"], row["request_id"],
               json.loads(row["payload"]), row["attempts"], bool(row["started"]), reply)
