"""What other brokers than Mosquitto ask of the appliance: NATS (MQTT 3.1.1 only, subject
permissions), and a liveness signal a PMS can rely on whatever happens to a broker node."""

import json

import pytest

from _appliance import Appliance, eventually
from _broker import MQTT311
from _nats import NatsNode, user

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
        user("pms", "pms-pw"),
        user("blind", "blind-pw", publish=SITE_SUBJECTS,  # may not hear its commands
             subscribe={"allow": SITE_SUBJECTS, "deny": ["keybridge.camp.cmd.>"]})]).start()
    yield node
    node.stop()


def status_of(peer):
    return [m.json() for m in peer.messages if m.topic.endswith("/status")]


def test_a_refused_subscription_is_an_error_in_status_and_journal(tmp_path, nats,
                                                                  peer_factory):
    appliance = Appliance(tmp_path / "a", nats, protocol="3.1.1",
                          mqtt=credentials(tmp_path, "blind", "blind-pw")).start()
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
