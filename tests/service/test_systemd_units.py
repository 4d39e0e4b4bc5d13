"""The unit files in systemd/: they parse, they say what the service relies on, and
``systemd-analyze security`` rates each service's exposure at 2.0 or better.

Needs ``systemd-analyze`` (Debian: the systemd package), not a running systemd:
``security --offline=true`` and ``verify`` read the files themselves.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
SERVICES = ["keybridge.service", "keybridge-reconcile.service"]
ALL_UNITS = [*SERVICES, "keybridge-reconcile.timer"]
MAX_EXPOSURE = 2.0
BINARY = "/usr/bin/keybridge"
"""Where the Debian package puts it (a manual install links it there)."""

ANALYZE = shutil.which("systemd-analyze") or next(
    (p for p in ("/usr/bin/systemd-analyze", "/bin/systemd-analyze") if os.access(p, os.X_OK)),
    None)
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze not installed (Debian: apt install systemd); "
                            "the unit files are checked only where it is")

# `verify` checks that ExecStart= exists; on a development machine keybridge is not
# installed, and that is the only complaint expected about our units there.
MISSING_BINARY = re.compile(r"^keybridge[\w-]*\.service: Command %s is not executable: "
                            r"No such file or directory$" % re.escape(BINARY))
# Anything else naming our units (a parse warning is "path:line: ..., ignoring.")
# or any unknown setting anywhere is a problem.
OURS = re.compile(r"keybridge|Unknown (key|section|lvalue)|[Ii]nvalid|[Ff]ailed to parse")


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file, each key with all its values (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        assert not line.endswith("\\"), "continuation lines are not used: %r" % line
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, "%s: assignment before any section: %r" % (path, line)
        key, sep, value = line.partition("=")
        assert sep, "%s: not KEY=value: %r" % (path, line)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def run_analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    env = {**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "LC_ALL": "C.UTF-8"}
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, encoding="utf-8",
                          errors="replace", env=env, timeout=60, check=False)


def verify_problems(*paths: Path) -> list[str]:
    """The lines of ``systemd-analyze verify`` that point at a problem in our units."""
    result = run_analyze("verify", "--man=no", "--generators=no", *map(str, paths))
    lines = [line.strip() for line in (result.stdout + result.stderr).splitlines()]
    problems = [line for line in lines if OURS.search(line) and not MISSING_BINARY.match(line)]
    if not problems and not any(MISSING_BINARY.match(line) for line in lines):
        # Only then does verify owe us a clean exit status.
        assert result.returncode == 0, lines
    return problems


@needs_analyze
@pytest.mark.parametrize("unit", SERVICES)
def test_exposure_is_at_most_2(unit: str) -> None:
    result = run_analyze("security", "--offline=true", "--no-pager", str(UNITS / unit))
    found = re.search(r"Overall exposure level for %s: (\d+(?:\.\d+)?)" % re.escape(unit),
                      result.stdout)
    assert found, "no exposure line in:\n%s%s" % (result.stdout, result.stderr)
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout


@needs_analyze
def test_verify_finds_nothing_wrong_with_the_units() -> None:
    assert verify_problems(*(UNITS / unit for unit in ALL_UNITS)) == []


@needs_analyze
def test_verify_would_catch_an_unknown_key(tmp_path: Path) -> None:
    """The filter above is not vacuous: a misspelt setting is reported."""
    text = (UNITS / "keybridge.service").read_text(encoding="utf-8")
    broken = tmp_path / "keybridge.service"
    broken.write_text(text.replace("ProtectHome=yes", "ProtectHomes=yes"), encoding="utf-8")
    problems = verify_problems(broken)
    assert any("Unknown key" in line and "ProtectHomes" in line for line in problems), problems


def test_service_is_notify_with_watchdog() -> None:
    service = parse_unit(UNITS / "keybridge.service")["Service"]
    assert service["Type"] == ["notify"]
    assert service["NotifyAccess"] == ["main"]
    assert service["WatchdogSec"] == ["30"]
    assert service["Restart"] == ["on-failure"]
    assert service["ExecStart"] == [BINARY + " run --config /etc/keybridge/keybridge.toml"]
    # Room to drain after STOPPING=1, beyond one watchdog period.
    assert int(service["TimeoutStopSec"][0]) >= 30


@pytest.mark.parametrize("unit", SERVICES)
def test_service_identity_and_files(unit: str) -> None:
    service = parse_unit(UNITS / unit)["Service"]
    assert service["User"] == service["Group"] == ["keybridge"]
    assert service["SupplementaryGroups"] == ["dialout"]
    assert service["StateDirectory"] == ["keybridge"]
    assert service["StateDirectoryMode"] == ["0700"]
    assert service["ConfigurationDirectory"] == ["keybridge"]
    assert service["UMask"] == ["0077"]
    assert "PrivateDevices" not in service  # it would hide the serial line
    assert service["DevicePolicy"] == ["closed"]
    assert "char-ttyUSB rw" in service["DeviceAllow"]


def test_reconcile_is_a_nightly_oneshot() -> None:
    service = parse_unit(UNITS / "keybridge-reconcile.service")["Service"]
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"] == [BINARY + " reconcile --config /etc/keybridge/keybridge.toml"]
    timer = parse_unit(UNITS / "keybridge-reconcile.timer")
    assert timer["Timer"]["OnCalendar"] == ["*-*-* 03:30"]
    assert timer["Timer"]["Persistent"] == ["true"]
    assert timer["Timer"]["RandomizedDelaySec"] == ["15m"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]


# What may differ between the two services; everything else is the shared sandbox.
OWN_SETTINGS = {"Type", "NotifyAccess", "WatchdogSec", "ExecStart", "Restart", "RestartSec",
                "RestartPreventExitStatus",
                "TimeoutStartSec", "TimeoutStopSec", "SyslogIdentifier", "Nice",
                "IOSchedulingClass",
                # The service's control socket directory: the nightly run must not own it, or
                # systemd would remove /run/keybridge (and the socket) when the run ends.
                "RuntimeDirectory", "RuntimeDirectoryMode"}


def test_reconcile_has_the_same_sandbox() -> None:
    main = parse_unit(UNITS / "keybridge.service")["Service"]
    reconcile = parse_unit(UNITS / "keybridge-reconcile.service")["Service"]
    shared = {k: v for k, v in main.items() if k not in OWN_SETTINGS}
    assert {k: v for k, v in reconcile.items() if k not in OWN_SETTINGS} == shared
    assert "ProtectSystem" in shared and "SystemCallFilter" in shared


def test_a_service_that_gave_its_session_up_is_not_restarted_into_the_same_fight() -> None:
    from appliance.errors import SessionTakenOver
    main = parse_unit(UNITS / "keybridge.service")["Service"]
    assert main["Restart"] == ["on-failure"]
    assert main["RestartPreventExitStatus"] == [str(SessionTakenOver.EXIT_STATUS)]
