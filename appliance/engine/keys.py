"""Desired keys versus known keys: the convergence step every state change goes through.

A holder (a booking or an owner key) that should have access gets, per backend, one live key
with its units and validity; one that should not has its live keys revoked. The difference is
written as jobs in the caller's transaction, so the state change and its work commit together.
"""

import json
import sqlite3
import time
import uuid
from collections.abc import Mapping

from appliance import lifecycle
from appliance.engine.backend import (
    DELIVER,
    ISSUE,
    REVOKE,
    UPDATE,
    Backend,
    Holder,
    KeyRow,
    PlannedKey,
)
from appliance.lifecycle import LIVE, PENDING
from appliance.store.db import now_iso
from appliance.store.records import dumps, job_add


def key_from_row(row: sqlite3.Row) -> KeyRow:
    return KeyRow(row["id"], row["backend"], row["booking_id"], row["owner_key_id"],
                  tuple(json.loads(row["units"])), row["valid_from"], row["valid_until"],
                  row["state"], json.loads(row["external_ids"]), row["key_type"],
                  json.loads(row["plan"]))


def load_key(db: sqlite3.Connection, key_id: str | None) -> KeyRow | None:
    if key_id is None:
        return None
    row = db.execute("SELECT * FROM keys WHERE id = ?", (key_id,)).fetchone()
    return None if row is None else key_from_row(row)


def holder_keys(db: sqlite3.Connection, booking_id: str | None,
                owner_key_id: str | None) -> list[KeyRow]:
    if booking_id is not None:
        rows = db.execute("SELECT * FROM keys WHERE booking_id = ? ORDER BY created_at",
                          (booking_id,))
    else:
        rows = db.execute("SELECT * FROM keys WHERE owner_key_id = ? ORDER BY created_at",
                          (owner_key_id,))
    return [key_from_row(row) for row in rows]



def converge(db: sqlite3.Connection, backends: Mapping[str, Backend], trigger: str,
             holder: Holder, active: bool, reason: str = "") -> int:
    """Write the jobs that bring the holder's keys to what they should be; returns how many.

    ``active``: the holder should have access now (a confirmed booking, a live owner key).
    """
    planned: dict[tuple[str, str], PlannedKey] = {}
    if active:
        for backend in backends.values():
            for key in backend.plan(holder):
                planned[key.backend, key.key_type] = key
    jobs = 0
    booking_id, owner_key_id = holder.booking_id, holder.owner_key_id
    live = [key for key in holder_keys(db, booking_id, owner_key_id) if key.state in LIVE]
    for known in live:
        wanted = planned.pop((known.backend, known.key_type), None)
        if wanted is None:
            # An owner key changed to units without this backend has no booking status.
            jobs += revoke(db, known, trigger, reason or "no_longer_needed")
        elif _differs(known, wanted):
            _update(db, known, wanted, trigger)
            jobs += 1
    for wanted in planned.values():
        _insert(db, wanted, trigger, booking_id, owner_key_id)
        jobs += 1
    return jobs


def revoke(db: sqlite3.Connection, key: KeyRow, trigger: str, reason: str) -> int:
    move(db, key.id, lifecycle.REVOKE)
    job_add(db, key.backend, REVOKE, {"reason": reason, "trigger": trigger}, key_id=key.id)
    return 1


def move(db: sqlite3.Connection, key_id: str, event: str) -> str:
    """Apply ``event`` to the key's state as stored now; returns the new state."""
    row = db.execute("SELECT state FROM keys WHERE id = ?", (key_id,)).fetchone()
    state = lifecycle.key_next(row[0], event)
    db.execute("UPDATE keys SET state = ?, updated_at = ? WHERE id = ?",
               (state, now_iso(), key_id))
    return state


def _differs(key: KeyRow, want: PlannedKey) -> bool:
    return (key.units != want.units or key.valid_from != want.valid_from.isoformat()
            or key.valid_until != want.valid_until.isoformat() or key.plan != _plan(want))


def _plan(want: PlannedKey) -> dict[str, object]:
    """The key data as stored: with the delivery time, so a new one is a change."""
    if want.deliver_at is None:
        return want.plan
    return want.plan | {"deliver_at": want.deliver_at}


def _update(db: sqlite3.Connection, key: KeyRow, want: PlannedKey, trigger: str) -> None:
    db.execute("UPDATE keys SET units = ?, valid_from = ?, valid_until = ?, plan = ?, "
               "updated_at = ? WHERE id = ?",
               (dumps(list(want.units)), want.valid_from.isoformat(),
                want.valid_until.isoformat(), dumps(_plan(want)), now_iso(), key.id))
    # What the key was, so the backend can tell the PMS what changed (dates, rooms...).
    before = {"units": list(key.units), "valid_from": key.valid_from,
              "valid_until": key.valid_until, "plan": key.plan}
    job_add(db, key.backend, UPDATE, {"trigger": trigger, "before": before}, key_id=key.id)
    _schedule(db, key.id, want)


def _schedule(db: sqlite3.Connection, key_id: str, want: PlannedKey) -> None:
    """(Re)plan the key's automatic delivery; a delivery already made is the job's to judge."""
    db.execute("DELETE FROM jobs WHERE key_id = ? AND kind = ? AND state = ?",
               (key_id, DELIVER, PENDING))
    if want.deliver_at is not None:
        job_add(db, want.backend, DELIVER, {}, key_id=key_id,
                at=max(time.time(), want.deliver_at))


def _insert(db: sqlite3.Connection, want: PlannedKey, trigger: str, booking_id: str | None,
            owner_key_id: str | None) -> None:
    key_id = str(uuid.uuid4())
    db.execute("INSERT INTO keys (id, backend, key_type, booking_id, owner_key_id, units, "
               "valid_from, valid_until, state, plan, created_at, updated_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (key_id, want.backend, want.key_type, booking_id, owner_key_id,
                dumps(list(want.units)), want.valid_from.isoformat(),
                want.valid_until.isoformat(),
                lifecycle.key_next(lifecycle.NEW, lifecycle.PLANNED), dumps(_plan(want)),
                now_iso(), now_iso()))
    job_add(db, want.backend, ISSUE, {"trigger": trigger}, key_id=key_id)
    _schedule(db, key_id, want)
