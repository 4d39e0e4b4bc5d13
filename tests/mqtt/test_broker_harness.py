"""The real-Mosquitto harness does what the MQTT tests will lean on.

Each test is something a PMS or a technician would notice: a message waiting for an offline
PMS, a retained status after a broker restart, a wrong password or missing certificate
refused, a forged event stopped by the ACL, an MQTT 5 reply routed by its response topic.
Absence is shown without waiting out a timeout: Mosquitto handles one client's packets in
order and delivers to each subscriber in the order it queued, so once a later message has
arrived, an earlier one that was going to arrive would already have.
"""

import re
from pathlib import Path

import pytest

from _broker import MQTT5, MQTT311, PMS, Broker, BrokerError, ConnectFailed, Peer, acl_text

SITE = "keybridge/demo"
CONFIG = Path(__file__).resolve().parents[2] / "config" / "mosquitto"
PROTOCOLS = [MQTT311, MQTT5]


def topics(peer: Peer) -> list[str]:
    return [message.topic for message in peer.messages]


# --- persistence ---------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_offline_persistent_subscriber_gets_the_message_on_reconnect(peer_factory, protocol):
    pms = peer_factory(client_id="pms-1", protocol=protocol, persistent=True)
    pms.subscribe(f"{SITE}/event/#")
    pms.disconnect()

    appliance = peer_factory()
    appliance.publish(f"{SITE}/event/key_issued", {"event_id": "e-1"})

    assert pms.connect() is True  # session present: the broker kept it
    assert pms.wait_for(f"{SITE}/event/key_issued").json() == {"event_id": "e-1"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_queued_message_survives_a_broker_restart(broker, peer_factory, protocol):
    pms = peer_factory(broker, "pms-1", protocol=protocol, persistent=True)
    pms.subscribe(f"{SITE}/event/#")
    pms.disconnect()
    appliance = peer_factory(broker)
    appliance.publish(f"{SITE}/event/key_issued", {"event_id": "e-1"})

    port = broker.port
    broker.restart()
    appliance.wait_disconnected()

    assert broker.port == port
    assert pms.connect() is True
    assert pms.wait_for(f"{SITE}/event/key_issued").json() == {"event_id": "e-1"}


def test_retained_status_survives_a_broker_restart(broker, peer_factory):
    appliance = peer_factory(broker)
    appliance.publish(f"{SITE}/status", {"state": "online"}, retain=True)

    broker.restart()

    pms = peer_factory(broker)
    pms.subscribe(f"{SITE}/status")
    status = pms.wait_for(f"{SITE}/status")
    assert status.retain is True
    assert status.json() == {"state": "online"}


def test_kill_loses_what_arrived_since_the_last_clean_stop(broker, peer_factory):
    appliance = peer_factory(broker)
    appliance.publish(f"{SITE}/status", b"saved", retain=True)
    broker.restart()
    appliance.connect()
    appliance.publish(f"{SITE}/event/late", b"lost", retain=True)

    broker.kill()
    broker.start()

    pms = peer_factory(broker)
    pms.subscribe(f"{SITE}/#")
    # Retained messages are queued with the SUBACK; this one is queued after them.
    pms.publish(f"{SITE}/reply/marker", b"marker")
    pms.wait_for(f"{SITE}/reply/marker")
    assert topics(pms) == [f"{SITE}/status", f"{SITE}/reply/marker"]
    assert pms.messages[0].payload == b"saved"


# --- password file and ACL -----------------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_password_mode_refuses_a_wrong_or_missing_password(broker_factory, peer_factory,
                                                           protocol):
    broker = broker_factory("password")
    with pytest.raises(ConnectFailed, match="Not authorized"):
        peer_factory(broker, user=PMS, password="wrong", protocol=protocol)
    with pytest.raises(ConnectFailed, match="Not authorized"):
        peer_factory(broker, protocol=protocol)  # anonymous
    assert peer_factory(broker, user=PMS, protocol=protocol).connected


def test_acl_lets_each_side_do_its_part(broker_factory, peer_factory):
    broker = broker_factory("password")
    appliance = peer_factory(broker, user="keybridge")
    pms = peer_factory(broker, user=PMS)
    appliance.subscribe(f"{SITE}/cmd/#")
    pms.subscribe(f"{SITE}/reply/#")
    pms.subscribe(f"{SITE}/status")

    pms.publish(f"{SITE}/cmd/read_card", {"request_id": "r-1", "encoder": "desk-1"})
    assert appliance.wait_for(f"{SITE}/cmd/read_card").json()["request_id"] == "r-1"
    appliance.publish(f"{SITE}/reply/read_card", {"request_id": "r-1", "status": "ok"})
    appliance.publish(f"{SITE}/status", {"state": "online"}, retain=True)
    assert pms.wait_for(f"{SITE}/reply/read_card").json()["status"] == "ok"
    assert pms.wait_for(f"{SITE}/status").json() == {"state": "online"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_acl_stops_pms_forging_an_event(broker_factory, peer_factory, protocol):
    broker = broker_factory("password")
    reader = peer_factory(broker, user=PMS)
    reader.subscribe(f"{SITE}/event/#")
    forger = peer_factory(broker, user=PMS, protocol=protocol)
    appliance = peer_factory(broker, user="keybridge")

    reason = forger.publish(f"{SITE}/event/key_issued", {"event_id": "forged"})
    # MQTT 5 hears about the refusal; 3.1.1 gets a plain PUBACK and no hint at all.
    assert str(reason) == ("Not authorized" if protocol == MQTT5 else "Success")
    appliance.publish(f"{SITE}/event/key_issued", {"event_id": "real"})

    reader.wait_for(f"{SITE}/event/key_issued")
    assert [message.json()["event_id"] for message in reader.messages] == ["real"]
    assert "Denied PUBLISH" in broker.log_text()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_acl_grants_a_forbidden_subscription_but_delivers_nothing(broker_factory, peer_factory,
                                                                  protocol):
    broker = broker_factory("password")
    appliance = peer_factory(broker, user="keybridge", protocol=protocol)
    # Mosquitto 2.0 checks read access on delivery, not on SUBSCRIBE.
    appliance.subscribe(f"{SITE}/event/#")
    appliance.subscribe(f"{SITE}/cmd/#")
    pms = peer_factory(broker, user=PMS)
    pms.subscribe(f"{SITE}/event/#")

    appliance.publish(f"{SITE}/event/battery_low", b"{}")
    pms.wait_for(f"{SITE}/event/battery_low")
    pms.publish(f"{SITE}/cmd/reconcile", b"{}")
    appliance.wait_for(f"{SITE}/cmd/reconcile")
    assert topics(appliance) == [f"{SITE}/cmd/reconcile"]


def test_acl_site_prefix_confines_the_accounts_to_one_site(broker_factory, peer_factory):
    broker = broker_factory("password", site_prefix=SITE)
    appliance = peer_factory(broker, user="keybridge")
    appliance.subscribe("keybridge/+/cmd/#")
    pms = peer_factory(broker, user=PMS)

    assert str(pms.publish("keybridge/elsewhere/cmd/reconcile", b"{}")) == "Not authorized"
    assert str(pms.publish(f"{SITE}/cmd/reconcile", b"{}")) == "Success"
    appliance.wait_for("keybridge/+/cmd/reconcile")
    assert topics(appliance) == [f"{SITE}/cmd/reconcile"]


# --- TLS -----------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tls_accepts_a_client_certificate_and_refuses_a_client_without(broker_factory,
                                                                       peer_factory, protocol):
    broker = broker_factory("tls")
    pms = peer_factory(broker, user=PMS, protocol=protocol)
    pms.subscribe(f"{SITE}/status")

    with pytest.raises(ConnectFailed):
        peer_factory(broker, protocol=protocol)  # trusts the CA, shows no certificate
    untrusted = broker.untrusted_cert
    with pytest.raises(ConnectFailed):
        peer_factory(broker, protocol=protocol,
                     cert_file=untrusted.cert_file, key_file=untrusted.key_file)
    assert "peer did not return a certificate" in broker.log_text()

    # The certificate's common name is the username the ACL sees.
    appliance = peer_factory(broker, user="keybridge")
    appliance.publish(f"{SITE}/status", {"state": "online"}, retain=True)
    assert pms.wait_for(f"{SITE}/status").json() == {"state": "online"}
    assert str(pms.publish(f"{SITE}/status", {"state": "forged"})) == (
        "Not authorized" if protocol == MQTT5 else "Success")


def test_tls_client_refuses_a_broker_it_does_not_trust(broker_factory, peer_factory):
    broker = broker_factory("tls")
    own = broker.client_certs[PMS]
    with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
        # The stranger's certificate as the only trusted CA: not the one that signed the server.
        peer_factory(broker, ca_file=broker.untrusted_cert.cert_file,
                     cert_file=own.cert_file, key_file=own.key_file)


# --- MQTT 5 properties ---------------------------------------------------------------------

def test_response_topic_and_correlation_data_arrive_intact(peer_factory):
    appliance = peer_factory(protocol=MQTT5)
    appliance.subscribe(f"{SITE}/cmd/#")
    pms = peer_factory(protocol=MQTT5)
    pms.subscribe(f"{SITE}/reply/pms-1/#")
    correlation = bytes(range(256))  # not UTF-8, NUL included: opaque bytes both ways

    pms.publish(f"{SITE}/cmd/test_connection", {"request_id": "r-9"},
                response_topic=f"{SITE}/reply/pms-1/r-9", correlation_data=correlation,
                user_properties=[("trace", "t-1")])
    command = appliance.wait_for(f"{SITE}/cmd/test_connection")
    assert command.response_topic == f"{SITE}/reply/pms-1/r-9"
    assert command.correlation_data == correlation
    assert command.user_properties == (("trace", "t-1"),)

    appliance.publish(command.response_topic, {"request_id": "r-9", "status": "ok"},
                      correlation_data=command.correlation_data)
    reply = pms.wait_for(f"{SITE}/reply/pms-1/r-9")
    assert reply.correlation_data == correlation
    assert reply.json() == {"request_id": "r-9", "status": "ok"}


# --- the harness itself --------------------------------------------------------------------

def test_wait_for_reports_what_did_arrive(peer_factory):
    peer = peer_factory()
    peer.subscribe("a/#")
    peer.publish("a/1", b"first")
    peer.wait_for("a/1")
    with pytest.raises(AssertionError, match=r"(?s)nothing matching 'a/2'.*received.*a/1"):
        peer.wait_for("a/2", timeout=0)


def test_broker_that_cannot_start_says_why(tmp_path, broker):
    clash = Broker(tmp_path / "clash", port=broker.port)  # the port is taken
    with pytest.raises(BrokerError, match="exited with") as failure:
        clash.start()
    assert "Address already in use" in str(failure.value)
    assert not clash.running


def test_stopped_broker_disconnects_peers_and_close_is_idempotent(broker, peer_factory):
    peer = peer_factory(broker)
    broker.stop()
    peer.wait_disconnected()
    assert not broker.running
    broker.close()
    with pytest.raises(ConnectFailed):
        peer.connect()


# --- the site example in config/mosquitto --------------------------------------------------

def _rules(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_example_acl_is_the_one_the_harness_enforces():
    assert _rules((CONFIG / "keybridge-acl.example").read_text()) == _rules(acl_text())


def test_example_site_config_runs_and_enforces_what_its_readme_says(broker_factory,
                                                                    peer_factory):
    broker = broker_factory("site")
    example = (CONFIG / "mosquitto-tls.example.conf").read_text()
    paths = {
        "/etc/mosquitto/certs/ca.crt": broker.ca_file,
        "/etc/mosquitto/certs/server.crt": broker.server_cert,
        "/etc/mosquitto/certs/server.key": broker.server_key,
        "/etc/mosquitto/passwd": broker.password_file,
        "/etc/mosquitto/keybridge.acl": broker.acl_file,
    }
    for site_path, test_path in paths.items():
        example = example.replace(site_path, str(test_path))
    example, listeners = re.subn(r"(?m)^listener 8883$", f"listener {broker.port} 127.0.0.1",
                                 example)
    assert listeners == 1
    assert "/etc/" not in "\n".join(_rules(example))  # every file it names is a test file here
    broker.conf_file.write_text(broker.common_config() + example)
    broker.restart()

    pms = peer_factory(broker, user=PMS)
    pms.subscribe(f"{SITE}/event/#")
    appliance = peer_factory(broker, user="keybridge")
    appliance.publish(f"{SITE}/event/door_event", {"granted": True})
    assert pms.wait_for(f"{SITE}/event/door_event").json() == {"granted": True}
    assert str(pms.publish(f"{SITE}/event/door_event", b"{}")) == "Not authorized"

    with pytest.raises(ConnectFailed, match="Not authorized"):
        peer_factory(broker, user=PMS, password="wrong")  # right certificate, wrong password
    with pytest.raises(ConnectFailed):
        peer_factory(broker, username=PMS, password=broker.passwords[PMS])  # no certificate
    stranger = broker.untrusted_cert
    with pytest.raises(ConnectFailed):
        peer_factory(broker, user=PMS, cert_file=stranger.cert_file, key_file=stranger.key_file)
