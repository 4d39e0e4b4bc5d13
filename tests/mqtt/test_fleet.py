"""Several campsites on one clustered broker: a real 3-node NATS cluster with JetStream
(replicas 3) and MQTT listeners, one appliance per site with its own credentials and every
node in [mqtt] hosts, one PMS for all. The node the sites use is killed with SIGKILL in the
middle of the traffic; nothing may be lost or done twice, every site must move to a
surviving node, and no site may read another's events (PINs travel in them)."""

import subprocess
import sys
import time

import pytest

from _appliance import ROOT, Appliance, SpaceProcess, eventually
from _broker import MQTT311, free_port
from _nats import NatsNode, user
from test_appliance_contract import booking

pytestmark = pytest.mark.timeout(300)
SITES = ("site1", "site2", "site3")
BOOKINGS = 4  # per site, each with a card cut: half before the kill, half after
PASSWORD = "pw-%s"
COMMAND_TIMEOUT_S = 90.0  # a JetStream cluster re-elects leaders after a node dies


def site_user(site):
    subjects = ["keybridge.%s.>" % site, "$MQTT.>"]
    return user(site, PASSWORD % site, publish=subjects, subscribe=subjects)


@pytest.fixture
def cluster(tmp_path):
    ports = [free_port() for _ in range(3)]
    users = [*(site_user(site) for site in SITES), user("pms", PASSWORD % "pms")]
    nodes = [NatsNode(tmp_path / "nats", users, name="n%d" % (index + 1), replicas=3,
                      cluster_port=port, routes=[other for other in ports if other != port])
             for index, port in enumerate(ports)]
    for node in nodes:
        node.start()
    yield nodes
    for node in nodes:
        node.stop()


def credentials(tmp_path, site, cluster):
    """The site's own user, and every node of the cluster in [mqtt] hosts."""
    secret = tmp_path / ("%s-password" % site)
    secret.write_text(PASSWORD % site)
    secret.chmod(0o600)
    return {"username": site, "password_file": str(secret), "protocol": "auto",
            "hosts": ["%s:%d" % (node.host, node.port) for node in cluster]}


def test_a_fleet_survives_the_loss_of_the_node_it_uses(tmp_path, cluster, peer_factory):
    spaces = {site: SpaceProcess(tmp_path, name="space-" + site).start() for site in SITES}
    appliances = {site: Appliance(tmp_path / site, cluster[0], spaces[site], protocol="auto",
                                  mqtt=credentials(tmp_path, site, cluster),
                                  extra={"site": {"id": site}}) for site in SITES}
    pms = None
    try:
        for appliance in appliances.values():
            appliance.start(wait=False)
        for appliance in appliances.values():
            appliance.wait_ready(60)
        pms = peer_factory(cluster[1], "pms-fleet", user="pms", protocol=MQTT311,
                           persistent=True)
        pms.subscribe("keybridge/+/reply/+")
        pms.subscribe("keybridge/+/event/+")
        sent = []
        for number in range(BOOKINGS):
            if number == BOOKINGS // 2:
                cluster[0].kill()  # the node every site started on
            for site in SITES:
                sent += run_stay(pms, site, number)
        for site, request_id in sent:
            eventually(lambda site=site, request_id=request_id: replied(pms, site, request_id),
                       timeout=COMMAND_TIMEOUT_S,
                       what="the reply to %s at %s" % (request_id, site))
        for site in SITES:  # events and replies travel on different topics: either first
            eventually(lambda site=site: len(encoded(pms, site)) == BOOKINGS,
                       timeout=COMMAND_TIMEOUT_S, what="every card_encoded of %s" % site)
            assert len(spaces[site].requests("CN")) == BOOKINGS  # no card cut twice
            moved = ["connected to the broker broker=%s:%d" % (node.host, node.port)
                     in appliances[site].log_text() for node in cluster[1:]]
            assert any(moved), site
        # A PMS de-duplicates by event_id across its fleet: no two sites share one.
        ids = [encoded(pms, site) for site in SITES]
        assert len(set().union(*ids)) == sum(len(found) for found in ids)
        # A site's credentials reach its own topics only: never another site's events.
        nosy = peer_factory(cluster[1], "nosy", protocol=MQTT311, username="site1",
                            password=PASSWORD % "site1")
        reasons = nosy.subscribe("keybridge/site2/event/#", check=False)
        assert all(reason.is_failure for reason in reasons)
    finally:
        for appliance in appliances.values():
            appliance.close()
        for space in spaces.values():
            space.close()


def run_stay(pms, site, number):
    """A booking and a card for it: the PMS publishes, the site must answer both."""
    booking_id = "B%d" % number
    request = "%s-%d" % (site, number)
    publish(pms, site, "booking", booking("book-" + request, booking_id))
    publish(pms, site, "encode_card", {"request_id": "cut-" + request,
                                      "booking_id": booking_id, "encoder": "desk-1"})
    return [(site, "book-" + request), (site, "cut-" + request)]


def publish(pms, site, command, payload):
    """As a PMS does: a node re-electing its JetStream leaders may drop the PMS's link too;
    it comes back (its persistent session kept what arrived meanwhile) and sends again."""
    deadline = time.monotonic() + COMMAND_TIMEOUT_S
    while True:
        try:
            if not pms.connected:
                pms.connect(timeout=10)
            pms.publish("keybridge/%s/cmd/%s" % (site, command), payload, timeout=10)
            return
        except (AssertionError, RuntimeError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)  # a moment for the cluster before the next try


def replied(pms, site, request_id):
    final = ("ok", "error") if request_id.startswith("cut-") else ("accepted", "ok")
    return any(m.topic.startswith("keybridge/%s/reply/" % site)
               and m.json().get("request_id") == request_id
               and m.json().get("status") in final for m in pms.messages)


def encoded(pms, site):
    return {m.json()["event_id"] for m in pms.messages
            if m.topic == "keybridge/%s/event/card_encoded" % site}


def test_make_fleet_runs_a_small_fleet_and_prints_its_table(tmp_path):
    """``make fleet`` is a benchmark, but one that no longer runs would go unnoticed: a small
    fleet through the same code, and its table says nothing was lost."""
    done = subprocess.run([sys.executable, "-m", "bench.fleet", "--sites", "3", "--stays", "2",
                           "--run-dir", str(tmp_path / "fleet")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = {line[:40].strip(): line[40:].split() for line in done.stdout.splitlines()}
    for row in ("commands lost", "events card_encoded lost", "events key_revoked lost",
                "events card_encoded duplicated"):
        assert table[row] == ["0"], done.stdout
    assert table["cards cut at Space (one per card asked)"] == ["6", "6"], done.stdout
