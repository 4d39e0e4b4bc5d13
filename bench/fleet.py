"""``make fleet``: many campsites on one 3-node NATS JetStream cluster, one node killed and
restarted in the middle of their day. A benchmark, not a test: it prints figures.

Each site is a real ``keybridge run`` process with its own NATS user and every node in
``[mqtt] hosts`` (rotated per site, so the sites spread over the nodes), MQTT 3.1.1 through
``protocol = "auto"``, and its own simulated ProAccess Space (``bench/fleet_space.py``, all
in one process). Each site's day: bookings confirmed, a card cut for each at the desk
(``encode_card``), then half of them cancelled; one PMS client (MQTT 3.1.1, persistent
session) drives them all and hears every reply and event.

Printed: sites, commands sent, replies, lost, duplicates; events expected (a
``card_encoded`` per card, a ``key_revoked`` per cancellation), received, lost and
duplicated (by ``event_id``); cards cut twice at Space; the command-to-reply time beside
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
import time
from pathlib import Path
from typing import Any

from appliance.store.db import Store
from appliance.store.secrets import Keyring, create_key_file
from bench.figures import percentile
from bench.fleet_pms import PMS_PASSWORD, UNITS, Pms, booking, encode_card
from bench.nats import NatsNode, free_port, rss_bytes, user
from simulators.demo_config import toml_text

ROOT = Path(__file__).resolve().parents[1]
STATUS_INTERVAL_S = 2.0
READY_TIMEOUT_S = 600.0
REPLY_TIMEOUT_S = 300.0


def site_config(run: Path, site: str, nodes: list[NatsNode], index: int,
                space_port: int) -> Path:
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
                          "control_socket": str(folder / "control.sock")},
              "space": {"server": "127.0.0.1:%d" % space_port, "card_wait_s": 30},
              "encoders": [{"id": "desk-1", "name": "Online Encoder 1"}],
              "units": UNITS}
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


def run(sites_count: int, stays: int, run: Path) -> None:
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    sites = ["site%03d" % number for number in range(sites_count)]
    nodes = cluster(run, sites)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    farm = space_farm(run, len(sites))
    try:
        ports = json.loads((run / "space-ports.json").read_text())
        for node in nodes:
            node.start()
        print("cluster: 3 NATS nodes up, %d Space servers; starting %d appliances"
              % (len(sites), len(sites)), flush=True)
        for index, site in enumerate(sites):
            config = site_config(run, site, nodes, index, ports[index])
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
        measure_day(pms, sites, stays, nodes)
        wait_for_events(pms, len(sites) * stays, len(sites) * len(range(0, stays, 2)))
        with pms.lock:  # what the PMS heard, for a look behind the table
            (run / "pms-heard.json").write_text(json.dumps(
                {"events": pms.events, "final": pms.final}, indent=1))
        memory = (sum(node.rss_bytes() for node in nodes),
                  [rss_bytes(process.pid) for process in processes.values()])
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        farm.send_signal(signal.SIGTERM)
        farm.wait(30)
        for node in nodes:
            node.stop()
    report(pms, sites, stays, memory, json.loads((run / "space-counts.json").read_text()))


def space_farm(run: Path, count: int) -> subprocess.Popen[bytes]:
    """Every site's Space, in one process; back once all of them listen."""
    ports = run / "space-ports.json"
    farm = subprocess.Popen([sys.executable, "-m", "bench.fleet_space", "--count", str(count),  # noqa: S603
                             "--ports", str(ports), "--counts", str(run / "space-counts.json")],
                            cwd=ROOT)
    wait(ports.exists, READY_TIMEOUT_S, "the Space servers listening")
    return farm


KILLED: dict[str, float] = {}


def measure_day(pms: Pms, sites: list[str], stays: int, nodes: list[NatsNode]) -> None:
    """Bookings, then a card for each (n1 killed half-way through the cards: traffic in
    flight), then half of the stays cancelled. Each phase waits for its replies, as a PMS
    would not ask for a card of a booking the site has not taken yet."""
    for number in range(stays):
        for site in sites:
            pms.send(site, "booking", booking(site, number, "CONFIRMED"))
    wait(pms.all_answered, REPLY_TIMEOUT_S, "every booking accepted")
    for number in range(stays):
        if number == stays // 2:
            KILLED["at"] = time.monotonic()
            nodes[0].kill()
            print("node n1 killed", flush=True)
        for site in sites:
            pms.send(site, "encode_card", encode_card(site, number))
        time.sleep(0.5)
    wait(pms.all_answered, REPLY_TIMEOUT_S, "every card cut")
    nodes[0].start()
    print("node n1 restarted", flush=True)
    for number in range(0, stays, 2):
        for site in sites:
            pms.send(site, "booking", booking(site, number, "CANCELLED"))
    wait(pms.all_answered, REPLY_TIMEOUT_S, "every cancellation accepted")


def wait_for_events(pms: Pms, cards: int, cancelled: int) -> None:
    """Events travel apart from replies: give the outboxes their time (not forever)."""
    def arrived() -> bool:
        with pms.lock:
            return (len(pms.events.get("card_encoded", {})) >= cards and
                    len(pms.events.get("key_revoked", {})) >= cancelled)
    try:
        wait(arrived, REPLY_TIMEOUT_S, "every event")
    except SystemExit as missing:
        print(missing, flush=True)  # the table says how many


def report(pms: Pms, sites: list[str], stays: int, memory: tuple[int, list[int]],
           cards_cut: list[int]) -> None:
    """The table; ``memory``: the brokers' and each appliance's RSS at the end of the day."""
    with pms.lock:
        sent, replies = dict(pms.sent), {key: list(value) for key, value in pms.replies.items()}
        lost = [request for request in sent if not pms.answered(request)]
        duplicates = sum(max(0, pms.answers(request) - 1) for request in sent)
        events = {kind: dict(seen) for kind, seen in pms.events.items()}
        statuses = {site: list(value) for site, value in pms.status_at.items()}
    latency = [replies[request][0] - at for request, at in sent.items() if request in replies]
    killed = KILLED["at"]
    affected = [site for index, site in enumerate(sites) if index % 3 == 0]  # started on n1
    failover = [min((when for when, _updated in statuses[site] if when > killed),
                    default=float("nan")) - killed for site in affected]
    broker_rss, appliance_rss = memory
    rows = [("sites", "%d" % len(sites), "", ""),
            ("commands sent", "%d" % len(sent), "", ""),
            ("commands answered", "%d" % (len(sent) - len(lost)), "", ""),
            ("commands lost", "%d" % len(lost), "", ""),
            ("duplicate replies", "%d" % duplicates, "", "")]
    rows += event_rows(events, len(sites) * stays, len(sites) * len(range(0, stays, 2)))
    rows += [("cards cut at Space (one per card asked)", "%d" % sum(cards_cut),
              "%d" % (len(sites) * stays), ""),
             ("command → reply p50", "%.1f ms" % (1000 * statistics.median(latency)),
              "%.1f ms" % (1000 * statistics.median(pms.echo)),
              "%.0fx" % (statistics.median(latency) / statistics.median(pms.echo))),
             ("command → reply p99", "%.1f ms" % (1000 * percentile(latency, 0.99)),
              "%.1f ms" % (1000 * percentile(pms.echo, 0.99)),
              "%.0fx" % (percentile(latency, 0.99) / percentile(pms.echo, 0.99))),
             ("failover p50 (%d sites on n1)" % len(affected),
              "%.1f s" % statistics.median(failover), "1.0 s",
              "%.0fx" % statistics.median(failover)),
             ("failover p99", "%.1f s" % percentile(failover, 0.99), "1.0 s",
              "%.0fx" % percentile(failover, 0.99)),
             ("broker memory (3 nodes)", "%.0f MB" % (broker_rss / 1e6), "", ""),
             ("appliance memory, mean", "%.1f MB" % (statistics.mean(appliance_rss) / 1e6), "",
              ""),
             ("appliance memory, max", "%.1f MB" % (max(appliance_rss) / 1e6), "", "")]
    print("\n%-40s %12s %12s %8s" % ("", "figure", "floor", "ratio"))
    for name, figure, floor, ratio in rows:
        print("%-40s %12s %12s %8s" % (name, figure, floor, ratio))
    print("\nfloors: the bare MQTT round trip on the same cluster; the link's reconnect_min_s;"
          "\nfor cards, the number the PMS asked for")


def event_rows(events: dict[str, dict[str, int]], cards: int,
               cancelled: int) -> list[tuple[str, str, str, str]]:
    """Per expected type: received (distinct event_id), lost, delivered more than once."""
    rows = []
    for kind, expected in (("card_encoded", cards), ("key_revoked", cancelled)):
        seen = events.get(kind, {})
        rows += [("events %s received" % kind, "%d" % len(seen), "%d" % expected, ""),
                 ("events %s lost" % kind, "%d" % max(0, expected - len(seen)), "", ""),
                 ("events %s duplicated" % kind, "%d" % sum(n - 1 for n in seen.values()),
                  "", "")]
    others = sum(len(seen) for kind, seen in events.items()
                 if kind not in ("card_encoded", "key_revoked"))
    return [*rows, ("events of other types", "%d" % others, "", "")]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--stays", type=int, default=4,
                        help="per site: each a booking and a card, every other one cancelled")
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".cache" / "fleet")
    args = parser.parse_args()
    os.environ.pop("NOTIFY_SOCKET", None)
    run(args.sites, args.stays, args.run_dir)


if __name__ == "__main__":
    main()
