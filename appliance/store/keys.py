"""Keys: every key the appliance knows of, per backend, and its life-cycle state.

A key's state changes only through ``appliance.lifecycle``: ``add`` plans it, ``move``
applies an event and returns the new state. ``plan`` (the key data a backend prepared) and
``external_ids`` (what the backend holds it under) are JSON here, at the store's edge; each
backend reads them into its own typed record.
"""

import dataclasses
import datetime
import json
import sqlite3
import uuid
from typing import Any

from appliance import lifecycle
from appliance.store.clock import now_iso
from appliance.store.tx import Crypt, dumps


@dataclasses.dataclass(frozen=True)
class KeyRow:
    """A key as the store knows it."""

    id: str
    backend: str
    booking_id: str | None
    owner_key_id: str | None
    units: tuple[str, ...]
    valid_from: datetime.datetime
    valid_until: datetime.datetime
    state: str
    external_ids: dict[str, Any]
    key_type: str = ""
    plan: dict[str, Any] = dataclasses.field(default_factory=dict)
    has_secret: bool = False
    announced: bool = False
    """An event has named this key to the PMS (key_issued, key_updated, card_encoded)."""

    def holder(self) -> dict[str, Any]:
        """``booking_id`` or ``owner_key_id``: whose key it is, as events name it."""
        if self.booking_id is not None:
            return {"booking_id": self.booking_id}
        return {"owner_key_id": self.owner_key_id}


STRANDED = ("SELECT * FROM keys WHERE state = ? AND NOT EXISTS (SELECT 1 FROM jobs WHERE "
            "jobs.key_id = keys.id AND jobs.kind IN (SELECT value FROM json_each(?)) AND "
            "jobs.state IN (?, ?))")
# Any job, finished or not, keeps its key: `keybridge jobs --all` names the key's holder and
# `keybridge jobs retry` runs a failed job with its key. Jobs are pruned first, so a revoked
# key follows its last job in the same pass. Only the jobs of old revoked keys are collected:
# a list of every job's key would cost a Pi a second at 100,000 jobs (jobs has no key index).
PRUNE = ("DELETE FROM keys WHERE rowid IN (SELECT rowid FROM keys WHERE state = ?1 AND "
         "updated_at < ?2 AND id NOT IN (SELECT key_id FROM jobs WHERE key_id IN (SELECT id "
         "FROM keys WHERE state = ?1 AND updated_at < ?2)) LIMIT ?3)")
OF_BOOKING = "SELECT * FROM keys WHERE booking_id = ? ORDER BY created_at"
OF_OWNER_KEY = "SELECT * FROM keys WHERE owner_key_id = ? ORDER BY created_at"
OF_BACKEND = "SELECT * FROM keys WHERE backend = ? ORDER BY created_at"
AT_DOORS = ("SELECT * FROM keys WHERE state IN (?, ?, ?) AND backend = ? UNION ALL "
            "SELECT * FROM keys WHERE state = ? AND updated_at >= ? AND backend = ? "
            "ORDER BY created_at DESC")
# The JSON path is written in, not bound: SQLite uses an index on an expression only for that
# very expression (schema 10 indexes platform_user_id's, a KS door event's guest).
BY_EXTERNAL_ID = {"platform_user_id": "SELECT * FROM keys WHERE json_extract(external_ids, "
                                      "'$.platform_user_id') = ? AND backend = ? "
                                      "ORDER BY created_at DESC"}
OF_BACKEND_NEWEST = ("SELECT * FROM keys WHERE backend = ? ORDER BY updated_at DESC, "
                     "created_at DESC")


class Keys:
    def __init__(self, db: sqlite3.Connection, crypt: Crypt) -> None:
        self.db = db
        self.crypt = crypt

    def get(self, key_id: str | None) -> KeyRow | None:
        if key_id is None:
            return None
        row = self.db.execute("SELECT * FROM keys WHERE id = ?", (key_id,)).fetchone()
        return None if row is None else _key(row)

    def of_holder(self, booking_id: str | None, owner_key_id: str | None) -> list[KeyRow]:
        if booking_id is not None:
            rows = self.db.execute(OF_BOOKING, (booking_id,))
        else:
            rows = self.db.execute(OF_OWNER_KEY, (owner_key_id,))
        return [_key(row) for row in rows]

    def of_backend(self, backend: str, newest_first: bool = False) -> list[KeyRow]:
        rows = self.db.execute(OF_BACKEND_NEWEST if newest_first else OF_BACKEND, (backend,))
        return [_key(row) for row in rows]

    def live(self, backend: str | None = None) -> list[KeyRow]:
        rows = self.db.execute("SELECT * FROM keys WHERE state IN (?, ?) AND (? IS NULL OR "
                               "backend = ?) ORDER BY created_at",
                               (*lifecycle.LIVE, backend, backend))
        return [_key(row) for row in rows]

    def listing(self, booking_id: str | None, everything: bool) -> list[KeyRow]:
        """For ``keybridge keys``: one booking's or all, revoked ones only with ``everything``."""
        states = lifecycle.KEY_STATES if everything else (*lifecycle.LIVE, lifecycle.REVOKING)
        rows = self.db.execute(
            "SELECT * FROM keys WHERE (? IS NULL OR booking_id = ?) AND state IN (SELECT value "
            "FROM json_each(?)) ORDER BY created_at", (booking_id, booking_id, dumps(states)))
        return [_key(row) for row in rows]

    def at_doors(self, backend: str, revoked_since: str) -> list[KeyRow]:
        """Keys of ``backend`` that may still be held to a door, newest first: every key not
        revoked, and those revoked since ``revoked_since`` (a card kept after check-out).
        On the state index: a door event never reads every key the store has had."""
        rows = self.db.execute(AT_DOORS, (*lifecycle.LIVE, lifecycle.REVOKING, backend,
                                          lifecycle.REVOKED, revoked_since, backend))
        return [_key(row) for row in rows]

    def by_external_id(self, backend: str, field: str, value: str) -> KeyRow | None:
        """The newest key of ``backend`` whose ``external_ids[field]`` is ``value``; the
        fields asked for are those of ``BY_EXTERNAL_ID``, each on an index of its own."""
        row = self.db.execute(BY_EXTERNAL_ID[field], (value, backend)).fetchone()
        return None if row is None else _key(row)

    def stranded(self, state: str, kinds: tuple[str, ...]) -> list[KeyRow]:
        """Keys in ``state`` with no job of ``kinds`` waiting: their job gave up."""
        rows = self.db.execute(STRANDED, (state, dumps(kinds), *lifecycle.WAITING))
        return [_key(row) for row in rows]

    def prune(self, before: str, limit: int) -> int:
        """Forget up to ``limit`` keys revoked before ``before`` (ISO UTC) that no job names;
        their secret goes with them. The audit log keeps what they were."""
        return self.db.execute(PRUNE, (lifecycle.REVOKED, before, limit)).rowcount

    def add(self, backend: str, key_type: str, booking_id: str | None,
            owner_key_id: str | None, units: tuple[str, ...], valid_from: datetime.datetime,
            valid_until: datetime.datetime, plan: dict[str, Any]) -> str:
        key_id = str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO keys (id, backend, key_type, booking_id, owner_key_id, units, "
            "valid_from, valid_until, state, plan, created_at, updated_at, announced) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (key_id, backend, key_type, booking_id, owner_key_id, dumps(list(units)),
             valid_from.isoformat(), valid_until.isoformat(),
             lifecycle.key_next(lifecycle.NEW, lifecycle.PLANNED), dumps(plan), now_iso(),
             now_iso()))
        return key_id

    def replan(self, key_id: str, units: tuple[str, ...], valid_from: datetime.datetime,
               valid_until: datetime.datetime, plan: dict[str, Any]) -> None:
        self.db.execute("UPDATE keys SET units = ?, valid_from = ?, valid_until = ?, plan = ?, "
                        "updated_at = ? WHERE id = ?",
                        (dumps(list(units)), valid_from.isoformat(), valid_until.isoformat(),
                         dumps(plan), now_iso(), key_id))

    def move(self, key_id: str, event: str) -> str:
        """Apply ``event`` to the key's state as stored now; returns the new state."""
        row = self.db.execute("SELECT state FROM keys WHERE id = ?", (key_id,)).fetchone()
        state = lifecycle.key_next(row[0], event)
        self.db.execute("UPDATE keys SET state = ?, updated_at = ? WHERE id = ?",
                        (state, now_iso(), key_id))
        return state

    def reissue(self, key_id: str) -> str:
        """A new secret must be minted: the old one is forgotten with the state change."""
        self.db.execute("UPDATE keys SET secret = NULL WHERE id = ?", (key_id,))
        return self.move(key_id, lifecycle.REISSUE)

    def set_ids(self, key_id: str, ids: dict[str, Any]) -> None:
        self.db.execute("UPDATE keys SET external_ids = ?, updated_at = ? WHERE id = ?",
                        (dumps(ids), now_iso(), key_id))

    def announce(self, key_id: str) -> None:
        self.db.execute("UPDATE keys SET announced = 1 WHERE id = ?", (key_id,))

    def set_secret(self, key_id: str, secret: bytes) -> None:
        self.db.execute("UPDATE keys SET secret = ? WHERE id = ?",
                        (self.crypt.encrypt(secret), key_id))

    def secret(self, key_id: str) -> bytes | None:
        row = self.db.execute("SELECT secret FROM keys WHERE id = ?", (key_id,)).fetchone()
        return None if row is None or row[0] is None else self.crypt.decrypt(row[0])


def _key(row: sqlite3.Row) -> KeyRow:
    return KeyRow(row["id"], row["backend"], row["booking_id"], row["owner_key_id"],
                  tuple(json.loads(row["units"])),
                  datetime.datetime.fromisoformat(row["valid_from"]),
                  datetime.datetime.fromisoformat(row["valid_until"]), row["state"],
                  json.loads(row["external_ids"]), row["key_type"], json.loads(row["plan"]),
                  row["secret"] is not None, bool(row["announced"]))
