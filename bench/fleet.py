"""``make fleet``: many campsites on one 3-node NATS JetStream cluster, one node killed and
restarted in the middle of their day. A benchmark, not a test: it prints figures.

Each site is a real ``keybridge run`` process with its own NATS user and every node in
``[mqtt] hosts`` (rotated per site, so the sites spread over the nodes), MQTT 3.1.1 through
``protocol = "auto"``; no Space or KS backend, so what is measured is the broker path: a
command in, its reply out. One PMS client (MQTT 3.1.1, persistent session) drives them all.

Printed: sites, commands sent, replies, lost, duplicates; the command-to-reply time beside
its floor measured in the same run (a bare publish/receive round trip on the same cluster);
failover time of the sites whose node was killed (kill to their first status from another
node) beside the link's own floor (reconnect_min_s); and the memory of the brokers and the
appliances.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from appliance.store.db import Store
from appliance.store.secrets import Keyring, create_key_file
from bench.figures import percentile
from bench.nats import NatsNode, free_port, rss_bytes, user
from simulators.demo_config import toml_text

ROOT = Path(__file__).resolve().parents[1]
PMS_PASSWORD = "pms-fleet"  # noqa: S105 - a throwaway cluster's, on loopback
STATUS_INTERVAL_S = 2.0
READY_TIMEOUT_S = 600.0
REPLY_TIMEOUT_S = 300.0


class Pms:
    """The PMS for every site: publishes commands, times replies, keeps statuses."""

    def __init__(self, node: NatsNode) -> None:
        self.lock = threading.Lock()
        self.sent: dict[str, float] = {}
        self.replies: dict[str, list[float]] = {}
        self.status_at: dict[str, list[tuple[float, str]]] = {}  # site → (when, node)
        self.echo: list[float] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, "pms-fleet",
                                  protocol=mqtt.MQTTv311, clean_session=False)
        self.client.username_pw_set("pms", PMS_PASSWORD)
        self.client.on_message = self._message
        self.client.on_connect = lambda client, *args: client.subscribe(
            [("keybridge/+/reply/+", 1), ("keybridge/+/status", 1), ("fleet/echo", 1)])
        self.client.connect(node.host, node.port, 30)
        self.client.loop_start()

    def _message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if message.topic == "fleet/echo":
            with self.lock:
                self.echo.append(now - float(message.payload))
            return
        body = json.loads(message.payload)
        site = message.topic.split("/")[1]
        with self.lock:
            if "/reply/" in message.topic:
                self.replies.setdefault(str(body.get("request_id")), []).append(now)
            elif body.get("state") == "online":
                self.status_at.setdefault(site, []).append((now, str(body.get("updated_at"))))

    def send(self, site: str, command: str, payload: dict[str, Any]) -> None:
        with self.lock:
            self.sent[str(payload["request_id"])] = time.monotonic()
        self.client.publish("keybridge/%s/cmd/%s" % (site, command), json.dumps(payload), 1)

    def echo_round_trips(self, count: int) -> None:
        for _ in range(count):
            self.client.publish("fleet/echo", repr(time.monotonic()), 1)
            time.sleep(0.01)

    def online(self) -> set[str]:
        with self.lock:
            return set(self.status_at)


def booking(site: str, number: int, status: str) -> dict[str, Any]:
    return {"request_id": "%s-%d-%s" % (site, number, status.lower()), "booking": {
        "id": "B%d" % number, "revision": 1 if status == "CONFIRMED" else 2, "status": status,
        "units": ["P%d" % number], "arrival": "2027-07-01T14:00:00+02:00",
        "departure": "2027-07-04T11:00:00+02:00"}}


def site_config(run: Path, site: str, nodes: list[NatsNode], index: int) -> Path:
    folder = run / site
    folder.mkdir(parents=True)
    secret = folder / "mqtt-password"
    secret.write_text("pw-%s" % site)
    secret.chmod(0o600)
    hosts = ["%s:%d" % (node.host, node.port) for node in nodes]
    hosts = hosts[index % 3:] + hosts[:index % 3]  # the sites spread over the nodes
    config = {"site": {"id": site, "timezone": "Europe/Amsterdam"},
              "mqtt": {"hosts": hosts, "protocol": "auto", "username": site,
                       "password_file": str(secret), "reconnect_min_s": 1,
                       "reconnect_max_s": 5, "keepalive_s": 10},
              "store": {"path": str(folder / "keybridge.db"),
                        "key_file": str(folder / "secret.keys")},
              "service": {"status_interval_s": STATUS_INTERVAL_S, "log_level": "warning",
                          "control_socket": str(folder / "control.sock")}}
    path = folder / "keybridge.toml"
    path.write_text(toml_text(config, "Written by bench/fleet.py."))
    create_key_file(str(folder / "secret.keys"))
    Store(str(folder / "keybridge.db"), Keyring(str(folder / "secret.keys"))).close()
    return path


def cluster(run: Path, sites: list[str]) -> list[NatsNode]:
    ports = [free_port() for _ in range(3)]
    users = [user(site, "pw-%s" % site, publish=["keybridge.%s.>" % site, "$MQTT.>"],
                  subscribe=["keybridge.%s.>" % site, "$MQTT.>"]) for site in sites]
    users.append(user("pms", PMS_PASSWORD))
    return [NatsNode(run / "nats", users, name="n%d" % (index + 1), replicas=3,
                     cluster_port=port, routes=[other for other in ports if other != port])
            for index, port in enumerate(ports)]


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("fleet: %s did not happen within %g s" % (what, timeout))
        time.sleep(0.2)


def run(sites_count: int, per_site: int, run: Path) -> None:
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    sites = ["site%03d" % number for number in range(sites_count)]
    nodes = cluster(run, sites)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for node in nodes:
            node.start()
        print("cluster: 3 NATS nodes up; starting %d appliances" % len(sites), flush=True)
        for index, site in enumerate(sites):
            config = site_config(run, site, nodes, index)
            log = open(run / site / "appliance.log", "ab")  # noqa: SIM115 - the child's
            processes[site] = subprocess.Popen(  # noqa: S603 - our own argv
                [sys.executable, "-m", "appliance", "run", "--config", str(config)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            log.close()
        pms = Pms(nodes[1])
        started = time.monotonic()
        wait(lambda: len(pms.online()) == len(sites), READY_TIMEOUT_S, "every site online")
        print("all %d sites online in %.0f s" % (len(sites), time.monotonic() - started),
              flush=True)
        pms.echo_round_trips(50)
        measure_day(pms, sites, per_site, nodes)
        report(pms, sites, nodes, processes)
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        for node in nodes:
            node.stop()


KILLED: dict[str, float] = {}


def measure_day(pms: Pms, sites: list[str], per_site: int, nodes: list[NatsNode]) -> None:
    for number in range(per_site):
        if number == per_site // 2:
            KILLED["at"] = time.monotonic()
            nodes[0].kill()
            print("node n1 killed", flush=True)
        status = "CONFIRMED" if number % 2 == 0 else "CANCELLED"
        for site in sites:
            pms.send(site, "booking", booking(site, number // 2, status))
        time.sleep(0.5)
    nodes[0].start()
    print("node n1 restarted", flush=True)
    wait(lambda: all(request in pms.replies for request in pms.sent), REPLY_TIMEOUT_S,
         "every reply")


def report(pms: Pms, sites: list[str], nodes: list[NatsNode],
           processes: dict[str, subprocess.Popen[bytes]]) -> None:
    with pms.lock:
        sent, replies = dict(pms.sent), {key: list(value) for key, value in pms.replies.items()}
        statuses = {site: list(value) for site, value in pms.status_at.items()}
    lost = [request for request in sent if request not in replies]
    duplicates = sum(len(times) - 1 for times in replies.values())
    latency = [replies[request][0] - at for request, at in sent.items() if request in replies]
    killed = KILLED["at"]
    affected = [site for index, site in enumerate(sites) if index % 3 == 0]  # started on n1
    failover = [min((when for when, _updated in statuses[site] if when > killed),
                    default=float("nan")) - killed for site in affected]
    appliance_rss = [rss_bytes(process.pid) for process in processes.values()]
    rows = [
        ("sites", "%d" % len(sites), "", ""),
        ("commands sent", "%d" % len(sent), "", ""),
        ("replies", "%d" % len(replies), "", ""),
        ("lost", "%d" % len(lost), "", ""),
        ("duplicate replies", "%d" % duplicates, "", ""),
        ("command → reply p50", "%.1f ms" % (1000 * statistics.median(latency)),
         "%.1f ms" % (1000 * statistics.median(pms.echo)),
         "%.0fx" % (statistics.median(latency) / statistics.median(pms.echo))),
        ("command → reply p99", "%.1f ms" % (1000 * percentile(latency, 0.99)),
         "%.1f ms" % (1000 * percentile(pms.echo, 0.99)),
         "%.0fx" % (percentile(latency, 0.99) / percentile(pms.echo, 0.99))),
        ("failover p50 (%d sites on n1)" % len(affected),
         "%.1f s" % statistics.median(failover), "1.0 s", "%.0fx" % statistics.median(failover)),
        ("failover p99", "%.1f s" % percentile(failover, 0.99), "1.0 s",
         "%.0fx" % percentile(failover, 0.99)),
        ("broker memory (3 nodes)", "%.0f MB" % (sum(n.rss_bytes() for n in nodes) / 1e6),
         "", ""),
        ("appliance memory, mean", "%.1f MB" % (statistics.mean(appliance_rss) / 1e6), "", ""),
        ("appliance memory, max", "%.1f MB" % (max(appliance_rss) / 1e6), "", ""),
    ]
    print("\n%-32s %12s %12s %8s" % ("", "figure", "floor", "ratio"))
    for name, figure, floor, ratio in rows:
        print("%-32s %12s %12s %8s" % (name, figure, floor, ratio))
    print("\nfloors: the bare MQTT round trip on the same cluster; the link's reconnect_min_s")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--commands", type=int, default=10, help="per site")
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".cache" / "fleet")
    args = parser.parse_args()
    os.environ.pop("NOTIFY_SOCKET", None)
    run(args.sites, args.commands, args.run_dir)


if __name__ == "__main__":
    main()
