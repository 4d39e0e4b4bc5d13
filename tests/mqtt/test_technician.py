"""The technician's commands against a real appliance process, while it runs and after it
was killed: status from the service itself, Space asked through the service's own link (no
second connection to Space), and the store's view when nothing answers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _appliance import ROOT, Appliance, eventually
from test_appliance_contract import cut_slowly, reply

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


def test_space_is_asked_through_the_service_behind_its_queued_work(site, space):
    """Space takes one PMS connection and the service holds it: ping and read go through
    the service, queued with a card being cut, and Space never sees a second connection."""
    appliance, pms = site
    cut_slowly(pms, appliance, space, "stay", 1.5)
    eventually(lambda: space.requests("CN"), what="the card on the link")
    ping = keybridge(appliance, "space", "ping")
    assert (ping.returncode, ping.stdout.strip()) == (0, "Space is ready"), ping.stderr
    read = keybridge(appliance, "space", "read", "--encoder", "Online Encoder 1", "--json")
    assert read.returncode == 0, read.stderr
    assert reply(pms, "cut", "ok", timeout=20)["data"]["count"] == 1
    state = space.control({"op": "state"})["state"]
    assert state["connections_refused"] == 0  # one connection, the service's
    audit = keybridge(appliance, "audit", "--json")
    asked = [entry for entry in json.loads(audit.stdout) if entry["action"].startswith("tool_")]
    assert [entry["action"] for entry in asked] == ["tool_ping", "tool_read"]
    assert asked[1]["trigger"].startswith("keybridge read (") and "Online Encoder 1" in (
        asked[1]["detail"])


def test_after_a_kill_status_says_not_running_and_space_is_asked_directly(site, space):
    appliance, _pms = site
    appliance.kill()
    done = keybridge(appliance, "status")
    assert done.returncode == 1
    first, record = done.stdout.splitlines()[:2]
    assert "the service is NOT RUNNING (nothing answers at" in first
    assert "online — it did not stop cleanly" in record and " ago)" in record
    ping = keybridge(appliance, "space", "ping")
    assert (ping.returncode, ping.stdout.strip()) == (0, "Space is ready"), ping.stderr


def test_doctor_checks_everything_through_the_running_service(site):
    appliance, _pms = site
    done = keybridge(appliance, "doctor")
    verdicts = {line[5:18].strip(): line[:4].strip() for line in done.stdout.splitlines()}
    assert done.returncode in (0, 1), done.stdout  # clock and unit may warn off a Pi
    for name in ("configuration", "file modes", "store", "service", "broker", "space"):
        assert verdicts[name] == "OK", done.stdout
    assert "(through the running service)" in done.stdout
    key_file = appliance.directory / "secret.keys"
    key_file.chmod(0o644)
    fix = "640" if key_file.stat().st_uid == 0 else "600"  # root lends a file by its group
    said = "[store] key_file: %s is mode 0644: others than keybridge can read it; chmod %s %s" % (
        key_file, fix, key_file)
    done = keybridge(appliance, "doctor")
    assert done.returncode == 2 and "FAIL file modes    " + said in done.stdout
    # config check says the same, and the service refuses to start with it.
    checked = keybridge(appliance, "config", "check")
    assert checked.returncode == 2 and said in checked.stderr
    again = subprocess.run([sys.executable, "-m", "appliance", "run", "--config",
                            str(appliance.config_file)], cwd=ROOT, capture_output=True,
                           text=True, timeout=60, check=False)
    assert again.returncode == 2 and said in again.stderr


@pytest.fixture
def installed(tmp_path, broker, space):
    """The layout of a Pi: configuration in etc/, state in state/, the KS secrets only in
    the unit's credentials directory (as LoadCredentialEncrypted= leaves them), the control
    socket in run/; the service a real process that alone sees the credentials."""
    from _ks import KsProcess
    ks = KsProcess(tmp_path).start()
    etc, state, run, credentials = (tmp_path / name for name in (
        "etc", "state", "run", "credentials"))
    for folder in (state, run, credentials):
        folder.mkdir(mode=0o700)
    appliance = Appliance(etc, broker, space, ks_url=ks.url, extra={
        "store": {"path": str(state / "keybridge.db"), "key_file": str(state / "secret.keys")},
        "service": {"control_socket": str(run / "control.sock")}},
        env={"CREDENTIALS_DIRECTORY": str(credentials)})
    for name in ("ks-client-secret", "ks-password"):  # nowhere a shell could read them
        (etc / name).rename(credentials / name)
    yield appliance.start(), credentials
    appliance.close()
    ks.close()


def test_every_command_on_an_installed_layout_while_it_runs_and_after_a_kill(installed):
    appliance, credentials = installed
    shell = {"CREDENTIALS_DIRECTORY": ""}  # a technician's shell: no credentials
    unit = {"CREDENTIALS_DIRECTORY": str(credentials)}  # systemd-run -p LoadCredential...
    expect = [  # (command, environment, exit code, what the output must say)
        (["status"], shell, 0, "RUNNING"),
        (["status", "--json"], shell, 0, '"running": true'),
        (["jobs"], shell, 0, "no jobs waiting or failed"),
        (["keys"], shell, 0, "no live keys"),
        (["audit"], shell, 0, "the audit log is empty"),
        (["integration-log"], shell, 0, "the integration log is empty"),
        (["space", "ping"], shell, 0, "Space is ready"),
        (["doctor"], shell, 1, "OK   ks            site"),  # the clock warns off a Pi
        (["test-connection", "--backend", "space"], shell, 0, "space   OK"),
        (["test-connection"], shell, 0, "(through the running service)"),
        (["config", "check"], unit, 0, ": OK"),
        (["test-connection"], unit, 0, "space   OK"),
        (["reconcile"], unit, 0, "reconciliation: 0 discrepancies"),
        # Through the service: Space's one link is the service's, and so are the secrets.
        (["reconcile"], shell, 0, "reconciliation: 0 discrepancies"),
    ]
    for command, env, code, said in expect:
        done = run_cli(appliance, command, env)
        assert said in done.stdout, (command, done.stdout, done.stderr)
        assert code is None or done.returncode == code, (command, done.stdout, done.stderr)
    appliance.kill()
    for command, env, code, said in (
            (["status"], shell, 1, "NOT RUNNING"), (["jobs"], shell, 0, "no jobs"),
            (["keys"], shell, 0, "no live keys"),
            (["audit"], shell, 0, "tool_test_connection ks     key=None external=None "
                                  "booking=None trigger=keybridge test_connection ("),
            (["integration-log"], shell, 0, "the integration log is empty"),
            (["space", "ping"], shell, 0, "Space is ready"),
            (["test-connection", "--backend", "space"], shell, 0, "space   OK"),
            (["test-connection"], shell, 1, "ks      FAIL  not checked: its secrets cannot "
                                            "be read here and the service does not run"),
            (["doctor"], shell, 2, "WARN service       not running"),
            (["reconcile"], unit, 0, "reconciliation: 0 discrepancies")):
        done = run_cli(appliance, command, env)
        assert (done.returncode, said in done.stdout) == (code, True), (command, done.stdout,
                                                                        done.stderr)


def run_cli(appliance, command, env, user=()):
    import os
    return subprocess.run([*user, sys.executable, "-m", "appliance", *command, "--config",
                           str(appliance.config_file)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=os.environ | env)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_a_keybridge_group_member_reads_everything_through_the_running_service(installed):
    """An admin in the service's group (here: nobody, given the service's group, root) may
    not read the store's folder or the key file; while the service runs every read-only
    command works for them; once it is stopped they are told how to go on."""
    appliance, _credentials = installed
    folder = appliance.config_file.parent
    for parent in (folder, *folder.parents):  # as /etc/keybridge 0750 root:keybridge
        if parent == Path("/tmp"):
            break
        parent.chmod(parent.stat().st_mode | 0o050)
    (folder.parent / "run").chmod(0o750)  # RuntimeDirectoryMode=0750
    member = ["setpriv", "--reuid=65534", "--regid=65534", "--groups=0", "--"]
    shell = {"CREDENTIALS_DIRECTORY": "", "HOME": "/tmp"}
    for command, said in ((["status"], "RUNNING"), (["jobs"], "no jobs waiting"),
                          (["keys"], "no live keys"), (["audit"], "the audit log is empty"),
                          (["integration-log"], "the integration log is empty"),
                          (["space", "ping"], "Space is ready"),
                          (["reconcile"], "reconciliation: 0 discrepancies"),
                          (["test-connection"], "store   OK    %s takes writes (through the "
                           "running service" % (folder.parent / "state" / "keybridge.db"))):
        done = run_cli(appliance, command, shell, member)
        assert (done.returncode, said in done.stdout) == (0, True), (command, done.stdout,
                                                                     done.stderr)
    appliance.kill()
    done = run_cli(appliance, ["status"], shell, member)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "permission denied; while the service runs its members of the keybridge group ask " \
        "it instead, else run this as the service's user (sudo -u keybridge" in done.stderr


@pytest.mark.parametrize("listening", [False, True], ids=["refused", "silent"])
def test_a_ping_nobody_answers_says_what_to_check_and_not_that_it_may_have_run(listening):
    """A ping changes nothing: no "Space may have carried it out" (the ENQ did go out to
    the silent one), the link's own log line not repeated, the fix named."""
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    if listening:
        server.listen(1)
    else:
        server.close()
    try:
        done = subprocess.run([sys.executable, "-m", "appliance", "space", "ping", "--server",
                               "127.0.0.1:%d" % port, "--config", "config/demo.toml"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    finally:
        server.close()
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and "may have" not in done.stderr, done.stderr
    assert done.stderr.startswith("keybridge space ping: ") and done.stderr.rstrip().endswith(
        "check that ProAccess Space runs and takes PMS connections at that address ([space] "
        "server or --server)")


def test_status_watch_refreshes_in_place_until_ctrl_c(site):
    import signal
    appliance, _pms = site
    with subprocess.Popen([sys.executable, "-m", "appliance", "status", "--watch",
                           "--config", str(appliance.config_file)], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True) as watch:
        seen = ""
        while seen.count("\033[H\033[J") < 2:  # the screen cleared before each refresh
            seen += watch.stdout.readline()
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=30) == 0
    assert seen.count("RUNNING (pid %d)" % appliance.process.pid) >= 2
