"""Bookings and owner keys, as the PMS last described them."""

import datetime
import sqlite3
from typing import Any

from appliance.store.clock import now_iso
from appliance.store.tx import dumps


class Bookings:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def revision(self, booking_id: str) -> int | None:
        """The revision stored for ``booking_id``, None if it never came."""
        row = self.db.execute("SELECT revision FROM bookings WHERE id = ?",
                              (booking_id,)).fetchone()
        return None if row is None else int(row[0])

    def exists(self, booking_id: str) -> bool:
        return self.revision(booking_id) is not None

    def put(self, booking_id: str, revision: int, status: str, arrival: datetime.datetime,
            departure: datetime.datetime, data: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO bookings (id, revision, status, arrival, departure, data, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET revision = "
            "excluded.revision, status = excluded.status, arrival = excluded.arrival, "
            "departure = excluded.departure, data = excluded.data, updated_at = "
            "excluded.updated_at",
            (booking_id, revision, status, arrival.isoformat(), departure.isoformat(),
             dumps(data), now_iso()))


class OwnerKeys:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def exists(self, owner_key_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM owner_keys WHERE id = ?",
                               (owner_key_id,)).fetchone() is not None

    def put(self, owner_key_id: str, data: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO owner_keys (id, data, deleted, updated_at) "
                        "VALUES (?, ?, 0, ?) ON CONFLICT (id) DO UPDATE SET data = "
                        "excluded.data, deleted = 0, updated_at = excluded.updated_at",
                        (owner_key_id, dumps(data), now_iso()))

    def valid_from(self, owner_key_id: str) -> str | None:
        """When the owner key's validity began, as stored (ISO), if it is known and live."""
        row = self.db.execute("SELECT json_extract(data, '$.valid_from') FROM owner_keys "
                              "WHERE id = ? AND deleted = 0", (owner_key_id,)).fetchone()
        return None if row is None else row[0]

    def delete(self, owner_key_id: str) -> None:
        self.db.execute("UPDATE owner_keys SET deleted = 1 WHERE id = ?", (owner_key_id,))
