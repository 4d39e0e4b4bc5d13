"""A store that cannot write: the appliance's SQLite file on a small tmpfs, filled up.

Every command still gets an answer at once (``store_unavailable``, ``will_retry``), the
retained status says the store is not writable, the journal says it once rather than once
a try, and when space returns every command is carried out with its own reply."""

import os
import sqlite3
import subprocess
import sys

import pytest

from appliance.engine.intake import KEEP_UNSTORED
from bench import disk

from _appliance import ROOT, Appliance
from test_appliance_contract import booking, reply, send

pytestmark = pytest.mark.timeout(180)
DISK_BYTES = 8 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of DISK_BYTES, mounted for the test (it needs root, as on the CI machine)."""
    folder = tmp_path / "disk"
    if refused := disk.mount(folder, DISK_BYTES):
        pytest.skip("cannot mount a tmpfs here (%s): run the tests as root" % refused)
    yield folder
    disk.unmount(folder)


def test_a_full_disk_answers_every_command_and_loses_none(tmp_path, small_disk, broker,
                                                          peer_factory):
    appliance = Appliance(tmp_path / "a", broker, extra={"store": {
        "path": str(small_disk / "keybridge.db")}}).start()
    try:
        pms = peer_factory(broker, "pms", persistent=True)
        pms.subscribe("keybridge/camp/#")
        send(pms, appliance, "booking", booking("before", "B0"))
        assert reply(pms, "before")["status"] == "accepted"
        filler = disk.fill(small_disk)
        ids = ["full-%d" % n for n in range(40)]
        for n, request_id in enumerate(ids):
            send(pms, appliance, "booking", booking(request_id, "B%d" % (n + 1)))
        first = {request_id: reply(pms, request_id, timeout=20) for request_id in ids}
        refused = [body for body in first.values() if body["status"] == "error"]
        assert refused, "the disk was full, yet every command was stored"
        assert {body["error"]["code"] for body in refused} == {"store_unavailable"}
        kept = [body for body in refused if body["data"]["will_retry"]]
        let_go = [body for body in refused if not body["data"]["will_retry"]]
        assert len(kept) == KEEP_UNSTORED and let_go  # 40 are more than a broker lends
        assert "disk full" in kept[0]["error"]["message"]
        assert "send it again" in let_go[0]["error"]["message"]
        status = pms.wait_for(lambda m: m.topic.endswith("/status") and m.json().get(
            "store", {}).get("writable") is False, 20).json()
        assert status["state"] == "online" and status["store"]["last_error"]
        assert appliance.process.poll() is None
        shown = subprocess.run([sys.executable, "-m", "appliance", "status", "--config",
                                str(appliance.config_file)], cwd=ROOT, capture_output=True,
                               text=True, timeout=30, check=False)
        assert "REFUSES WRITES" in shown.stdout, shown.stdout + shown.stderr

        os.remove(filler)
        for body in kept:  # the real reply follows, with the same request_id
            assert reply(pms, body["request_id"], "accepted", timeout=60)
        pms.wait_for(lambda m: m.topic.endswith("/status") and m.json().get(
            "store") == {"writable": True}, 30)
        for body in let_go:  # sent again, as the PMS was told
            send(pms, appliance, "booking", booking(body["request_id"], "B%d" % (
                1 + ids.index(body["request_id"]))))
            assert reply(pms, body["request_id"], "accepted")
        log = appliance.log_text()
        assert log.count("refuses writes") == 1, log[-3000:]
        assert "takes writes again" in log
        assert appliance.stop() == 0
    finally:
        appliance.close()
    with sqlite3.connect(small_disk / "keybridge.db") as db:  # each stored once
        assert db.execute("SELECT count(*) FROM bookings").fetchone()[0] == 41
        assert db.execute("SELECT count(*) FROM inbox").fetchone()[0] == 41
