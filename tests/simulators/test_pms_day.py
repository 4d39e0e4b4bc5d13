"""The PMS simulator's day: the scenario as data against the contract, and ``make run`` end to end.

The contract's JSON Schemas come from ``tests/mqtt/_asyncapi.py`` (``docs/asyncapi.yaml``); its
directory is put on ``sys.path`` here only, as tests/mqtt's own conftest does for its tests.
"""

import datetime
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simulators.pms import day

ROOT = Path(__file__).resolve().parents[2]
MQTT_TESTS = ROOT / "tests" / "mqtt"
DAY = day.build("t0", datetime.date(2027, 7, 1))
COMMANDS = [step for step in DAY.steps if step.error is None]
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
    (bad,) = [step for step in DAY.steps if step.error is not None]
    code, field = bad.error
    assert code == "bad_request"
    with pytest.raises(AssertionError, match=field):
        validate_command(bad.command, bad.payload)


def test_request_ids_are_unique_except_the_deliberate_repeat() -> None:
    sent: dict[str, dict[str, Any]] = {}
    for step in DAY.steps:
        if step.repeat:
            assert sent[step.request_id] == step.payload  # the very same command again
        else:
            assert step.request_id not in sent
            sent[step.request_id] = step.payload
    assert sum(step.repeat for step in DAY.steps) == 1


def test_the_day_covers_what_a_campsite_day_has() -> None:
    commands = {step.command for step in DAY.steps}
    assert commands >= {"booking", "encode_card", "read_card", "send_mobile_key",
                        "test_connection", "reconcile"}
    statuses = [step.payload["booking"]["status"] for step in DAY.steps
                if step.command == "booking"]
    assert {"CONFIRMED", "CHECKED_IN", "COMPLETED", "CANCELLED"} <= set(statuses)
    assert any(step.stale for step in DAY.steps)
    assert any(step.payload.get("copy") for step in DAY.steps)
    assert any(step.payload.get("count") == 2 for step in DAY.steps)


def test_the_demo_config_matches_the_space_simulators_site() -> None:
    demo, site = _load("demo.toml"), _load("space-sim.toml")
    rooms = {room["name"] for room in site["rooms"]}
    assert set(demo["units"].values()) <= rooms
    assert [e["name"] for e in demo["encoders"]] == [e["name"] for e in site["encoders"]]
    units = {unit for step in DAY.steps if step.command == "booking"
             for unit in step.payload["booking"]["units"]}
    assert units <= set(demo["units"])
    assert day.PHONE in site["justin"]["phones"]
    ids = {e["id"] for e in demo["encoders"]} | {e["name"] for e in demo["encoders"]}
    assert {step.payload["encoder"] for step in DAY.steps if "encoder" in step.payload} <= ids


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
