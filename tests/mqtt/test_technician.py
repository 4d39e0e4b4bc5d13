"""The technician's commands against a real appliance process, while it runs and after it
was killed: status from the service itself, and the store's view when nothing answers."""

import subprocess
import sys

import pytest

from _appliance import ROOT, Appliance

pytestmark = pytest.mark.timeout(180)


def keybridge(appliance, *args):
    return subprocess.run([sys.executable, "-m", "appliance", *args, "--config",
                           str(appliance.config_file)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def site(tmp_path, broker, space, peer_factory):
    appliance = Appliance(tmp_path / "a", broker, space).start()
    pms = peer_factory(broker, "pms", persistent=True)
    pms.subscribe("keybridge/camp/#")
    yield appliance, pms
    appliance.close()


def test_status_comes_from_the_running_service(site, broker):
    appliance, _pms = site
    done = keybridge(appliance, "status")
    assert done.returncode == 0, done.stdout + done.stderr
    first, broker_line = done.stdout.splitlines()[:2]
    assert "RUNNING (pid %d)" % appliance.process.pid in first
    assert broker_line.split() == ["broker", "%s:%d" % (broker.host, broker.port), "connected"]
    assert "space    up since" in done.stdout


def test_after_a_kill_status_says_not_running_with_the_last_record(site):
    appliance, _pms = site
    appliance.kill()
    done = keybridge(appliance, "status")
    assert done.returncode == 1
    first, record = done.stdout.splitlines()[:2]
    assert "the service is NOT RUNNING (nothing answers at" in first
    assert "online — it did not stop cleanly" in record and " ago)" in record
