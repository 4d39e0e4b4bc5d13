"""Retention on a real SQLite file: what a season of bookings leaves behind is forgotten once
[store] retention_days have passed, and nothing that still matters goes with it.

Rows are aged by writing old timestamps straight into the file; no test waits.
"""

import asyncio
import datetime
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_engine import Site, booking, confirmed

from appliance import lifecycle
from appliance.engine.backend import ISSUE, REVOKE
from appliance.store import retention
from appliance.store.retention import Pruned

DAYS = 90
NOW = datetime.datetime.now(datetime.UTC)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    site = Site(str(tmp_path))
    yield site
    site.store.close()


def days_ago(days: float) -> str:
    return (NOW - datetime.timedelta(days=days)).isoformat(timespec="seconds")


def age(site: Site, days: float, table: str, where: str = "1", *args: Any) -> None:
    """Make rows of ``table`` look ``days`` old (the inbox by arrival, others by change)."""
    column = "received_at" if table == "inbox" else "updated_at"
    with site.store.transaction():
        site.store.db.execute("UPDATE %s SET %s = ? WHERE %s" % (table, column, where),
                              (days_ago(days), *args))


def age_all(site: Site, days: float) -> None:
    for table in ("jobs", "keys", "inbox"):
        age(site, days, table)


def finish_jobs(site: Site) -> None:
    """Run every due job to its end as a backend that succeeds would."""
    events = {ISSUE: lifecycle.ISSUED, REVOKE: lifecycle.REVOKED_EVENT}
    with site.store.transaction() as tx:
        while (job := tx.jobs.claim("space", time.time() + 1, 120)) is not None:
            if job.key_id is not None and job.kind in events:
                tx.keys.move(job.key_id, events[job.kind])
            tx.jobs.done(job)


def stay(site: Site, booking_id: str) -> None:
    """A booking confirmed, its key issued, then checked out and its key revoked."""
    confirmed(site, booking_id)
    finish_jobs(site)
    site.send("booking", booking("out-" + booking_id, revision=2, status="COMPLETED",
                                 id=booking_id))
    assert site.reply()["status"] == "accepted"
    finish_jobs(site)


def prune(site: Site, limit: int = retention.BATCH) -> Pruned:
    return asyncio.run(retention.prune(site.store, DAYS, now=NOW, limit=limit))


def count(site: Site, table: str) -> int:
    return int(site.rows("SELECT count(*) AS n FROM %s" % table)[0]["n"])


def test_a_stay_past_retention_is_forgotten_but_its_history_is_kept(site: Site) -> None:
    stay(site, "B1")
    with site.store.transaction():  # what the season wrote to the logs, long ago
        site.store.db.execute("INSERT INTO audit (at, action, backend, booking_id, trigger) "
                              "VALUES (?, 'issued', 'space', 'B1', 'confirm-B1')",
                              (days_ago(400),))
        site.store.db.execute("INSERT INTO integration_log (at, backend, kind, message) "
                              "VALUES (?, 'space', 'failure', 'encoder busy')", (days_ago(400),))
    age_all(site, DAYS + 1)
    assert prune(site) == Pruned(jobs=2, keys=1, inbox=2)
    assert [count(site, table) for table in ("jobs", "keys", "inbox")] == [0, 0, 0]
    assert count(site, "audit") == count(site, "integration_log") == 1
    # The booking's revision stays: it is what makes an old revision a stale no-op.
    assert site.rows("SELECT id, revision FROM bookings") == [{"id": "B1", "revision": 2}]
    assert prune(site) == Pruned()


def test_rows_inside_retention_stay(site: Site) -> None:
    stay(site, "B1")
    age_all(site, DAYS - 1)
    assert prune(site) == Pruned()
    assert [count(site, table) for table in ("jobs", "keys", "inbox")] == [2, 1, 2]


def test_live_keys_and_waiting_jobs_stay_however_old(site: Site) -> None:
    confirmed(site, "B2")
    finish_jobs(site)  # B2 active
    confirmed(site, "B1")  # issuing, its issue job pending
    confirmed(site, "B3")
    site.send("booking", booking("out-B3", revision=2, status="CANCELLED", id="B3"))
    site.reply()  # B3 revoking, its revoke job pending
    age_all(site, 10 * DAYS)
    pruned = prune(site)
    assert (pruned.jobs, pruned.keys) == (1, 0)  # B2's finished issue job
    assert sorted((row["booking_id"], row["state"]) for row in site.key_rows()) == [
        ("B1", "issuing"), ("B2", "active"), ("B3", "revoking")]
    assert sorted(job["kind"] for job in site.jobs()) == [ISSUE, ISSUE, REVOKE]


def test_a_revoked_key_stays_while_a_job_names_it(site: Site) -> None:
    stay(site, "B1")
    [key] = site.key_rows()
    with site.store.transaction() as tx:  # e.g. a technician's retry of an old revocation
        tx.jobs.add("space", REVOKE, {}, key_id=key["id"])
    age_all(site, DAYS + 1)
    assert prune(site).keys == 0 and len(site.key_rows()) == 1
    age(site, DAYS + 1, "jobs", "state = ?", lifecycle.PENDING)
    with site.store.transaction() as tx:
        job = tx.jobs.claim("space", time.time() + 1, 120)
        assert job is not None
        tx.jobs.failed(job, "gave up")
    assert prune(site).keys == 0, "a failed job may still be retried with its key"
    age(site, DAYS + 1, "jobs")
    assert prune(site) == Pruned(jobs=1, keys=1)


def test_a_repeated_request_id_inside_retention_gets_the_stored_reply(site: Site) -> None:
    site.send("booking", booking("r-1"))
    first = site.reply()
    age(site, DAYS - 1, "inbox")
    prune(site)
    site.send("booking", booking("r-1"))
    assert site.reply() == first
    assert len(site.jobs()) == 1


def test_a_request_id_repeated_after_retention_is_a_stale_revision(site: Site) -> None:
    stay(site, "B1")
    age_all(site, DAYS + 1)
    prune(site)
    # Carried out again, but the booking's stored revision turns it into a no-op.
    site.send("booking", booking("confirm-B1", id="B1"))
    reply = site.reply()
    assert reply["status"] == "ok" and reply["data"]["stale"] is True
    assert site.key_rows() == [] and site.jobs() == []


def test_a_desk_command_waiting_for_its_job_keeps_its_inbox_row(site: Site) -> None:
    confirmed(site, "B1")
    finish_jobs(site)
    site.send("encode_card", {"request_id": "e-1", "booking_id": "B1", "encoder": "desk-1"})
    site.reply()
    age(site, DAYS + 1, "inbox")
    assert prune(site).inbox == 1  # the booking's, not the card's: its job still waits
    assert [row["request_id"] for row in site.rows("SELECT request_id FROM inbox")] == ["e-1"]


def test_a_pass_works_through_many_rows_in_small_batches(site: Site) -> None:
    for number in range(7):
        stay(site, "B%d" % number)
    age_all(site, DAYS + 1)
    with site.store.transaction() as tx:  # one batch takes no more than its limit
        assert tx.jobs.prune(retention.cutoff(DAYS, NOW), 3) == 3
    assert prune(site, limit=3) == Pruned(jobs=11, keys=7, inbox=14)
    assert [count(site, table) for table in ("jobs", "keys", "inbox")] == [0, 0, 0]


def test_the_cut_off_is_written_as_the_store_writes_its_timestamps() -> None:
    local = datetime.datetime(2027, 7, 1, 14, 0, tzinfo=datetime.timezone(
        datetime.timedelta(hours=2)))
    assert retention.cutoff(1, local) == "2027-06-30T12:00:00+00:00"
