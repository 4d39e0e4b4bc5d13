"""Every statement on the path of a command runs on an index, so a site with 100,000 bookings
behind it answers as fast as an empty one. SQLite's query plans are deterministic for a given
schema (no ANALYZE is run), so the plans themselves are asserted, not timings.

The statements are the ones the engine really executes (captured with SQLite's trace hook)
while a booking is confirmed, its key issued, the booking checked out and its key revoked,
the outbox published and the status computed, a card held to a Space door and a PIN typed at
a KS lock looked up."""

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_engine import Site, _claim, _outcome, booking

from appliance.engine.backend import KeyRow

BIG_TABLES = {"jobs", "keys", "inbox", "outbox", "bookings", "owner_keys", "audit",
              "integration_log"}
"""Tables that grow with every booking; a full scan of one grows the cost per command."""


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[Site, list[str]]]:
    site = Site(str(tmp_path))
    statements: list[str] = []
    site.store.db.set_trace_callback(statements.append)
    yield site, statements
    site.store.close()


def _day(site: Site) -> None:
    """A booking's life through the engine and the job runner, as the service drives it."""
    site.send("booking", booking("confirm"))
    job = _claim(site, "issue_key")
    site.runner.record.succeeded(job, _key_of_b1(site), _outcome("issued"))
    site.send("booking", booking("check-out", revision=2, status="COMPLETED"))
    site.runner.record.succeeded(_claim(site, "revoke_key"), _key_of_b1(site), _outcome("revoked"))
    site.send("booking", booking("check-out", revision=2, status="COMPLETED"))  # repeated
    rows = site.store.read.outbox.pending(0, 100)
    with site.store.transaction() as tx:
        tx.outbox.published([row.id for row in rows])
    site.store.read.outbox.depth()
    site.store.read.jobs.depths()
    site.store.read.jobs.next_due("space")
    site.store.read.keys.at_doors("space", "2026-01-01T00:00:00+00:00")  # a card at a door
    site.store.read.keys.by_external_id("ks", "platform_user_id", "u-1")  # a PIN at a lock
    with site.store.transaction() as tx:
        tx.jobs.claim("space", time.time(), 60)


def _key_of_b1(site: Site) -> KeyRow:
    return site.store.read.keys.of_holder("B1", None)[0]


def _scans(db: sqlite3.Connection, statement: str) -> list[str]:
    """The big tables ``statement`` reads from start to end."""
    words = statement.split()
    if not words or words[0].upper() not in ("SELECT", "UPDATE", "DELETE", "INSERT"):
        return []
    plan = db.execute("EXPLAIN QUERY PLAN " + statement).fetchall()
    scans = []
    for row in plan:
        detail = row[3].split()
        if detail[0] == "SCAN" and detail[1] in BIG_TABLES:
            scans.append(row[3])
    return scans


def test_every_statement_of_a_booking_day_uses_an_index(
        traced: tuple[Site, list[str]]) -> None:
    site, statements = traced
    _day(site)
    assert len(statements) > 20  # the trace saw the day, not nothing
    site.store.db.set_trace_callback(None)
    scanned = {statement: scans for statement in statements
               if (scans := _scans(site.store.db, statement))}
    assert scanned == {}


def test_the_check_finds_a_scan_when_an_index_is_missing(
        traced: tuple[Site, list[str]]) -> None:
    site, _statements = traced
    site.store.db.set_trace_callback(None)
    site.store.db.execute("DROP INDEX jobs_key")
    site.store.db.execute("DROP INDEX jobs_state")
    assert _scans(site.store.db, "DELETE FROM jobs WHERE key_id = 'k' AND kind = 'issue_key' "
                  "AND state = 'pending'") == ["SCAN jobs"]
