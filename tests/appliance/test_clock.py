"""Clock steps: seen against the monotonic clock, and waiting jobs moved with them."""

import datetime
import time
from pathlib import Path

from appliance.store import Keyring, Store
from appliance.store.clock import STEP_S, ClockWatch
from appliance.store.secrets import create_key_file


class Clocks:
    def __init__(self) -> None:
        self.wall = 1_800_000_000.0
        self.mono = 500.0

    def pass_s(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def watch(clocks: Clocks) -> ClockWatch:
    return ClockWatch(lambda: clocks.wall, lambda: clocks.mono)


def test_time_passing_and_slewing_are_no_step_but_ntp_stepping_an_hour_is() -> None:
    clocks = Clocks()
    seen = watch(clocks)
    clocks.pass_s(3600)
    assert seen.step() == 0.0
    clocks.wall += STEP_S / 2  # slewed a little at a time, never a step
    assert seen.step() == 0.0
    clocks.wall -= 3600 + STEP_S / 2
    assert seen.step() == -3600 - STEP_S / 2
    assert seen.step() == 0.0  # said once
    clocks.wall += 3600
    assert seen.step() == 3600


def store(tmp_path: Path) -> Store:
    create_key_file(str(tmp_path / "k"))
    return Store(str(tmp_path / "db"), Keyring(str(tmp_path / "k")))


def test_a_step_moves_retries_but_not_a_delivery_set_for_a_day_of_the_stay(
        tmp_path: Path) -> None:
    with store(tmp_path) as db:
        now = time.time()
        deliver_at = now + 2 * 86400  # "send the mobile key two days before arrival"
        with db.transaction() as tx:
            tx.jobs.add("space", "deliver_key", {}, key_id="k1", at=deliver_at)
            tx.jobs.add("ks", "issue_key", {}, key_id="k2", at=now + 300)  # a retry
        with db.transaction() as tx:
            assert tx.jobs.follow_clock(-3600.0, "deliver_key") == 1
        due = dict(db.query("SELECT kind, next_attempt_at FROM jobs"))
        assert due["deliver_key"] == deliver_at
        assert due["issue_key"] == now + 300 - 3600  # still due 5 minutes after "now"
    assert datetime.datetime.fromtimestamp(deliver_at)  # a real moment, not an offset


def test_no_waiting_job_is_due_later_than_the_longest_retry_but_a_delivery(
        tmp_path: Path) -> None:
    with store(tmp_path) as db:
        now = time.time()
        with db.transaction() as tx:
            tx.jobs.add("space", "deliver_key", {}, key_id="k1", at=now + 86400)
            tx.jobs.add("ks", "issue_key", {}, key_id="k2", at=now + 3600 + 60)
            tx.jobs.add("ks", "revoke_key", {}, key_id="k3", at=now + 60)
        with db.transaction() as tx:
            assert tx.jobs.bound(now, now + 900, "deliver_key") == 1
        due = dict(db.query("SELECT kind, next_attempt_at FROM jobs"))
        assert due == {"deliver_key": now + 86400, "issue_key": now, "revoke_key": now + 60}
