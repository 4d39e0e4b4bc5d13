"""``make run``: a whole simulated campsite on this machine, and a PMS's day played through it.

    python -m simulators.demo            # runs the day, then keeps the site up until Ctrl-C
    python -m simulators.demo --once     # runs the day and stops (the test-suite does this)

In a run directory (``.cache/demo/``, emptied first) it starts, each on a free loopback port:

1. Mosquitto with its own configuration, persistence and log (never the system broker);
2. the ProAccess Space simulator (``python -m simulators.space``, ``config/space-sim.toml``);
3. the Salto KS cloud simulator (``python -m simulators.ks``: the guests' PIN codes and a
   keypad at every lock), its requests kept in ``ks.log`` only;
4. the appliance: ``python -m appliance init`` then ``run``, with ``keybridge.toml``, a copy of
   ``config/demo.toml`` carrying the ports, the KS URL and the run directory's store paths and
   KS secret files (simulators/demo_config.py);
5. once the appliance's retained status says ``online``, the PMS simulator
   (``python -m simulators.pms``), whose flow and summary are the point of the exercise; its
   guests type their PINs at the KS simulator's keypads and hold their cards to the Space
   simulator's doors (its control channel).

By default the day is told as a story: each step's title, whatever went wrong, and one
summary line per group of checks. ``--trace`` shows everything: the services' output prefixed
(``appliance │``), every message and every check; ``--quiet`` the PMS's trace without the
services. The services' output is always kept in ``<name>.log``.
Everything started is stopped on the way out (SIGTERM, then SIGKILL after a bound), on Ctrl-C
and on errors too. The exit status is the PMS simulator's (0: every check passed); 2 when
the site could not be started.
"""

import argparse
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from simulators.demo_config import write_config
from simulators.pms.client import Broker, PmsClient, Printer

ROOT = Path(__file__).resolve().parents[1]
SPACE_SITE = ROOT / "config" / "space-sim.toml"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
HOST = "127.0.0.1"
READY_TIMEOUT_S = 15.0  # a freshly started child opens its port within this
ONLINE_TIMEOUT_S = 60.0  # the appliance opens its store, connects and says online
INIT_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0  # above the appliance's drain_timeout_s in config/demo.toml
DIM, PLAIN = "\033[2m", "\033[0m"


class DemoError(Exception):
    """The site could not be started; the message says which part and where its log is."""


class Child:
    """One service process: its output prefixed on our stdout and copied to its log file."""

    def __init__(self, name: str, argv: list[str], log: Path, show: bool) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.show = show
        self.on_exit: Callable[[int], None] = lambda code: None
        self.process: subprocess.Popen[str] | None = None
        self._pump: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> "Child":
        # A session of its own: Ctrl-C reaches only us, and we stop the services in order.
        self.process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            self.argv, cwd=ROOT, env=os.environ | {"PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", start_new_session=True)
        self._pump = threading.Thread(target=self._forward, name=self.name, daemon=True)
        self._pump.start()
        return self

    def _forward(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        prefix = "%-9s │ " % self.name
        if sys.stdout.isatty():
            prefix = DIM + prefix
        with open(self.log, "a", encoding="utf-8") as log:
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                # Without the level of an ordinary line (journald's <6>, or "info").
                text = re.sub(r"^(<[0-7]>|info )", "", line.rstrip("\n"))
                if self.show:
                    print(prefix + text + (PLAIN if DIM in prefix else ""), flush=True)
        self.on_exit(self.process.wait())

    def wait_port(self, port: int, timeout: float = READY_TIMEOUT_S) -> None:
        """Bounded connect-retry: the only way to see another process open its socket."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((HOST, port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise DemoError("%s did not listen on %s:%d within %gs; see %s"
                                % (self.name, HOST, port, timeout, self.log))
            try:  # the pause between rounds, and the check for an early exit
                code = self.process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            raise DemoError("%s exited with %d while starting; see %s" % (self.name, code,
                                                                           self.log))

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        if self.running:
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                print("%s ignored SIGTERM for %gs: killed" % (self.name, timeout), flush=True)
                self.process.kill()
                self.process.wait()
        if self._pump is not None:
            self._pump.join(timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Site:
    """The broker, Space, KS and the appliance of one demo run, and the order to stop them."""

    def __init__(self, run_dir: Path, show: bool, printer: Printer, mqtt: str = "auto") -> None:
        self.run = run_dir
        self.show = show
        self.mqtt = mqtt  # the appliance's [mqtt] protocol; the PMS speaks 3.1.1 with "3.1.1"
        self.say = printer.note
        self.children: list[Child] = []
        self.broker_port = free_port()
        self.space_port, self.control_port = free_port(), free_port()
        self.ks_port = free_port()
        self.ks_url = "http://%s:%d" % (HOST, self.ks_port)
        self.config_file = run_dir / "keybridge.toml"
        self.root = ""

    def child(self, name: str, argv: list[str], show: bool = True) -> Child:
        child = Child(name, argv, self.run / ("%s.log" % name), show and self.show)
        self.children.append(child)
        return child.start()

    def start(self) -> None:
        self._broker()
        self._space()
        self._ks()
        self._write_config()
        self._appliance()

    def _broker(self) -> None:
        conf = self.run / "mosquitto.conf"
        conf.write_text("\n".join([
            "# Written by simulators/demo.py for one demo run.",
            # Started as root, Mosquitto 2 would drop to user mosquitto, which cannot write here.
            "user %s" % pwd.getpwuid(os.getuid()).pw_name,
            "listener %d %s" % (self.broker_port, HOST),
            "allow_anonymous true",
            "persistence true",
            "persistence_location %s/" % self.run,
            "log_dest file %s" % (self.run / "mosquitto-broker.log"),
            "log_type error", "log_type warning", "log_type notice", "log_type information",
            "connection_messages true", "set_tcp_nodelay true", ""]))
        self.child("mosquitto", [MOSQUITTO, "-c", str(conf)], show=False).wait_port(
            self.broker_port)
        self.say("broker     mosquitto on %s:%d (log %s)" % (
            HOST, self.broker_port, self.run / "mosquitto-broker.log"))

    def _space(self) -> None:
        space = self.child("space", [
            sys.executable, "-m", "simulators.space", "--site", str(SPACE_SITE),
            "--listen", "%s:%d" % (HOST, self.space_port),
            "--control", "%s:%d" % (HOST, self.control_port)])
        space.wait_port(self.control_port)  # opened after the Space port: both are up
        self.say("space      ProAccess Space simulator on %s:%d, control %s:%d" % (
            HOST, self.space_port, HOST, self.control_port))

    def _ks(self) -> None:
        # Its one line per request (never a PIN or token) would drown the day: log only.
        ks = self.child("ks", [sys.executable, "-m", "simulators.ks", "--listen",
                               "%s:%d" % (HOST, self.ks_port)], show=False)
        ks.wait_port(self.ks_port)
        self.say("ks         Salto KS cloud simulator on %s (requests in %s)" % (
            self.ks_url, ks.log))

    def _write_config(self) -> None:
        self.config_file = write_config(self.run, self.broker_port, "%s:%d" % (
            HOST, self.space_port), self.ks_url, self.mqtt)
        with open(self.config_file, "rb") as file:
            config = tomllib.load(file)
        self.root = "%s/%s" % (config["mqtt"].get("prefix", "keybridge"), config["site"]["id"])

    def _appliance(self) -> None:
        command = [sys.executable, "-m", "appliance"]
        init = self.child("init", [*command, "init", "--config", str(self.config_file)])
        assert init.process is not None
        try:
            code = init.process.wait(INIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise DemoError("appliance init did not finish in %gs" % INIT_TIMEOUT_S) from None
        init.stop()  # the output is all shown before the appliance's own starts
        if code != 0:
            raise DemoError("appliance init failed (exit %d); see %s" % (code, init.log))
        self.appliance = self.child("appliance", [*command, "run", "--config",
                                                  str(self.config_file)])
        self.say("appliance  python -m appliance run --config %s" % self.config_file)

    @property
    def pms_mqtt(self) -> str:
        return "3.1.1" if self.mqtt == "3.1.1" else "5"

    def wait_online(self) -> None:
        """Until the appliance's retained status says online, or it exits, or time is up."""
        watch = PmsClient(Broker(HOST, self.broker_port, protocol=self.pms_mqtt), self.root,
                          "demo-runner-%d" % os.getpid(), Printer(quiet=True))
        try:
            try:
                watch.connect(READY_TIMEOUT_S)
            except ConnectionError as err:
                raise DemoError("cannot watch the appliance's status: %s" % err) from err
            deadline = time.monotonic() + ONLINE_TIMEOUT_S
            while self.appliance.running and time.monotonic() < deadline:
                # Returns as soon as the status arrives; the bound only looks at the process.
                status = watch.wait_status(lambda s: s.get("state") == "online", 1.0)
                if status is not None and status.get("state") == "online":
                    return
        finally:
            watch.close()
        raise DemoError("the appliance did not come online; see %s" % self.appliance.log)

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()


def run_pms(site: Site, story: bool = False) -> int:
    """The PMS simulator's day, stopped early if the appliance dies under it."""
    prefix, _, site_id = site.root.partition("/")
    argv = [sys.executable, "-m", "simulators.pms", "--broker", "%s:%d" % (
        HOST, site.broker_port), "--prefix", prefix, "--site", site_id, "--ks", site.ks_url,
        "--space-control", "%s:%d" % (HOST, site.control_port), "--mqtt", site.pms_mqtt,
        *(["--story"] if story else [])]
    pms = subprocess.Popen(argv, cwd=ROOT,  # noqa: S603 - our own argv, no shell
                           env=os.environ | {"PYTHONUNBUFFERED": "1"})

    def appliance_gone(code: int) -> None:
        if pms.poll() is None:
            print("appliance exited with %d in the middle of the day" % code, flush=True)
            pms.send_signal(signal.SIGINT)

    site.appliance.on_exit = appliance_gone
    try:
        return pms.wait()
    finally:
        site.appliance.on_exit = lambda code: None
        if pms.poll() is None:  # Ctrl-C reached it too; give it the moment to say so
            try:
                pms.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pms.kill()
                pms.wait()


def keep_running(site: Site, say: Callable[[str], None]) -> None:
    """Until Ctrl-C (or SIGTERM), or until the appliance exits."""
    gone = threading.Event()
    site.appliance.on_exit = lambda code: gone.set()
    config = str(site.config_file)  # relative to here where it is inside
    if site.config_file.is_relative_to(ROOT):
        config = str(site.config_file.relative_to(ROOT))
    say("the site keeps running; Ctrl-C stops it. Meanwhile, in another terminal here:")
    say("  .venv/bin/keybridge status --config %s      # the live service" % config)
    say("  .venv/bin/keybridge jobs --config %s        # work waiting" % config)
    say("  .venv/bin/keybridge doctor --config %s      # every check" % config)
    say("  .venv/bin/keybridge space ping --config %s  # Space, through the service" % config)
    say("  .venv/bin/python -m simulators.pms --broker %s:%d --ks %s --space-control %s:%d"
        "     # the day again" % (HOST, site.broker_port, site.ks_url, HOST, site.control_port))
    say("  mosquitto_sub -h %s -p %d -t '%s/#' -v -V 5" % (HOST, site.broker_port, site.root))
    say("  .venv/bin/python -m simulators.space.control %s:%d '{\"op\": \"state\"}'" % (
        HOST, site.control_port))
    if site.appliance.running:
        gone.wait()
        say("the appliance exited; see %s" % site.appliance.log)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulators.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--once", action="store_true", help="stop after the day's summary")
    parser.add_argument("--quiet", action="store_true",
                        help="hide the services' output, keep the PMS's full trace")
    parser.add_argument("--trace", action="store_true",
                        help="the full trace: every service's output, every message, every "
                        "check (by default: the day's story and a line per group of checks)")
    parser.add_argument("--mqtt", choices=("auto", "5", "3.1.1"), default="auto",
                        help="the MQTT version the appliance and the PMS speak (3.1.1: as "
                        "with a NATS or RabbitMQ broker)")
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".cache" / "demo",
                        help="where config, store, logs go (emptied first)")
    return parser.parse_args(argv)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM: the same orderly stop as Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shutil.rmtree(args.run_dir, ignore_errors=True)
    args.run_dir.mkdir(parents=True)
    signal.signal(signal.SIGTERM, _terminate)
    printer = Printer()
    site = Site(args.run_dir.resolve(), args.trace, printer, args.mqtt)
    code = 2
    try:
        site.start()
        site.wait_online()
        printer.note("appliance  online on %s/status; the PMS's day begins" % site.root)
        code = run_pms(site, story=not (args.trace or args.quiet))
        if not args.once:
            keep_running(site, printer.note)
    except DemoError as err:
        print("simulators.demo: %s" % err, file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("\nsimulators.demo: stopping", flush=True)
        code = code if code != 2 else 130
    finally:
        site.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
