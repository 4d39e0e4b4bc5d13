"""The technician's ``keybridge`` commands against a real store: init, status, keys, audit,
reconcile. Exit codes: 0 fine, 1 something to look at, 2 configuration."""

import argparse
import datetime
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.cli import main
from appliance.config import Config, load_store
from appliance.engine.engine import Engine
from appliance.engine.replies import ReplyTo
from appliance.registry import load_config as load
from appliance.space.backend import SpaceBackend
from appliance.store import Route
from appliance.store.db import Store
from appliance.store.schema import MIGRATIONS
from appliance.store.secrets import Keyring

PIN = "PIN 482913"


@pytest.fixture(scope="module")
def space_server() -> Iterator[str]:
    """A Space simulator process: reconciliation asks Space (ENQ) whether it answers."""
    with subprocess.Popen([sys.executable, "-m", "simulators.space", "--listen", "127.0.0.1:0"],
                          cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
                          text=True) as proc:
        try:
            assert proc.stdout is not None
            address = proc.stdout.readline().split()[-1]
            # The simulator prints every frame: a pipe nobody reads would fill and stop it.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            yield address
        finally:
            proc.terminate()


@pytest.fixture
def config_path(tmp_path: Path, space_server: str) -> str:
    path = tmp_path / "keybridge.toml"
    path.write_text(
        '[site]\nid = "vliet"\ntimezone = "Europe/Amsterdam"\n'
        '[store]\npath = "%s"\nkey_file = "%s"\n'
        '[space]\nserver = "%s"\n'
        '[[encoders]]\nid = "desk-1"\nname = "Online Encoder 1"\n'
        '[units]\nP12 = "Pitch 12"\n'
        '[service]\ncontrol_socket = "%s"\n'
        % (tmp_path / "state" / "keybridge.db", tmp_path / "state" / "secret.keys",
           space_server, tmp_path / "control.sock"))
    (tmp_path / "state").mkdir()
    return str(path)


@pytest.fixture
def initialised(config_path: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["init", "--config", config_path]) == 0
    capsys.readouterr()
    return config_path


class Appliance:
    """The store as the running service leaves it, written through the engine."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = Store(config.store.path, Keyring(config.store.key_file))
        self.engine = Engine(config, self.store, {"space": SpaceBackend(config)})

    def book(self, booking_id: str, arrival: str = "", departure: str = "") -> dict[str, Any]:
        """A confirmed booking; by default a stay starting a month from now."""
        soon = datetime.date.today() + datetime.timedelta(days=30)
        arrival = arrival or "%sT14:00:00+02:00" % soon
        departure = departure or "%sT10:00:00+02:00" % (soon + datetime.timedelta(days=4))
        self.engine.submit("booking", json.dumps({"request_id": "r-" + booking_id, "booking": {
            "id": booking_id, "revision": 1, "status": "CONFIRMED", "arrival": arrival,
            "departure": departure, "units": ["P12"]}}).encode(), False, ReplyTo())
        [row] = self.store.query("SELECT * FROM keys WHERE booking_id = ?", booking_id)
        return dict(row)

    def give_pin(self, key_id: str, pin: str) -> None:
        with self.store.transaction():
            self.store.db.execute("UPDATE keys SET secret = ?, state = 'active' WHERE id = ?",
                                  (self.store.encrypt(pin.encode()), key_id))


@pytest.fixture
def appliance(initialised: str) -> Iterator[Appliance]:
    site = Appliance(load(initialised))
    yield site
    site.store.close()


def test_init_creates_a_private_key_file_and_the_store(
        config_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = load(config_path)
    assert main(["init", "--config", config_path]) == 0
    out = capsys.readouterr().out
    assert "created %s (mode 0600)" % config.store.key_file in out
    assert "store ready: %s" % config.store.path in out
    assert stat.S_IMODE(os.stat(config.store.key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(config.store.path).st_mode) == 0o600
    with Store(config.store.path, Keyring(config.store.key_file)) as store:
        assert store.query("PRAGMA user_version")[0][0] == len(MIGRATIONS)


def test_init_twice_keeps_the_key_and_the_data(
        initialised: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = load(initialised)
    key = Path(config.store.key_file).read_bytes()
    with Store(config.store.path, Keyring(config.store.key_file)) as store, \
            store.transaction() as db:
        db.outbox.add(Route("t"), {"pin": PIN})
    assert main(["init", "--config", initialised]) == 0
    assert "kept the existing key file" in capsys.readouterr().out
    assert Path(config.store.key_file).read_bytes() == key
    with Store(config.store.path, Keyring(config.store.key_file)) as store:
        assert PIN in store.read.outbox.pending(0, 10)[0].payload.decode()


def test_init_with_a_broken_store_section_exits_2_and_creates_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keybridge.toml"
    path.write_text('[site]\nid = "x"\n[store]\nkey_file = "%s"\nkeyfile = "typo"\n'
                    % (tmp_path / "k"))
    assert main(["init", "--config", str(path)]) == 2
    assert "[store] keyfile" in capsys.readouterr().err
    assert not (tmp_path / "k").exists()


def test_status_json_on_a_fresh_store(initialised: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--json", "--config", initialised]) == 1  # not running
    report = json.loads(capsys.readouterr().out)
    socket = os.path.join(os.path.dirname(initialised), "control.sock")
    assert report == {"site": "vliet", "running": False, "live": None,
                      "not_running": "NOT RUNNING (nothing answers at %s)" % socket,
                      "service": None, "recorded_at": None, "jobs": {}, "outbox": 0,
                      "last_errors": {}, "last_reconciliation": None}


def test_status_shows_queues_and_the_last_reconciliation(
        appliance: Appliance, capsys: pytest.CaptureFixture[str]) -> None:
    appliance.book("B1")
    assert main(["reconcile", "--config", appliance.config.source]) == 0
    capsys.readouterr()
    assert main(["status", "--json", "--config", appliance.config.source]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["jobs"] == {"space": 1} and report["outbox"] == 2  # reply + report
    assert report["last_reconciliation"]["discrepancies"] == 0
    assert main(["status", "--config", appliance.config.source]) == 1
    out = capsys.readouterr().out
    assert "site vliet — the service is NOT RUNNING" in out and "last record: never" in out
    assert "jobs waiting: space 1" in out and "outbox: 2" in out
    assert "0 discrepancies" in out


def test_status_without_init_says_run_init_and_creates_nothing(
        config_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    store = load(config_path).store.path
    assert main(["status", "--config", config_path]) == 1
    err = capsys.readouterr().err
    assert "no store at %s yet: run keybridge init" % store in err
    assert not os.path.exists(store)


def test_keys_hides_pins_unless_revealed(appliance: Appliance,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    key = appliance.book("B1")
    appliance.give_pin(key["id"], PIN)
    source = appliance.config.source
    assert main(["keys", "--config", source]) == 0
    out = capsys.readouterr().out
    assert key["id"] in out and "B1" in out and "P12" in out and "active" in out
    assert "482913" not in out and "(hidden; --reveal)" in out
    assert main(["keys", "--json", "--config", source]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["secret"] == "(hidden; --reveal)" and listed["holder"] == "B1"
    assert listed["key_type"] == "-"  # the Space key of a site without key types
    assert main(["keys", "--reveal", "--config", source]) == 0
    assert "secret: %s" % PIN in capsys.readouterr().out


def test_keys_lists_revoked_keys_only_with_all(appliance: Appliance,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    key = appliance.book("B1")
    appliance.book("B2")
    with appliance.store.transaction():
        appliance.store.db.execute("UPDATE keys SET state = 'revoked' WHERE id = ?",
                                   (key["id"],))
    source = appliance.config.source
    assert main(["keys", "--json", "--config", source]) == 0
    assert [k["holder"] for k in json.loads(capsys.readouterr().out)] == ["B2"]
    assert main(["keys", "--json", "--all", "--config", source]) == 0
    assert {k["holder"] for k in json.loads(capsys.readouterr().out)} == {"B1", "B2"}
    assert main(["keys", "--json", "--all", "--booking", "B1", "--config", source]) == 0
    assert [k["state"] for k in json.loads(capsys.readouterr().out)] == ["revoked"]


def test_audit_lists_rows_oldest_first(appliance: Appliance,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    with appliance.store.transaction() as db:
        for number, action in enumerate(["card_encoded", "card_copied", "revoked"]):
            db.audit.add(action, "space", "r-%d" % number, key_id="k1",
                         external_id="Pitch 12", booking_id="B1")
        db.audit.add("issued", "space", "r-9", booking_id="B2")
    source = appliance.config.source
    assert main(["audit", "--config", source]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["card_encoded", "card_copied", "revoked",
                                                   "issued"]
    assert "booking=B1" in lines[0] and "trigger=r-0" in lines[0]
    # --limit keeps the newest, still printed oldest first.
    assert main(["audit", "--limit", "2", "--json", "--config", source]) == 0
    assert [row["action"] for row in json.loads(capsys.readouterr().out)] == [
        "revoked", "issued"]
    assert main(["audit", "--booking", "B2", "--json", "--config", source]) == 0
    assert [row["booking_id"] for row in json.loads(capsys.readouterr().out)] == ["B2"]


def test_reconcile_exit_codes(appliance: Appliance,
                              capsys: pytest.CaptureFixture[str]) -> None:
    source = appliance.config.source
    assert main(["reconcile", "--config", source]) == 0
    assert "0 discrepancies" in capsys.readouterr().out
    key = appliance.book("OLD", "2020-07-01T14:00:00+02:00", "2020-07-05T10:00:00+02:00")
    # Found and not repaired: something for the technician to look at.
    assert main(["reconcile", "--config", source]) == 1
    out = capsys.readouterr().out
    assert "1 discrepancy; keybridge reconcile --repair queues the fixes" in out
    # Each discrepancy on its own line: which key, whose, what is wrong, what would fix it.
    assert "expired_but_live" in out and "key=%s" % key["id"] in out
    assert "booking=OLD" in out and out.rstrip().endswith("→ revoke the key")
    assert appliance.store.query("SELECT state FROM keys WHERE id = ?", key["id"])[0][0] == (
        "issuing")
    assert main(["reconcile", "--repair", "--config", source]) == 0
    assert "1 discrepancy, repair queued" in capsys.readouterr().out
    assert appliance.store.query("SELECT state FROM keys WHERE id = ?", key["id"])[0][0] == (
        "revoking")
    assert main(["reconcile", "--config", source]) == 0
    assert "0 discrepancies" in capsys.readouterr().out


def test_reconcile_with_space_away_is_incomplete_not_clean(
        config_path: str, space_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Space cannot list its keys, but whether it answers is asked: never "0 discrepancies"
    for a Space nobody could reach."""
    path = Path(config_path)
    path.write_text(path.read_text().replace(space_server, "127.0.0.1:9"))
    assert main(["init", "--config", config_path]) == 0
    capsys.readouterr()
    assert main(["reconcile", "--config", config_path]) == 1
    out = capsys.readouterr().out
    assert out.startswith("INCOMPLETE: space could not be asked: backend_unavailable"), out


def test_rotate_key_then_keys_reveal_still_shows_the_pin(
        appliance: Appliance, capsys: pytest.CaptureFixture[str]) -> None:
    key = appliance.book("B1")
    appliance.give_pin(key["id"], PIN)
    source = appliance.config.source
    assert main(["rotate-key", "--config", source]) == 0
    # The PIN and the booking reply still waiting in the outbox.
    assert "2 secrets re-encrypted" in capsys.readouterr().out
    assert main(["keys", "--reveal", "--config", source]) == 0
    assert PIN in capsys.readouterr().out


def test_keys_says_so_when_there_are_none(initialised: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "--config", initialised]) == 0
    assert capsys.readouterr().out == "no live keys (--all shows revoked ones)\n"
    assert main(["keys", "--all", "--booking", "B9", "--config", initialised]) == 0
    assert capsys.readouterr().out == "no keys of booking B9\n"


def test_config_check_takes_the_file_as_an_argument_or_as_config(
        config_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", config_path]) == 0
    assert main(["config", "check", "--config", config_path]) == 0
    assert capsys.readouterr().out.count("%s: OK" % config_path) == 2


def test_a_reader_that_stops_early_ends_the_output_quietly(initialised: str) -> None:
    """`keybridge status | head -1`: no BrokenPipeError traceback, the shell's SIGPIPE code."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        done = subprocess.run([sys.executable, "-m", "appliance", "status", "--config",
                               initialised], stdout=write, stderr=subprocess.PIPE, text=True,
                              timeout=60, cwd=Path(__file__).resolve().parents[2])
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")


KS_CREDENTIALS = (
    '[ks]\nidentity_url = "https://identity.example"\napi_url = "https://api.example"\n'
    'client_id = "kb"\nclient_secret_file = "ks-client-secret"\nusername = "kb@camp"\n'
    'password_file = "ks-password"\nsite = "Camp"\n')


def test_store_commands_need_no_secret_the_shell_cannot_read(
        config_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    """KS secrets as systemd credentials exist only inside the unit: from a shell, status,
    keys, audit and init still work; what needs the secret says how to run it."""
    with open(config_path, "a") as file:
        file.write(KS_CREDENTIALS)
    assert main(["init", "--config", config_path]) == 0
    for command in ("status", "keys", "audit"):
        assert main([command, "--config", config_path]) == (command == "status"), command
    capsys.readouterr()
    assert main(["config", "check", config_path]) == 2
    err = capsys.readouterr().err
    assert "[ks] client_secret_file: cannot read" in err
    assert "systemd/README.md" in err and "Commands that need a secret" in err


def test_reconcile_with_a_backend_that_cannot_be_asked_says_so_first(
        config_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    """KS away: never a plain "0 discrepancies"; the run is incomplete, said once, exit 1."""
    folder = Path(config_path).parent
    for name in ("ks-client-secret", "ks-password"):
        (folder / name).write_text("s3cret")
        (folder / name).chmod(0o600)  # a secret: the service's only
    with open(config_path, "a") as file:
        file.write(KS_CREDENTIALS.replace("https://identity.example", "http://127.0.0.1:9")
                   .replace("https://api.example", "http://127.0.0.1:9"))
    assert main(["init", "--config", config_path]) == 0
    capsys.readouterr()
    assert main(["reconcile", "--config", config_path]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith("INCOMPLETE: ks could not be asked: ")
    assert lines[1] == "reconciliation of space: 0 discrepancies"
    assert captured.err == ""  # the journal's warning is not printed a second time
    assert main(["reconcile", "--json", "--config", config_path]) == 1
    report = json.loads(capsys.readouterr().out)
    assert set(report["summary"]["errors"]) == {"ks"} and report["discrepancies"]["ks"] == []
    assert main(["status", "--config", config_path]) == 1  # the service is not running
    out = capsys.readouterr().out
    assert "INCOMPLETE: ks could not be asked; 0 discrepancies in the rest" in out
    assert ", 0 discrepancies" not in out
    # What was met is kept: the integration log says it again, from the store.
    assert main(["integration-log", "--backend", "ks", "--config", config_path]) == 0
    assert "failure     key=None reconciliation could not ask it: backend_unavailable" in (
        capsys.readouterr().out)


def test_integration_log_lists_the_stored_history(appliance: Appliance,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    source = appliance.config.source
    assert main(["integration-log", "--config", source]) == 0
    assert capsys.readouterr().out == "the integration log is empty\n"
    appliance.book("OLD", "2020-07-01T14:00:00+02:00", "2020-07-05T10:00:00+02:00")
    assert main(["reconcile", "--config", source]) == 1
    capsys.readouterr()
    assert main(["integration-log", "--backend", "space", "--config", source]) == 0
    assert "discrepancy key=" in capsys.readouterr().out
    assert main(["integration-log", "--json", "--backend", "ks", "--config", source]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_jobs_lists_retries_and_cancels_with_an_audit_row(
        appliance: Appliance, capsys: pytest.CaptureFixture[str]) -> None:
    source = appliance.config.source
    assert main(["jobs", "--config", source]) == 0
    assert capsys.readouterr().out == "no jobs waiting or failed\n"
    appliance.book("B1")
    [job] = appliance.store.query("SELECT id FROM jobs")
    assert main(["jobs", "--config", source]) == 0
    listed = capsys.readouterr().out
    assert "%5d space       issue_key" % job["id"] in listed
    assert "pending  attempt 0   booking B1  next try now" in listed
    assert main(["jobs", "cancel", str(job["id"]), "--config", source]) == 0
    assert "cancelled" in capsys.readouterr().out
    assert main(["jobs", "--json", "--config", source]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["state"] == "failed" and row["last_error"].startswith(
        "cancelled by keybridge jobs (")
    assert main(["jobs", "cancel", str(job["id"]), "--config", source]) == 1
    assert "is failed: nothing to cancel" in capsys.readouterr().err
    assert main(["jobs", "retry", "--all", "--config", source]) == 0
    assert "1 failed job(s) to be tried again" in capsys.readouterr().out
    assert appliance.store.query("SELECT state FROM jobs")[0][0] == "pending"
    actions = [row[0] for row in appliance.store.query("SELECT action FROM audit")]
    assert actions == ["job_cancelled", "job_retried"]


def test_jobs_leave_desk_requests_and_unknown_ids_alone(
        appliance: Appliance, capsys: pytest.CaptureFixture[str]) -> None:
    source = appliance.config.source
    appliance.book("B1")
    appliance.engine.submit("encode_card", json.dumps({
        "request_id": "cut", "booking_id": "B1", "encoder": "desk-1"}).encode(), False,
        ReplyTo())
    [desk] = appliance.store.query("SELECT id FROM jobs WHERE kind = 'encode_card'")
    assert main(["jobs", "cancel", str(desk[0]), "--config", source]) == 1
    assert "is a desk request (encode_card)" in capsys.readouterr().err
    assert main(["jobs", "retry", "999", "--config", source]) == 1
    assert "no job 999" in capsys.readouterr().err
    assert main(["jobs", "retry", "--config", source]) == 2  # usage: which one?
    assert "give a job's ID (first column of keybridge jobs), or --all" in (
        capsys.readouterr().err)


def _parsers(parser, path):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_option_of_every_command_says_what_it_is_for_in_plain_text():
    """``--help`` is what a technician reads first: no option without a help text, no
    reStructuredText markup (``keybridge``) leaking from docstrings."""
    from appliance.cli import build_parser
    silent, markup = [], []
    for path, parser in _parsers(build_parser(), ("keybridge",)):
        texts = [parser.description or "", parser.epilog or ""]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or action.dest == "help":
                continue
            if not action.help:
                silent.append(" ".join((*path, *(action.option_strings or [action.dest]))))
            texts.append(action.help or "")
        if any("``" in text for text in texts):
            markup.append(" ".join(path))
    assert (silent, markup) == ([], [])


def test_init_needs_only_the_store_section_as_a_fresh_package_runs_it(
        config_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The package's conffile ships with an empty site id so the service is not started on
    someone else's campsite; its postinst still makes the key file and the store."""
    Path(config_path).write_text(Path(config_path).read_text().replace(
        'id = "vliet"', 'id = ""'))
    assert main(["init", "--config", config_path]) == 0
    out = capsys.readouterr().out
    assert "store ready" in out and "%s is not ready for the service yet (1 problems, the " \
        "first: %s: [site] id: must be letters" % (config_path, config_path) in out
    assert os.path.exists(load_store(config_path).key_file)
    assert main(["config", "check", "--config", config_path]) == 2
    assert "[site] id: must be letters" in capsys.readouterr().err


@pytest.mark.parametrize(("active", "verdict"), [("active", "OK"), ("failed", "FAIL"),
                                                 ("activating", "WARN")])
def test_doctor_says_whether_the_enabled_unit_runs(tmp_path: Path, monkeypatch: Any,
                                                   active: str, verdict: str) -> None:
    """An enabled unit that failed, or keeps restarting, is why a technician was called:
    doctor says so with where to look. systemctl is systemd's: a stand-in answers for it."""
    from appliance import doctor
    fake = tmp_path / "bin" / "systemctl"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\ncase "$1" in is-enabled) echo enabled;; '
                    'is-active) echo %s;; esac\n' % active)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (fake.parent, os.environ["PATH"]))
    name, found, detail = doctor._unit()
    assert (name, found) == ("systemd unit", verdict)
    if verdict != "OK":
        assert detail == ("keybridge.service is enabled but %s: journalctl -u keybridge -b "
                          "-p warning says why; then systemctl restart keybridge" % active)
