"""``keybridge doctor``: the one command a technician runs first.

Each line is OK, WARN or FAIL with what was found and, where something is wrong, the fix:
the configuration, the modes of the files that hold secrets, the clock, the store and its
free disk, the running service, the broker with the configured credentials, each backend
(through the service when it runs), and the systemd unit.

Exit code: the worst line, 0 OK, 1 WARN, 2 FAIL.
"""

import argparse
import asyncio
import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from appliance import checks
from appliance.config import Config, modes
from appliance.control import client, wire
from appliance.errors import ConfigError

OK, WARN, FAIL = "OK", "WARN", "FAIL"
EXIT = {OK: 0, WARN: 1, FAIL: 2}
Line = tuple[str, str, str]
LOW_DISK_BYTES = 200 * 1024 * 1024
"""Below this a busy season's store and its journal may not fit."""


def add_parser(commands: Any, config_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    doctor = commands.add_parser("doctor", help="check everything a site needs, each with "
                                 "its fix (run this first)")
    config_arg(doctor)
    doctor.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    lines = examine(args.config)
    for name, verdict, detail in lines:
        print("%-4s %-13s %s" % (verdict, name, detail))
    return max(EXIT[verdict] for _name, verdict, _detail in lines)


def examine(path: str) -> list[Line]:
    try:
        config, unread = checks.load(path)  # secrets it cannot read: checked through the
    except ConfigError as err:  # running service
        return [("configuration", FAIL, problem) for problem in err.problems]
    lines = [("configuration", OK, "%s: site %s, backends %s" % (
        path, config.site.id, ", ".join(config.backends()) or "none"))]
    lines += [("secrets", WARN, problem) for problem in unread]
    lines += _modes(config)
    (_name, store_ok, store_detail), *reached = asyncio.run(checks.run_checks(
        config, unread=checks.unreadable_sections(unread)))
    lines += [_clock(), _store(config, store_ok, store_detail), _service(config)]
    lines += [(name, OK if ok else FAIL, detail) for name, ok, detail in reached]
    return [*lines, _unit()]


def _modes(config: Config) -> list[Line]:
    """Files with secrets readable by others than the service: the fix is a chmod."""
    files = {"[store] key_file": config.store.key_file, "[store] path": config.store.path}
    if config.mqtt.key_file:
        files["[mqtt] key_file"] = config.mqtt.key_file
    found = []
    for where, path in files.items():
        try:
            os.stat(path)
        except PermissionError:  # a keybridge group member: the folder is 0700, as it should
            found.append(("file modes", WARN, "%s %s: cannot be looked at by %s (its folder is "
                          "the service's own); run keybridge doctor as root to check its mode"
                          % (where, path, client.operator())))
            continue
        except OSError as err:
            found.append(("file modes", FAIL, "%s %s: %s" % (where, path, err.strerror)))
            continue
        if problem := modes.exposed(path):  # what config check and the service say too
            found.append(("file modes", FAIL, "%s: %s" % (where, problem)))
    return found or [("file modes", OK, "the store and the key file are the service's only")]


def _clock() -> Line:
    """A Pi has no real-time clock: until NTP has synchronised, every validity is off."""
    done = _run("timedatectl", "show", "-p", "NTPSynchronized", "--value")
    if done is None:
        return ("clock", WARN, "cannot tell whether the clock is synchronised (no timedatectl); "
                "check that NTP runs")
    if done.stdout.strip() == "yes":
        return ("clock", OK, "synchronised (NTP)")
    return ("clock", WARN, "not synchronised: a Pi has no real-time clock, so keys are issued "
            "for wrong times; check the network and systemctl status systemd-timesyncd")


def _store(config: Config, ok: bool, detail: str) -> Line:
    """The store check's verdict (opened, integrity checked, its key file used: once,
    by checks.py) and the free disk beside it."""
    if not ok:
        return ("store", FAIL, detail)
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(config.store.path))).free
    if free < LOW_DISK_BYTES:
        return ("store", WARN, "%s: integrity ok, but only %d MB free on its disk; free "
                "some space" % (config.store.path, free // 2**20))
    return ("store", OK, "%s: integrity ok, %d MB free" % (config.store.path, free // 2**20))


def _service(config: Config) -> Line:
    try:
        live = client.ask(config.service.control_socket, "status", timeout_s=10)
    except wire.NotRunning:
        return ("service", WARN, "not running (nothing answers at %s): systemctl start "
                "keybridge" % config.service.control_socket)
    except wire.ControlError as err:
        return ("service", FAIL, str(err))
    return ("service", OK, "running (pid %s) since %s" % (live["pid"], live["since"]))


def _unit() -> Line:
    done = _run("systemctl", "is-enabled", "keybridge.service")
    if done is None:
        return ("systemd unit", WARN, "no systemctl here: is this the Pi? systemd/README.md "
                "installs the units")
    state = done.stdout.strip()
    if state == "enabled":
        return _active()
    if not state:
        return ("systemd unit", WARN, "keybridge.service is not installed: systemd/README.md "
                "says how")
    return ("systemd unit", WARN, "keybridge.service is %s: systemctl enable --now keybridge"
            % state)


def _active() -> Line:
    """Enabled is not running: a unit that failed, or keeps restarting, is what a technician
    called for; the journal says why."""
    done = _run("systemctl", "is-active", "keybridge.service")
    state = "" if done is None else done.stdout.strip()
    if state == "active":
        return ("systemd unit", OK, "keybridge.service enabled and active")
    verdict = FAIL if state == "failed" else WARN
    return ("systemd unit", verdict, "keybridge.service is enabled but %s: journalctl -u "
            "keybridge -b -p warning says why; then systemctl restart keybridge"
            % (state or "in no known state"))


def _run(*command: str) -> subprocess.CompletedProcess[str] | None:
    """A system tool's answer, None where the tool is not there."""
    found = shutil.which(command[0])
    if found is None:
        return None
    try:  # a fixed system tool, its path from which(): no input of anyone's
        return subprocess.run([found, *command[1:]], capture_output=True,  # noqa: S603
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
