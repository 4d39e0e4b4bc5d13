"""What happened, for people: the append-only audit log, the integration log, small facts
kept by name (``meta``) and the door-event entries already reported (``ks_entries``)."""

import json
import sqlite3
from typing import Any

from appliance.store.clock import now_iso
from appliance.store.tx import dumps


class Audit:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, action: str, backend: str, trigger: str, *, key_id: str | None = None,
            external_id: str | None = None, booking_id: str | None = None,
            owner_key_id: str | None = None, detail: str = "") -> None:
        self.db.execute(
            "INSERT INTO audit (at, action, backend, key_id, external_id, booking_id, "
            "owner_key_id, trigger, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now_iso(), action, backend, key_id, external_id, booking_id, owner_key_id,
             trigger, detail))

    def newest(self, booking_id: str | None, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` rows (one booking's, or all), oldest first."""
        rows = self.db.execute("SELECT * FROM audit WHERE (? IS NULL OR booking_id = ?) "
                               "ORDER BY id DESC LIMIT ?", (booking_id, booking_id, limit))
        return [dict(row) for row in reversed(list(rows))]


class Integration:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, backend: str, kind: str, message: str, *, key_id: str | None = None,
            detail: dict[str, Any] | None = None) -> None:
        self.db.execute("INSERT INTO integration_log (at, backend, kind, key_id, message, "
                        "detail) VALUES (?, ?, ?, ?, ?, ?)",
                        (now_iso(), backend, kind, key_id, message, dumps(detail or {})))

    def newest(self, backend: str | None, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` rows (one backend's, or all), oldest first."""
        rows = self.db.execute("SELECT * FROM integration_log WHERE (? IS NULL OR backend = ?) "
                               "ORDER BY id DESC LIMIT ?", (backend, backend, limit))
        return [dict(row) | {"detail": json.loads(row["detail"])}
                for row in reversed(list(rows))]


class Meta:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                        "DO UPDATE SET value = excluded.value", (key, value))


class Entries:
    """Door-event entries a backend has reported, so an overlapping poll reports none twice."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def seen(self, entry_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM ks_entries WHERE id = ?",
                               (entry_id,)).fetchone() is not None

    def remember(self, entry_id: str, utc: str) -> None:
        self.db.execute("INSERT INTO ks_entries (id, utc, seen_at) VALUES (?, ?, ?)",
                        (entry_id, utc, now_iso()))

    def forget_before(self, cutoff: str) -> None:
        self.db.execute("DELETE FROM ks_entries WHERE seen_at < ?", (cutoff,))
