"""The PMS simulator's day: the scenario as data against the contract and the demo site's
configuration (its Space products give each booking the key type the day expects), and
``make run`` end to end (Space cards, phone keys and doors, KS PINs, every check passing, no
PIN in the clear).

The contract's JSON Schemas come from ``tests/mqtt/_asyncapi.py`` (``docs/asyncapi.yaml``); its
directory is put on ``sys.path`` here only, as tests/mqtt's own conftest does for its tests.
"""

import datetime
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appliance.bridge import contract
from appliance.engine.engine import _booking_holder
from appliance.registry import load_config
from appliance.space import siteconf
from simulators.ks import defaults as ks_defaults
from simulators.pms import actions, day

ROOT = Path(__file__).resolve().parents[2]
MQTT_TESTS = ROOT / "tests" / "mqtt"
DAY = day.build("t0", datetime.date(2027, 7, 1))
COMMANDS = [step for step in DAY.commands if step.error is None]
DEMO_TIMEOUT_S = 120


def _load(name: str) -> dict[str, Any]:
    with open(ROOT / "config" / name, "rb") as file:
        return tomllib.load(file)


@pytest.fixture(scope="module")
def validate_command() -> Callable[[str, dict[str, Any]], None]:
    if not (MQTT_TESTS / "_asyncapi.py").exists():
        pytest.skip("tests/mqtt/_asyncapi.py (the contract's schemas) is not there")
    if str(MQTT_TESTS) not in sys.path:
        sys.path.insert(0, str(MQTT_TESTS))
    check: Callable[[str, dict[str, Any]], None] = importlib.import_module(
        "_asyncapi").validate_command
    return check


@pytest.mark.parametrize("step", COMMANDS, ids=lambda s: "%s-%s" % (s.request_id, s.command))
def test_every_command_of_the_day_follows_the_contract(validate_command, step) -> None:
    validate_command(step.command, step.payload)


def test_the_deliberate_mistake_breaks_the_contract_on_the_field_it_names(
        validate_command) -> None:
    (bad,) = [step for step in DAY.commands if step.error is not None]
    code, field = bad.error
    assert code == "bad_request"
    with pytest.raises(AssertionError, match=field):
        validate_command(bad.command, bad.payload)


def test_request_ids_are_unique_except_the_deliberate_repeat() -> None:
    sent: dict[str, dict[str, Any]] = {}
    for step in DAY.commands:
        if step.repeat:
            assert sent[step.request_id] == step.payload  # the very same command again
        else:
            assert step.request_id not in sent
            sent[step.request_id] = step.payload
    assert sum(step.repeat for step in DAY.commands) == 1


def test_the_day_covers_what_a_campsite_day_has() -> None:
    commands = {step.command for step in DAY.commands}
    assert commands >= {"booking", "encode_card", "read_card", "send_mobile_key",
                        "test_connection", "reconcile"}
    statuses = [step.payload["booking"]["status"] for step in DAY.commands
                if step.command == "booking"]
    assert {"CONFIRMED", "CHECKED_IN", "COMPLETED", "CANCELLED"} <= set(statuses)
    assert any(step.stale for step in DAY.commands)
    assert any(step.payload.get("copy") for step in DAY.commands)
    assert any(step.payload.get("count") == 2 for step in DAY.commands)
    assert {step.payload.get("backend") for step in DAY.commands
            if step.command == "test_connection"} == {"space", "ks"}
    space_events = [expect.match for step in DAY.commands for expect in step.events
                    if expect.match.get("backend") == "space"]
    # Phone keys sent by the products on their own (before arrival, at check-in) and by the desk.
    automatic = {m["booking_id"] for m in space_events if m.get("automatic") is True}
    assert len(automatic) == 2
    assert any(m.get("automatic") is False for m in space_events)
    # Check-out reaches Space, and a card read back afterwards says so.
    assert any(m.get("checked_out") is True for m in space_events)
    reads = [expect.match for step in DAY.commands for expect in step.events
             if expect.type == "card_read"]
    assert [read["valid"] for read in reads] == [True, False]
    assert {door.opens for door in DAY.doors} == {True, False}
    assert DAY.hand_backs


def test_the_demo_prints_a_licence_plate_the_pms_sent_on_the_card() -> None:
    """Space 1.20's licence plate: the demo site prints it, and the day looks for it on a
    card of the booking that sent it."""
    assert _load("demo.toml")["space"]["license_plate"] == "print_info"
    faces = [step for step in DAY.steps if isinstance(step, actions.CardFace)]
    plates = {step.payload["booking"].get("license_plate") for step in DAY.commands
              if step.command == "booking" and step.payload["booking"]["id"]
              == faces[0].booking_id}
    assert faces and plates == {faces[0].last_line}


def _expected(kind: str, backend: str) -> set[tuple[str, str]]:
    return {(expect.match["booking_id"], expect.match.get("key_type", ""))
            for step in DAY.commands for expect in step.events
            if expect.type == kind and expect.match.get("backend") == backend}


def test_every_booking_gets_its_ks_pins_and_loses_them_when_the_stay_ends() -> None:
    bookings = {step.payload["booking"]["id"] for step in DAY.commands
                if step.command == "booking"}
    every_pin = {(booking, kind) for booking in bookings for kind in day.KEY_TYPES}
    assert _expected("key_issued", "ks") == every_pin
    assert _expected("key_revoked", "ks") == every_pin
    (moved,) = {booking for booking, _ in _expected("key_updated", "ks")}
    assert _expected("key_updated", "ks") == {(moved, kind) for kind in day.KEY_TYPES}


def test_the_guests_try_their_pins_before_during_and_after_the_stay() -> None:
    steps = list(DAY.steps)
    checked_in = next(i for i, step in enumerate(steps) if isinstance(step, actions.Step)
                      and step.command == "booking"
                      and step.payload["booking"]["status"] == "CHECKED_IN")
    completed = next(i for i, step in enumerate(steps) if isinstance(step, actions.Step)
                     and step.command == "booking"
                     and step.payload["booking"]["status"] == "COMPLETED")
    departing = steps[completed]
    assert isinstance(departing, actions.Step)
    jansen = departing.payload["booking"]
    arrival = datetime.datetime.fromisoformat(jansen["arrival"])
    departure = datetime.datetime.fromisoformat(jansen["departure"])
    tries = [(i, step) for i, step in enumerate(steps) if isinstance(step, actions.Keypad)
             and step.booking_id == jansen["id"]]
    before = [step for i, step in tries if i < checked_in]
    during = [step for i, step in tries if checked_in < i < completed]
    after = [step for i, step in tries if i > completed]
    assert before and all(not s.opens and datetime.datetime.fromisoformat(s.at) < arrival
                          for s in before)
    assert any(s.opens and s.lock == "Pitch 12" for s in during)
    # Refused after check-out although still inside the booked stay: the PIN was deleted.
    assert after and all(not s.opens and datetime.datetime.fromisoformat(s.at) < departure
                         for s in after)
    assert {s.key_type for s in DAY.keypads} <= set(day.KEY_TYPES)


def test_the_demo_config_matches_the_space_simulators_site() -> None:
    demo, site = _load("demo.toml"), _load("space-sim.toml")
    rooms = {room["name"] for room in site["rooms"]}
    assert set(demo["units"].values()) <= rooms
    assert [e["name"] for e in demo["encoders"]] == [e["name"] for e in site["encoders"]]
    units = {unit for step in DAY.commands if step.command == "booking"
             for unit in step.payload["booking"]["units"]}
    assert units <= set(demo["units"])
    phones = {step.payload["booking"].get("guest", {}).get("phone") for step in DAY.commands
              if step.command == "booking"} | {step.payload["phone"] for step in DAY.commands
                                                if step.command == "send_mobile_key"}
    assert {day.PHONE, day.MULLER_PHONE} <= phones
    assert phones - {None} <= set(site["justin"]["phones"])
    ids = {e["id"] for e in demo["encoders"]} | {e["name"] for e in demo["encoders"]}
    assert {step.payload["encoder"] for step in DAY.commands if "encoder" in step.payload} <= ids
    assert {step.encoder for step in DAY.hand_backs} <= {e["name"] for e in site["encoders"]}
    # [space.authorizations] are the simulator's shared doors, by their numbers.
    doors = {door["name"]: door for door in site["doors"]}
    assert {int(number): name for number, name in demo["space"]["authorizations"].items()} == {
        door["authorization"]: name for name, door in doors.items() if "authorization" in door}
    assert {step.door for step in DAY.doors} <= set(doors) | rooms


def test_the_demo_products_give_each_booking_the_key_the_day_expects() -> None:
    """config/demo.toml's [[space.products]] against the day's bookings, with the appliance's
    own rules: the key type, what it opens, and which products send phone keys."""
    config = load_config(ROOT / "config" / "demo.toml")
    rules = siteconf.of(config).rules
    chosen: dict[tuple[str, str], tuple[str, tuple[str, ...], str] | None] = {}
    for step in DAY.commands:
        if step.command == "booking":
            booking = contract.booking(step.payload)
            choice = rules.choose(_booking_holder(booking))
            chosen[booking.id, booking.status] = None if choice is None else (
                choice[0].name if choice[0] else "", choice[0].authorizations if choice[0]
                else (), choice[1].mobile if choice[1] else "off")
    jansen, muller, peeters, nowak = ("Bt0-%d" % n for n in range(1, 5))
    pool, pitch = tuple(day.POOL), tuple(day.PITCH)
    assert chosen[jansen, "CONFIRMED"] == chosen[jansen, "COMPLETED"] == (
        "pitch-pool", pool, "off")
    assert chosen[muller, "CONFIRMED"] == ("pitch", pitch, "before_arrival")
    assert chosen[peeters, "CONFIRMED"] is None  # a chalet waits for check-in
    assert chosen[nowak, "CONFIRMED"] is None
    assert chosen[nowak, "CHECKED_IN"] == ("chalet", tuple(day.CHALET), "check_in")
    assert "Swimming pool" not in pitch
    # One policy for cards and PINs: [site], which [space] does not override.
    settings = siteconf.of(config).administrations[0].settings
    assert (settings.check_in_time, settings.check_out_time) == ("", "")
    assert (config.site.check_in_time, config.site.check_out_time) == ("14:00", "11:00")


def test_the_demo_config_matches_the_ks_simulators_account() -> None:
    ks = _load("demo.toml")["ks"]
    assert (ks["client_id"], ks["username"], ks["site"]) == (
        ks_defaults.CLIENT_ID, ks_defaults.USERNAME, ks_defaults.SITE_CUSTOMER_REFERENCE)
    assert ks["api_url"] == ks["identity_url"] == "http://%s" % ks_defaults.LISTEN
    secrets = {"client_secret_file": ks_defaults.CLIENT_SECRET,
               "password_file": ks_defaults.PASSWORD}
    for key, value in secrets.items():  # the simulator's published values, nothing else
        assert (ROOT / "config" / ks[key]).read_text().strip() == value
    locks = {lock for locks in ks["units"].values() for lock in locks} | {
        lock for kind in ks["key_types"] for lock in kind["locks"]}
    assert locks <= set(ks_defaults.LOCK_NAMES)
    assert [kind["name"] for kind in ks["key_types"]] == list(day.KEY_TYPES)
    units = {unit for step in DAY.commands if step.command == "booking"
             for unit in step.payload["booking"]["units"]}
    assert units <= set(ks["units"])
    assert {step.lock for step in DAY.keypads} <= set(ks_defaults.LOCK_NAMES)


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no %s)" % path.name
    return "--- %s\n%s" % (path.name, "\n".join(path.read_text(errors="replace")
                                                .splitlines()[-lines:]))


@pytest.mark.timeout(DEMO_TIMEOUT_S + 30)
def test_make_run_plays_the_whole_day_and_every_check_passes(tmp_path: Path) -> None:
    if importlib.util.find_spec("appliance.service") is None:
        pytest.skip("the appliance service (appliance/service.py) is not there yet")
    if not (shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")):
        pytest.skip("mosquitto is not installed")
    run_dir = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "simulators.demo", "--once", "--quiet", "--run-dir",
         str(run_dir)], cwd=ROOT, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S)
    report = "\n".join([done.stdout[-6000:], done.stderr[-3000:],
                        *(_tail(run_dir / name) for name in ("appliance.log", "space.log"))])
    assert done.returncode == 0, report
    summary = done.stdout[done.stdout.rindex("══ summary"):]
    assert "0 failed" in summary, report
    assert summary.rstrip().endswith("every check passed"), report
    checks = [line for line in summary.splitlines() if line.startswith("    ✓ ")]
    assert any("backend=ks key_type=stay" in line and "key_issued" in line for line in checks)
    assert any("backend=ks" in line and "key_revoked" in line for line in checks)
    assert any("backend=ks" in line and "key_updated" in line for line in checks)
    assert sum(" keypad: " in line for line in checks) == len(DAY.keypads), report
    door_events = [line for line in checks if "event door_event" in line]
    assert sum(" door: " in line for line in checks) == 2 * len(DAY.doors), report
    # Each card held to a Space door reached the PMS from the door's audit trail.
    assert len(door_events) == len(DAY.doors), report
    assert all("backend=space" in line for line in door_events), report
    assert any("as its last printed line" in line and day.PLATE in line for line in checks)
    assert any("backend=space" in line and "automatic=true" in line for line in checks)
    assert any("card_read" in line and "valid=false" in line for line in checks)
    assert any("checked_out=true" in line and "cards_unusable=true" in line for line in checks)
    # PINs came and were typed at the keypads, but only ever shown masked.
    assert "pin=••••••" in done.stdout and "PIN ••••••" in done.stdout, report
    for name in ("", "appliance.log", "ks.log"):
        text = done.stdout if not name else (run_dir / name).read_text(errors="replace")
        assert not re.findall(r"(?<![\w.:-])\d{6}(?![\w.:-])", text), name or "stdout"
    for name in ("ks-client-secret", "ks-password"):
        assert (run_dir / name).stat().st_mode & 0o777 == 0o600


def test_the_story_shows_titles_failures_and_one_line_per_group_of_checks() -> None:
    import io

    from simulators.pms.__main__ import group_lines
    from simulators.pms.client import Printer
    out = io.StringIO()
    story = Printer(stream=out, story=True)
    story.line("──", "1. the Jansens confirm")
    story.line("→", "r-1 booking B1")  # a message: the trace's, not the story's
    story.line("✗", "1 booking: no reply", error=True)
    story.line("══", "summary", always=True)
    shown = [re.sub(r"^\s*[\d.]+s ", "", line) for line in out.getvalue().splitlines()]
    assert shown == ["── 1. the Jansens confirm", "✗ 1 booking: no reply", "══ summary"]
    groups = ["start", "commands and replies", "commands and replies", "PINs at KS keypads"]
    checks = [(True, "online"), (True, "reply"), (False, "event"), (True, "PIN")]
    assert group_lines(groups, checks) == [
        "start                  1 passed", "commands and replies   1 passed, 1 FAILED",
        "PINs at KS keypads     1 passed"]


@pytest.mark.timeout(DEMO_TIMEOUT_S + 30)
def test_the_whole_day_passes_over_mqtt_3_1_1_too(tmp_path: Path) -> None:
    """As on a NATS or RabbitMQ broker: the appliance and the PMS speak 3.1.1, replies come
    by topic, and every check of the day still passes."""
    if not (shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")):
        pytest.skip("mosquitto is not installed")
    run_dir = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "simulators.demo", "--once", "--mqtt", "3.1.1", "--run-dir",
         str(run_dir)], cwd=ROOT, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert done.stdout.rstrip().endswith("every check passed")
    assert "connected to the broker broker=127.0.0.1:" in (run_dir / "appliance.log").read_text()
    assert "mqtt=3.1.1" in (run_dir / "appliance.log").read_text()
