"""The appliance and the Space simulator as real processes, for end-to-end MQTT tests.

``Appliance`` writes a configuration for a test's broker, runs ``keybridge init`` and then
``python -m appliance run`` with ``NOTIFY_SOCKET`` pointing at a datagram socket of its own,
so a test waits for systemd's READY=1 rather than guessing, and sees WATCHDOG/STOPPING too.
``SpaceProcess`` runs ``python -m simulators.space`` printing every frame to a log file: the
frames Space received are the ground truth of what was done to the doors.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulators.demo_config import toml_text, write_secret
from simulators.ks import defaults

from _broker import Broker, free_port

ROOT = Path(__file__).resolve().parents[2]
SITE_ID = "camp"
START_TIMEOUT_S = 20.0


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("NOTIFY_SOCKET", None)
    env.pop("WATCHDOG_USEC", None)
    return env


class SpaceProcess:
    """``python -m simulators.space`` on a free port, frames logged to ``frames.log``."""

    def __init__(self, directory: Path, name: str = "space") -> None:
        self.directory = directory
        self.port = free_port()
        self.control_port = free_port()
        self.log_file = directory / ("%s-frames.log" % name)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "SpaceProcess":
        log = open(self.log_file, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simulators.space", "--listen", "127.0.0.1:%d" % self.port,
             "--control", "127.0.0.1:%d" % self.control_port], cwd=ROOT, env=_env(),
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        _wait_port(self.control_port, self.process)
        return self

    def requests(self, command: str) -> list[str]:
        """Request frames of ``command`` (e.g. "CN") Space received, in order."""
        lines = self.log_file.read_text(errors="replace").splitlines()
        return [line for line in lines
                if line.startswith("PMS -> Space") and line.split("|")[1:2] == [command]]

    def control(self, request: dict[str, Any]) -> dict[str, Any]:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=5) as conn:
            conn.sendall(json.dumps(request).encode() + b"\n")
            answer = conn.makefile("rb").readline()
        return dict(json.loads(answer))

    def close(self) -> None:
        _end(self.process)


class Notifications:
    """systemd's side of sd_notify: a datagram socket collecting what the appliance says."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.received: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            with self._cond:
                self.received.extend(data.decode().splitlines())
                self._cond.notify_all()

    def wait_for(self, line: str, timeout: float = START_TIMEOUT_S, after: int = 0) -> int:
        """Index of the first ``line`` at or after ``after``; AssertionError on timeout."""
        def found() -> int:
            """1 + the index, so that the first line is not falsy for wait_for."""
            for index in range(after, len(self.received)):
                if self.received[index] == line:
                    return index + 1
            return 0
        with self._cond:
            position = self._cond.wait_for(found, timeout)
        if not position:
            raise AssertionError("no %s from the appliance; it said %s" % (line, self.received))
        return position - 1

    def close(self) -> None:
        self.sock.close()


class Appliance:
    """One appliance process: configure, init, start, kill -9, stop, read its log."""

    def __init__(self, directory: Path, broker: Broker, space: SpaceProcess | None = None, *,
                 protocol: str = "5", mqtt: dict[str, Any] | None = None,
                 service: dict[str, Any] | None = None, watchdog_s: float = 0,
                 ks_url: str | None = None, ks: dict[str, Any] | None = None,
                 extra: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.broker = broker
        self.config_file = directory / "keybridge.toml"
        self.log_file = directory / "appliance.log"
        self.db_file = directory / "keybridge.db"
        self.watchdog_s = watchdog_s
        self.env = env or {}  # what systemd would add (CREDENTIALS_DIRECTORY...)
        config = _config(directory, broker, space, protocol, mqtt or {}, service or {})
        if ks_url is not None:
            config["ks"] = _ks_config(directory, ks_url, ks or {})
        _merge(config, extra or {})
        self.config_file.write_text(toml_text(config, "Written by tests/mqtt/_appliance.py."))
        self.notify = Notifications(directory / "notify.sock")
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        subprocess.run([sys.executable, "-m", "appliance", "init", "--config",
                        str(self.config_file)], cwd=ROOT, env=_env(), check=True,
                       capture_output=True)

    def start(self, wait: bool = True) -> "Appliance":
        env = _env() | self.env | {"NOTIFY_SOCKET": str(self.notify.path)}
        if self.watchdog_s:
            env |= {"WATCHDOG_USEC": str(int(self.watchdog_s * 1e6)), "WATCHDOG_PID": ""}
        log = open(self.log_file, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "appliance", "run", "--config", str(self.config_file)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._mark = len(self.notify.received)
        self.starts += 1
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        try:
            self.notify.wait_for("READY=1", timeout, after=self._mark)
        except AssertionError as err:
            raise AssertionError("%s\nlog:\n%s" % (err, self.log_text()[-4000:])) from None

    def kill(self) -> None:
        """kill -9: no drain, no offline status, nothing flushed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def topic(self, suffix: str) -> str:
        return "keybridge/%s/%s" % (SITE_ID, suffix)

    def close(self) -> None:
        _end(self.process)
        self.notify.close()


def _merge(config: dict[str, Any], extra: dict[str, Any]) -> None:
    """``extra``'s tables merged into ``config``'s, key by key; other values replace."""
    for name, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(name), dict):
            _merge(config[name], value)
        else:
            config[name] = value


def _config(directory: Path, broker: Broker, space: SpaceProcess | None, protocol: str,
            mqtt: dict[str, Any], service: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "site": {"id": SITE_ID, "timezone": "Europe/Amsterdam"},
        "mqtt": {"host": broker.host, "port": broker.port, "protocol": protocol,
                 "reconnect_min_s": 1, "reconnect_max_s": 2, "keepalive_s": 10} | mqtt,
        "store": {"path": str(directory / "keybridge.db"),
                  "key_file": str(directory / "secret.keys")},
        "service": {"job_retry_min_s": 0.5, "job_retry_max_s": 2, "status_interval_s": 1,
                    "log_level": "debug",
                    "control_socket": str(directory / "control.sock")} | service}
    if space is not None:
        config["space"] = {"server": "127.0.0.1:%d" % space.port, "card_wait_s": 5,
                           "reconnect_min_s": 0.2, "reconnect_max_s": 1,
                           "connect_budget_s": 3}
        config["encoders"] = [{"id": "desk-1", "name": "Online Encoder 1",
                               "location": "reception"}]
        config["units"] = {"P12": "Pitch 12", "C3": "Chalet 3", "P14": "Pitch 14"}
    return config


KS_UNITS = {"P12": ["Pitch 12"], "P14": ["Pitch 14"], "C3": ["Chalet 3"],
            "C7": ["Chalet 7"]}


def _ks_config(directory: Path, url: str, options: dict[str, Any]) -> dict[str, Any]:
    """A [ks] table for the KS simulator's fixed account (simulators/ks/defaults.py)."""
    write_secret(directory / "ks-client-secret", defaults.CLIENT_SECRET)
    write_secret(directory / "ks-password", defaults.PASSWORD)
    options = dict(options)
    units = options.pop("units", KS_UNITS)
    key_types = options.pop("key_types", [])
    table = {"identity_url": url, "api_url": url, "client_id": defaults.CLIENT_ID,
             "client_secret_file": "ks-client-secret", "username": defaults.USERNAME,
             "password_file": "ks-password", "site": "Camping Demo", "timeout_s": 3,
             "consistency_window_s": 20, "events_poll_s": 1, "battery_poll_s": 1,
             "rate_per_hour": 360000, "burst": 100} | options
    return table | {"units": units} | ({"key_types": key_types} if key_types else {})


def eventually(predicate: Callable[[], object], timeout: float = 20.0,
               what: str = "the condition") -> None:
    """For what only a file or a port shows (the appliance's database, its log, a child's
    listening socket): look again every 50 ms, bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("%s did not come true within %ss" % (what, timeout))
        time.sleep(0.05)


def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    """A freshly started child opens its port within a bounded time."""
    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError("the child exited with %s" % process.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return False
        return True
    eventually(listening, START_TIMEOUT_S, "a listener on port %d" % port)


def _end(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
