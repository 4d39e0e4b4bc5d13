"""What other brokers than Mosquitto ask of the appliance: NATS (MQTT 3.1.1 only, subject
permissions), a broker that never answers an MQTT 5 CONNECT (RabbitMQ 3.10 does that), and
a liveness signal a PMS can rely on whatever happens to a broker node."""

import asyncio
import json
import socket
import threading
import time

import pytest

from appliance.bridge.mqtt import MqttLink
from appliance.config import Mqtt

from _appliance import Appliance, eventually
from _broker import MQTT311, free_port
from _nats import NatsNode, user
from test_appliance_contract import booking, reply, send

pytestmark = pytest.mark.timeout(180)
SITE_SUBJECTS = ["keybridge.camp.>", "$MQTT.>"]
"""A site's topics as NATS subjects, and NATS's own subjects for MQTT sessions (QoS 1
subscriptions are JetStream consumers under $MQTT.sub, which the user must be allowed)."""


def credentials(tmp_path, name, password):
    secret = tmp_path / ("%s-password" % name)
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    return {"username": name, "password_file": str(secret)}


@pytest.fixture
def nats(tmp_path):
    node = NatsNode(tmp_path / "nats", [
        user("keybridge", "kb-pw", publish=SITE_SUBJECTS, subscribe=SITE_SUBJECTS),
        user("pms", "pms-pw"),
        user("blind", "blind-pw", publish=SITE_SUBJECTS,  # may not hear its commands
             subscribe={"allow": SITE_SUBJECTS, "deny": ["keybridge.camp.cmd.>"]})]).start()
    yield node
    node.stop()


def status_of(peer):
    return [m.json() for m in peer.messages if m.topic.endswith("/status")]


def test_auto_speaks_3_1_1_with_a_broker_that_refuses_5(tmp_path, nats, peer_factory):
    appliance = Appliance(tmp_path / "a", nats, protocol="auto",
                          mqtt=credentials(tmp_path, "keybridge", "kb-pw")).start()
    try:
        assert "the broker refused MQTT 5 (Unsupported protocol version); using MQTT 3.1.1" in (
            appliance.log_text())
        pms = peer_factory(nats, "pms", user="pms", protocol=MQTT311, persistent=True)
        pms.subscribe("keybridge/camp/#")
        send(pms, appliance, "booking", booking("over-nats"))
        assert reply(pms, "over-nats")["status"] == "accepted"  # on reply/booking: no 5
        eventually(lambda: any(s.get("mqtt") == "3.1.1" and s.get("commands") == "subscribed"
                               for s in status_of(pms)), what="the status naming 3.1.1")
    finally:
        appliance.close()


def test_a_refused_subscription_is_an_error_in_status_and_journal(tmp_path, nats,
                                                                  peer_factory):
    appliance = Appliance(tmp_path / "a", nats, protocol="3.1.1",  # no renewal in the test:
                          mqtt=credentials(tmp_path, "blind", "blind-pw"),  # the SUBACK's
                          service={"status_interval_s": 600}).start()  # own status says it
    try:
        pms = peer_factory(nats, "pms", user="pms", protocol=MQTT311)
        pms.subscribe("keybridge/camp/status")
        eventually(lambda: any(s.get("commands") == "refused" for s in status_of(pms)),
                   what="the status saying commands are refused")
        log = appliance.log_text()
        assert "the broker refused the subscription to keybridge/camp/cmd/+" in log
        assert "no command can arrive" in log and "check the broker's permissions" in log
    finally:
        appliance.close()


class FakeNode:
    """A loopback TCP server posing as a broker node: each connection goes to ``_serve`` on
    a thread of its own."""

    def __init__(self, host="127.0.0.1", port=0):
        self._server = socket.create_server((host, port))
        self.host, self.port = host, self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        raise NotImplementedError

    def close(self):
        self._server.close()


class SilentToFive(FakeNode):
    """A proxy to Mosquitto that never answers a version-5 CONNECT (what RabbitMQ 3.10's
    MQTT plugin does) and passes 3.1.1 through."""

    def __init__(self, broker):
        self.broker = broker
        self.passwords, self.ca_file, self.client_certs = {}, None, {}
        super().__init__(broker.host, free_port())

    def _serve(self, conn):
        first = conn.recv(65536)
        # CONNECT: fixed header, remaining length (1 byte here), "\0\4MQTT", protocol level.
        if len(first) > 8 and first[0] == 0x10 and first[8] == 5:
            conn.recv(1)  # hold it open, say nothing, until the client gives up
            conn.close()
            return
        upstream = socket.create_connection((self.broker.host, self.broker.port))
        upstream.sendall(first)
        for source, sink in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                end.close()


def test_auto_falls_back_when_5_gets_no_answer(tmp_path, broker, peer_factory):
    silent = SilentToFive(broker)
    appliance = Appliance(tmp_path / "a", silent, protocol="auto").start(wait=False)
    try:
        appliance.wait_ready(40)
        assert "no answer to an MQTT 5 CONNECT within 10 s; using MQTT 3.1.1" in (
            appliance.log_text())
        pms = peer_factory(broker, "pms", persistent=True)
        pms.subscribe("keybridge/camp/#")
        send(pms, appliance, "booking", booking("through-silence"))
        assert reply(pms, "through-silence")["status"] == "accepted"
    finally:
        appliance.close()
        silent.close()


def test_the_status_is_renewed_every_interval_for_the_pms_liveness_rule(tmp_path, broker,
                                                                        peer_factory):
    """Nothing changes, and still a fresh status with a later updated_at every interval_s:
    a PMS that stops seeing them knows the site is gone, will or no will."""
    appliance = Appliance(tmp_path / "a", broker).start()  # status_interval_s = 1
    try:
        pms = peer_factory(broker, "pms")
        pms.subscribe("keybridge/camp/status")
        eventually(lambda: len({s["updated_at"] for s in status_of(pms)
                                if s["state"] == "online"}) >= 3, timeout=15,
                   what="three renewals")
        renewed = [s for s in status_of(pms) if s["state"] == "online"]
        assert {s["interval_s"] for s in renewed} == {1.0}
        assert [s["updated_at"] for s in renewed] == sorted(s["updated_at"] for s in renewed)
        assert json.dumps(renewed[-1]["backends"]) == json.dumps(renewed[-2]["backends"])
    finally:
        appliance.close()


def test_the_hosts_of_a_cluster_are_tried_in_turn(tmp_path, broker_factory):
    """A node that is down at start is passed over, and when the node in use goes away the
    link moves on to the next; the journal names each node it uses."""
    first, second = broker_factory(), broker_factory()
    down = free_port()
    hosts = ["127.0.0.1:%d" % port for port in (down, first.port, second.port)]
    appliance = Appliance(tmp_path / "a", first, mqtt={"hosts": hosts}).start(wait=False)
    try:
        appliance.wait_ready(40)
        log = appliance.log_text()
        assert "cannot reach the broker at 127.0.0.1:%d (trying the other 2 of [mqtt] hosts" \
               " in turn)" % down in log
        assert "connected to the broker broker=127.0.0.1:%d" % first.port in log
        first.stop()
        eventually(lambda: "connected to the broker broker=127.0.0.1:%d" % second.port in
                   appliance.log_text(), timeout=40, what="the link on the next node")
    finally:
        appliance.close()


class RefusingNode(FakeNode):
    """A cluster node that takes TCP and refuses every CONNECT: CONNACK "Server unavailable"
    (MQTT 5 reason 0x88), then closes, as a node does that is shutting down or lost quorum."""

    def __init__(self):
        self.connects = 0
        super().__init__()

    def _serve(self, conn):
        with conn:
            if conn.recv(65536):
                self.connects += 1
                conn.sendall(bytes([0x20, 3, 0, 0x88, 0]))


def test_a_node_that_refuses_the_connection_is_passed_over_with_backoff(tmp_path, broker):
    """Only a node down at TCP used to be passed over: one that took TCP and refused the
    CONNECT was asked again every second for ever, and the healthy node never tried."""
    refusing = RefusingNode()
    hosts = ["127.0.0.1:%d" % port for port in (refusing.port, broker.port)]
    appliance = Appliance(tmp_path / "a", broker, protocol="auto",
                          mqtt={"hosts": hosts}).start(wait=False)
    try:
        appliance.wait_ready(40)
        log = appliance.log_text()
        assert "the broker at 127.0.0.1:%d refused the connection: Server unavailable " \
               "(trying the other 1 of [mqtt] hosts in turn); check [mqtt] username, " \
               "password_file and certificates" % refusing.port in log
        assert "connected to the broker broker=127.0.0.1:%d mqtt=5" % broker.port in log
        assert refusing.connects == 1
    finally:
        appliance.close()
        refusing.close()


def test_auto_keeps_mqtt_5_when_a_broker_that_spoke_5_goes_away(tmp_path, broker_factory):
    """The no-answer fallback is for a broker that never answers version 5; one that did
    and then restarted must not cost the PMS its MQTT 5 replies for the rest of the run."""
    broker = broker_factory()
    appliance = Appliance(tmp_path / "a", broker, protocol="auto",
                          mqtt={"keepalive_s": 5}).start()  # the no-answer wait: 5 s
    try:
        broker.stop()
        eventually(lambda: "lost the broker" in appliance.log_text(), what="the loss")
        # What must not happen is a fallback when the wait runs out: let it run out.
        time.sleep(6)
        broker.start()
        eventually(lambda: appliance.log_text().count("connected to the broker") == 2,
                   timeout=30, what="the reconnection")
        assert "using MQTT 3.1.1" not in appliance.log_text()
        assert appliance.log_text().count("mqtt=5") == 2
    finally:
        appliance.close()


async def test_the_link_sends_small_packets_without_waiting_for_an_ack(broker):
    # Nagle's algorithm on the appliance's socket held each PUBACK and reply ~40 ms for the
    # broker's delayed ACK: most of a command's reply time (bench/README.md).
    settings = Mqtt(broker.host, broker.port, "5", "kb-nodelay", "keybridge", 30, 60, "",
                    None, False, "", "", "", 1.0, 2.0, 10)
    link = MqttLink(settings, "keybridge/camp", on_message=lambda m: None,
                    on_connected=lambda: None, on_disconnected=lambda: None,
                    on_published=lambda mid: None)
    link.start()
    try:
        async with asyncio.timeout(20):
            await link.connected.wait()
        sock = link.client.socket()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        link.stop()
