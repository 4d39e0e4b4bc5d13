"""NATS servers with JetStream and their MQTT listener, as real processes on free ports:
the fleet test's cluster (tests/mqtt) and ``make fleet``'s.

NATS speaks MQTT 3.1.1 only (a version-5 CONNECT gets "Unsupported protocol version"), maps
topics to subjects (``a/b/+`` is ``a.b.*``) and applies per-user subject permissions to them.
``NatsNode`` stands in for the tests' ``Broker`` wherever they need ``host``/``port``/
``passwords``.
"""

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"

NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"
START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def user(name: str, password: str, publish: Any = ">", subscribe: Any = ">") -> dict[str, Any]:
    """A NATS user; ``publish``/``subscribe``: subjects, or {allow: [...], deny: [...]}."""
    return {"user": name, "password": password,
            "permissions": {"publish": publish, "subscribe": subscribe}}


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s: %s" % (key, _value(item)) for key, item in value.items())
    if isinstance(value, list):
        return "[%s]" % ", ".join(_value(item) for item in value)
    return '"%s"' % value


class NatsNode:
    """One ``nats-server``: its own config, JetStream store and log in ``directory``."""

    ca_file = None
    client_certs: dict[str, Any] = {}

    def __init__(self, directory: Path, users: list[dict[str, Any]], *, name: str = "n1",
                 routes: list[int] | None = None, cluster_port: int | None = None,
                 replicas: int = 1) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.host = HOST
        self.port = free_port()  # MQTT
        self.client_port = free_port()
        self.cluster_port = cluster_port
        self.passwords = {item["user"]: item["password"] for item in users}
        self.log_file = directory / ("%s.log" % name)
        self.conf_file = directory / ("%s.conf" % name)
        lines = ["server_name: %s" % name, "listen: %s:%d" % (HOST, self.client_port),
                 'jetstream { store_dir: "%s" }' % (directory / ("js-" + name)),
                 "mqtt { listen: %s:%d, ack_wait: \"5s\", stream_replicas: %d, "
                 "consumer_replicas: %d }" % (HOST, self.port, replicas, replicas),
                 "authorization { users: %s }" % _value(users)]
        if cluster_port is not None:
            lines.append("cluster { name: keybridge, listen: %s:%d, routes: [%s] }" % (
                HOST, cluster_port, ", ".join('"nats-route://%s:%d"' % (HOST, route)
                                              for route in routes or [])))
        self.conf_file.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "NatsNode":
        log = open(self.log_file, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            [NATS, "-c", str(self.conf_file)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Listening for MQTT clients" not in self.log_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("nats-server %s did not start:\n%s"
                                     % (self.name, self.log_text()[-4000:]))
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def __repr__(self) -> str:
        return "<NatsNode %s mqtt %s:%d pid %s>" % (
            self.name, self.host, self.port, None if self.process is None else
            self.process.pid)

    def rss_bytes(self) -> int:
        """The server's resident memory now (0 when it is not running)."""
        return rss_bytes(None if self.process is None else self.process.pid)


def rss_bytes(pid: int | None) -> int:
    """A process's resident memory from /proc (0 when it is gone)."""
    if pid is None:
        return 0
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
