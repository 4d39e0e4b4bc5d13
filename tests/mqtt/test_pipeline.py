"""Group commit, as a PMS sees it: a burst of commands (the backlog after an outage) is stored
with far fewer commits than commands, and every one of them is still answered and kept."""

import json
import sqlite3
import subprocess
import sys

import pytest

from _appliance import ROOT, Appliance
from test_appliance_contract import booking, reply, send

pytestmark = pytest.mark.timeout(180)
BURST = 300


def live_status(appliance):
    result = subprocess.run([sys.executable, "-m", "appliance", "status", "--json", "--config",
                             str(appliance.config_file)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def test_a_backlog_is_stored_in_few_commits_and_every_command_answered(
        tmp_path, broker, peer_factory):
    appliance = Appliance(tmp_path / "a", broker).start()
    try:
        pms = peer_factory(broker, "pms", persistent=True)
        pms.subscribe("keybridge/camp/#")
        assert appliance.stop() == 0  # the persistent session keeps what comes meanwhile
        for number in range(BURST):
            send(pms, appliance, "booking", booking("r-%d" % number, "B%d" % number))
        appliance.start()
        for number in range(BURST):
            assert reply(pms, "r-%d" % number, timeout=60)["status"] == "accepted"
        commits = live_status(appliance)["live"]["store"]["commits"]
        assert commits < BURST / 3, commits
        assert appliance.stop() == 0
    finally:
        appliance.close()
    with sqlite3.connect(appliance.db_file) as db:
        assert db.execute("SELECT count(*) FROM inbox").fetchone()[0] == BURST
        # An orderly stop records every PUBACK it had: nothing goes out twice at the start.
        assert db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[
            0] == 0
