"""The bench's site: real processes on free loopback ports in one run directory.

Mosquitto (with ``set_tcp_nodelay``, as the site example), the KS cloud simulator, the
Space simulator (its encoders present the card at once) and ``keybridge run`` with a
configuration written here, started the way systemd starts it (``$NOTIFY_SOCKET``) so the
time to READY=1 is measured as systemd sees it.
"""

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from appliance.control import client as control
from bench.nats import free_port, rss_bytes
from simulators.demo_config import toml_text, write_secret
from simulators.ks import defaults as ks_defaults

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
START_TIMEOUT_S = 60.0


class Child:
    """One process, its output in ``<name>.log``; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, run: Path, name: str, argv: list[str],
                 env: dict[str, str] | None = None) -> None:
        self.log = run / ("%s.log" % name)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own argv
                argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                env=os.environ | (env or {}))
        self.pid = self.process.pid

    def wait_port(self, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection((HOST, port), 0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("bench: %r did not listen on %d (see %s)" % (
            self.process.args, port, self.log))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Lab:
    """The run directory and everything started in it; ``close()`` stops it all."""

    def __init__(self, run: Path) -> None:
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        self.run = run
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str], port: int | None = None,
              env: dict[str, str] | None = None) -> Child:
        child = Child(self.run, name, argv, env)
        self.children.append(child)
        if port is not None:
            child.wait_port(port)
        return child

    def broker(self, port: int | None = None, persistent: bool = False) -> int:
        """Mosquitto on ``port`` (a free one by default); ``persistent``: sessions and queued
        messages saved in the run directory, so a restart on the same port keeps them, as a
        production broker does. ``self.mosquitto`` is its process."""
        port = port or free_port()
        conf = self.run / "mosquitto.conf"
        # As ourselves: as root, Mosquitto would become "mosquitto", could not write its
        # persistence file here, and a restart would lose every queued message.
        lines = ["user %s" % pwd.getpwuid(os.getuid()).pw_name,
                 "listener %d %s" % (port, HOST), "allow_anonymous true",
                 "set_tcp_nodelay true", "max_queued_messages 100000"]
        if persistent:
            lines += ["persistence true", "persistence_location %s/" % self.run,
                      "autosave_interval 5"]
        conf.write_text("\n".join([*lines, ""]))
        self.mosquitto = self.start("mosquitto", [MOSQUITTO, "-c", str(conf)], port)
        return port

    def ks(self, name: str, seats: int = 100000, locks: tuple[str, ...] = ()) -> str:
        """A KS cloud simulator of its own: its cost grows with the guests it holds, so each
        figure and its floor start from an empty one. ``locks``: its lock names, if not the
        simulator's own."""
        port = free_port()
        named = ["--locks", ",".join(locks)] if locks else []
        self.start(name, [sys.executable, "-m", "simulators.ks", "--quiet", "--seats",
                          str(seats), *named, "--listen", "%s:%d" % (HOST, port)], port)
        return "http://%s:%d" % (HOST, port)

    def space(self, card_after_s: float) -> str:
        """A Space simulator whose encoders see the card ``card_after_s`` after a request
        (the site file says 1.0: a person placing it)."""
        port = free_port()
        site = (ROOT / "config" / "space-sim.toml").read_text()
        name = "space-%g" % card_after_s
        path = self.run / ("%s.toml" % name)
        path.write_text(site.replace("card_after_s = 1.0", "card_after_s = %r" % card_after_s))
        self.start(name, [sys.executable, "-m", "simulators.space", "--quiet", "--site",
                          str(path), "--listen", "%s:%d" % (HOST, port)], port)
        return "%s:%d" % (HOST, port)

    def close(self) -> None:
        for child in reversed(self.children):
            child.stop()


def ks_requests(url: str) -> int:
    """How many API requests the KS simulator has served so far."""
    with urllib.request.urlopen(url + "/_sim/state", timeout=60) as answer:  # noqa: S310
        return sum(json.loads(answer.read())["requests"].values())


def ks_secrets(run: Path) -> dict[str, Any]:
    """The KS simulator's published demo account, its secrets in 0600 files."""
    write_secret(run / "ks-client-secret", ks_defaults.CLIENT_SECRET)
    write_secret(run / "ks-password", ks_defaults.PASSWORD)
    return {"client_id": ks_defaults.CLIENT_ID, "username": ks_defaults.USERNAME,
            "client_secret_file": str(run / "ks-client-secret"),
            "password_file": str(run / "ks-password"),
            "site": ks_defaults.SITE_CUSTOMER_REFERENCE}


class Appliance:
    """``keybridge run`` on a written configuration; READY=1 timed from the spawn."""

    def __init__(self, lab: Lab, name: str, config: dict[str, Any]) -> None:
        folder = lab.run / name
        folder.mkdir(exist_ok=True)
        self.socket_path = str(folder / "control.sock")
        config["service"] = {"log_level": "warning", "status_interval_s": 60,
                             "control_socket": self.socket_path} | config.get("service", {})
        self.db_path = config["store"]["path"]
        self.config_file = folder / "keybridge.toml"
        self.config_file.write_text(toml_text(config, "Written by bench/lab.py."))
        subprocess.run([sys.executable, "-m", "appliance", "init", "--config",  # noqa: S603
                        str(self.config_file)], cwd=ROOT, check=True, capture_output=True)
        self.lab, self.name = lab, name

    def start(self) -> "Appliance":
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = self.lab.run / ("%s.notify" % self.name)
        path.unlink(missing_ok=True)
        notify.bind(str(path))
        notify.settimeout(START_TIMEOUT_S)
        started = time.monotonic()
        self.child = self.lab.start(self.name, [sys.executable, "-m", "appliance", "run",
                                                "--config", str(self.config_file)],
                                    env={"NOTIFY_SOCKET": str(path)})
        try:
            while b"READY=1" not in notify.recv(4096):
                pass
        except TimeoutError:
            raise SystemExit("bench: %s never became ready (see %s)" % (
                self.name, self.child.log)) from None
        finally:
            notify.close()
        self.ready_s = time.monotonic() - started
        return self

    def status(self) -> dict[str, Any]:
        return dict(control.ask(self.socket_path, "status", timeout_s=30))

    def rss_bytes(self) -> int:
        return rss_bytes(self.child.pid)

    def cpu_s(self) -> float:
        """User and system CPU seconds the process has used."""
        with open("/proc/%d/stat" % self.child.pid) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.child.stop()
