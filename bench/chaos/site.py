"""The chaos site: real processes on loopback, each of which a fault can stop or starve.

Mosquitto with persistence (a restart keeps sessions and queued messages, as a production
broker does), the KS cloud simulator with one lock per pitch, the Space simulator with one
room per pitch and a control channel, and ``keybridge run`` under the clock shim (its wall clock
can be stepped) with its store on a small tmpfs (the disk can fill up). Without root there
is no tmpfs: the disk-full fault is then reported as not injected.
"""

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from appliance.control import client as control
from bench import disk
from bench.chaos import day
from bench.clocks import SteppedClock
from bench.lab import HOST, ROOT, Child, Lab, ks_secrets
from bench.nats import free_port
from simulators.demo_config import toml_text

SITE = "chaos"
DISK_BYTES = 64 * 1024 * 1024


class ChaosSite:
    def __init__(self, run: Path) -> None:
        self.lab = Lab(run)
        self.run = run
        self.appliance: Child | None = None
        self.disk: Path | None = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        self.broker_port = self.lab.broker(persistent=True)
        locks = (*(day.room_name(n) for n in range(1, day.UNITS + 1)), "Main gate")
        self.ks_url = self.lab.ks("ks", locks=locks)
        self.space_port, self.space_control = free_port(), free_port()
        self._space()
        folder = self.run / "disk"
        self.disk = None if disk.mount(folder, DISK_BYTES) else folder
        self.clock = SteppedClock(self.run)
        self.config_file = self._appliance_config()

    # -- the broker ------------------------------------------------------------------------

    def start_broker(self) -> None:
        self.broker_port = self.lab.broker(self.broker_port, persistent=True)

    def stop_broker(self) -> None:
        """SIGTERM: Mosquitto writes its persistence file and exits, as systemd stops it."""
        self.lab.mosquitto.stop()

    # -- the simulators ----------------------------------------------------------------------

    def ks_admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.ks_url + "/_sim/" + path,  # noqa: S310
                                         data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return json.loads(answer.read())

    def _space(self) -> None:
        rooms = "".join('[[rooms]]\nname = "%s"\n\n' % day.room_name(n)
                        for n in range(1, day.UNITS + 1))
        site = self.run / "space-site.toml"
        site.write_text(
            '[server]\nlisten = "%s:%d"\n\n[options]\nremove_access_on_checkout = true\n'
            'max_copies = 10\n\n%s[[doors]]\nname = "Barrier"\nauthorization = 1\n\n'
            '[[encoders]]\nname = "Online Encoder 1"\ncard_after_s = 0.05\n'
            'card_timeout_s = 10.0\ncard = "blank"\n\n[justin]\nphones = %s\n'
            % (HOST, self.space_port, rooms, json.dumps(list(day.PHONES))))
        self.lab.start("space", [sys.executable, "-m", "simulators.space", "--quiet", "--site",
                                 str(site), "--control", "%s:%d" % (HOST, self.space_control)],
                       self.space_port)

    def space(self, request: dict[str, Any]) -> dict[str, Any]:
        with socket.create_connection((HOST, self.space_control), 30) as sock:
            sock.sendall(json.dumps(request).encode() + b"\n")
            answer = sock.makefile("rb").readline()
        found: dict[str, Any] = json.loads(answer)
        if not found.get("ok"):
            raise SystemExit("chaos: the Space simulator refused %s: %s" % (request, found))
        return found

    # -- the disk ------------------------------------------------------------------------------

    def fill_disk(self) -> None:
        assert self.disk is not None
        disk.fill(self.disk)

    def free_disk(self) -> None:
        assert self.disk is not None
        (self.disk / disk.FILLER).unlink(missing_ok=True)

    # -- the appliance ---------------------------------------------------------------------

    def _appliance_config(self) -> Path:
        folder = self.run / "appliance"
        folder.mkdir()
        store = (self.disk or folder) / "keybridge.db"
        units = {day.unit_name(n): day.room_name(n) for n in range(1, day.UNITS + 1)}
        config = {
            "site": {"id": SITE, "timezone": "Europe/Amsterdam"},
            "mqtt": {"host": HOST, "port": self.broker_port, "protocol": "5",
                     "reconnect_min_s": 0.5, "reconnect_max_s": 2},
            "store": {"path": str(store), "key_file": str(folder / "secret.keys")},
            "service": {"job_retry_min_s": 1, "job_retry_max_s": 10, "status_interval_s": 2,
                        "log_level": "info", "control_socket": str(folder / "control.sock")},
            "space": {"server": "%s:%d" % (HOST, self.space_port), "card_wait_s": 5,
                      "reconnect_min_s": 0.2, "reconnect_max_s": 2, "connect_budget_s": 5,
                      "authorizations": {"1": "Barrier"},
                      "key_types": [{"name": "pitch", "authorizations": ["Barrier"],
                                     "print_info": ["{guest}", "{rooms}"], "max_cards": 4}],
                      "products": [{"name": "Pitch", "key_type": "pitch",
                                    "types": ["pitch"]}]},
            "encoders": [{"id": "desk-1", "name": "Online Encoder 1", "location": "desk"}],
            "units": units,
            "ks": {"identity_url": self.ks_url, "api_url": self.ks_url,
                   **ks_secrets(self.run), "rate_per_hour": 1e9, "burst": 1000,
                   "events_poll_s": 30, "battery_poll_s": 3600, "consistency_window_s": 5,
                   "units": {unit: [room] for unit, room in units.items()},
                   "key_types": [{"name": "stay", "locks": ["Main gate"]}]}}
        path = folder / "keybridge.toml"
        path.write_text(toml_text(config, "Written by bench/chaos/site.py."))
        init = subprocess.run([sys.executable, "-m", "appliance", "init",  # noqa: S603
                               "--config", str(path)], cwd=ROOT, capture_output=True,
                              text=True, check=False)
        if init.returncode != 0:
            raise SystemExit("chaos: keybridge init refused %s:\n%s" % (path, init.stderr))
        return path

    def start_appliance(self) -> None:
        """Started, not waited for: a kill may come before it is ready, as in the field."""
        self.appliance = Child(self.run, "appliance", [
            sys.executable, "-m", "appliance", "run", "--config", str(self.config_file)],
            env=self.clock.env)

    def kill_appliance(self) -> None:
        assert self.appliance is not None
        self.appliance.process.send_signal(signal.SIGKILL)
        self.appliance.process.wait(30)

    def appliance_status(self) -> dict[str, Any] | None:
        try:
            return dict(control.ask(str(self.config_file.parent / "control.sock"), "status",
                                    timeout_s=10))
        except Exception:  # not up (yet): the caller asks again
            return None

    def close(self) -> None:
        self.lab.close()
        if self.disk is not None:
            disk.unmount(self.disk)
