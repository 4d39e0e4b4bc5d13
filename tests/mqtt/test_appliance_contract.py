"""The PMS's view of contract v1, end to end: a real Mosquitto, the appliance process and the
Space simulator process. Every message the appliance publishes is checked against
docs/asyncapi.yaml."""

import json
import sqlite3

import pytest

from _appliance import Appliance

try:
    from _asyncapi import validate_published
except ImportError:  # pragma: no cover - the document arrives with its own change
    validate_published = None

STAY = {"arrival": "2027-07-01T14:00:00+02:00", "departure": "2027-07-04T11:00:00+02:00"}


def booking(request_id, booking_id="B1", revision=1, status="CONFIRMED", units=("P12",),
            **extra):
    return {"request_id": request_id, "booking": {
        "id": booking_id, "revision": revision, "status": status, "units": list(units),
        **STAY, **extra}}


@pytest.fixture
def site(tmp_path, broker, space, peer_factory):
    appliance = Appliance(tmp_path / "appliance", broker, space).start()
    pms = peer_factory(broker, "pms", persistent=True)
    pms.subscribe("keybridge/camp/#")
    yield appliance, pms
    appliance.close()
    for message in pms.messages:
        check_published(message)


def check_published(message):
    if validate_published is None or "/cmd/" in message.topic:
        return
    if message.topic.startswith("keybridge/camp/"):
        validate_published(message.topic.split("/", 2)[2], message.json())
    else:  # an MQTT 5 response topic of the PMS's choosing
        validate_published("reply/" + message.json()["command"], message.json())


def send(pms, appliance, command, payload, **options):
    pms.publish(appliance.topic("cmd/" + command), payload, **options)


def cut_slowly(pms, appliance, space, booked, delay_s):
    """Booking B1 confirmed (request ``booked``), then a card for it (request ``cut``) that
    Space answers only after ``delay_s``; returns once the appliance accepted the card."""
    send(pms, appliance, "booking", booking(booked))
    reply(pms, booked)
    space.control({"op": "faults", "set": {"reply_delay_s": delay_s}})
    send(pms, appliance, "encode_card", {"request_id": "cut", "booking_id": "B1",
                                         "encoder": "desk-1"})
    reply(pms, "cut", "accepted")


def reply(pms, request_id, status=None, timeout=10.0):
    def match(message):
        if "/reply/" not in message.topic:
            return False
        body = message.json()
        return body["request_id"] == request_id and status in (None, body["status"])
    return pms.wait_for(match, timeout).json()


def event(pms, kind, timeout=15.0, **fields):
    def match(message):
        if not message.topic.endswith("/event/" + kind):
            return False
        body = message.json()
        return all(body.get(name) == value for name, value in fields.items())
    return pms.wait_for(match, timeout).json()


def test_status_is_retained_online_with_backends(site, peer_factory, broker):
    appliance, _pms = site
    late = peer_factory(broker)
    late.subscribe(appliance.topic("status"))
    status = late.wait_for(lambda m: m.retain and m.json().get("state") == "online").json()
    assert status["site"] == "camp"
    assert set(status["backends"]) == {"space"}
    assert status["queues"] == {"jobs": 0, "outbox": 0} or "jobs" in status["queues"]


def test_booking_then_desk_cuts_reads_and_checkout(site, space):
    appliance, pms = site
    send(pms, appliance, "booking", booking("r1"))
    assert reply(pms, "r1")["status"] == "accepted"
    send(pms, appliance, "encode_card", {"request_id": "r2", "booking_id": "B1",
                                          "encoder": "desk-1", "count": 2})
    assert reply(pms, "r2", "accepted")
    done = reply(pms, "r2", "ok", timeout=20)
    assert done["data"]["count"] == 2 and done["data"]["rooms"] == ["Pitch 12"]
    encoded = event(pms, "card_encoded", booking_id="B1")
    assert len(encoded["serials"]) == 2
    send(pms, appliance, "read_card", {"request_id": "r3", "encoder": "desk-1"})
    read = reply(pms, "r3", "ok", timeout=20)["data"]
    assert read["booking_id"] == "B1" and read["room"] == "Pitch 12"
    send(pms, appliance, "booking", booking("r4", revision=2, status="COMPLETED"))
    revoked = event(pms, "key_revoked", booking_id="B1")
    assert revoked["checked_out"] is True
    assert len(space.requests("CO")) == 1


@pytest.mark.parametrize(("command", "payload", "field"), [
    ("booking", booking("bad-1", arrival="2027-07-01T14:00:00"), "booking.arrival"),
    ("booking", booking("bad-2", units=()), "booking.units"),
    ("booking", booking("bad-3", status="DONE"), "booking.status"),
    ("encode_card", {"request_id": "bad-4", "booking_id": "B1", "encoder": "desk-1",
                     "count": 11}, "count"),
    ("encode_card", {"request_id": "bad-5", "booking_id": "B1", "encoder": "nope"}, "encoder"),
    ("send_mobile_key", {"request_id": "bad-6", "booking_id": "B1", "phone": "call me"},
     "phone"),
    ("test_connection", {"request_id": "bad-7", "backend": "cloud"}, "backend"),
])
def test_bad_command_gets_an_error_naming_the_field(site, command, payload, field):
    appliance, pms = site
    send(pms, appliance, "booking", booking("setup"))
    reply(pms, "setup")
    send(pms, appliance, command, payload)
    answer = reply(pms, payload["request_id"])
    assert answer["status"] == "error"
    assert answer["error"]["field"] == field
    assert field.split(".")[-1] in answer["error"]["message"]


def test_unparseable_payload_gets_bad_json_and_the_appliance_carries_on(site):
    appliance, pms = site
    send(pms, appliance, "booking", b"\xff{not json")
    answer = pms.wait_for(lambda m: "/reply/booking" in m.topic).json()
    assert answer["error"]["code"] == "bad_json" and answer["request_id"] is None
    send(pms, appliance, "booking", booking("after"))
    assert reply(pms, "after")["status"] == "accepted"


def test_repeated_request_id_same_reply_no_second_card(site, space):
    appliance, pms = site
    send(pms, appliance, "booking", booking("b"))
    reply(pms, "b")
    cut = {"request_id": "cut-once", "booking_id": "B1", "encoder": "desk-1"}
    send(pms, appliance, "encode_card", cut)
    first = reply(pms, "cut-once", "ok", timeout=20)
    pms.clear()
    send(pms, appliance, "encode_card", cut)
    again = reply(pms, "cut-once")
    assert again == first
    send(pms, appliance, "test_connection", {"request_id": "fence"})
    reply(pms, "fence", "ok", timeout=20)  # the appliance has handled everything before it
    assert len(space.requests("CN")) == 1
    assert not [m for m in pms.messages if m.topic.endswith("/event/card_encoded")]


def test_retained_command_is_refused_and_never_run(site, space, broker, peer_factory):
    appliance, pms = site
    send(pms, appliance, "booking", booking("b"))
    reply(pms, "b")
    stale = {"request_id": "old-cut", "booking_id": "B1", "encoder": "desk-1"}
    send(pms, appliance, "encode_card", stale, retain=True)
    rejected = event(pms, "command_rejected", request_id="old-cut")
    assert "retain" in rejected["reason"]
    # The retained message is replayed to every new subscriber: a restart must not run it.
    appliance.stop()
    appliance.start()
    send(pms, appliance, "test_connection", {"request_id": "fence"})
    reply(pms, "fence", "ok", timeout=20)
    assert space.requests("CN") == []
    pms.publish(appliance.topic("cmd/encode_card"), b"", retain=True)  # clear it
    send(pms, appliance, "test_connection", {"request_id": "after-clear"})
    reply(pms, "after-clear", "ok", timeout=20)
    # Clearing it is no command: no error reply for it, no event.
    assert not [m for m in pms.messages if m.topic.endswith("/reply/encode_card")
                and m.json().get("status") == "error"]


def test_mqtt5_response_topic_and_correlation_data(site):
    appliance, pms = site
    pms.subscribe("pms/inbox/#")
    send(pms, appliance, "booking", booking("v5"), response_topic="pms/inbox/1",
         correlation_data=b"\x00corr-17")
    answer = pms.wait_for("pms/inbox/1")
    assert answer.json()["request_id"] == "v5"
    assert answer.correlation_data == b"\x00corr-17"


def test_mqtt311_appliance(tmp_path, broker, space, peer_factory):
    appliance = Appliance(tmp_path / "v311", broker, space, protocol="3.1.1").start()
    try:
        pms = peer_factory(broker, protocol="3.1.1")
        pms.subscribe("keybridge/camp/#")
        send(pms, appliance, "booking", booking("r311"))
        assert reply(pms, "r311")["status"] == "accepted"
    finally:
        appliance.close()


def test_stop_is_orderly_offline_status_and_stopping(site, peer_factory, broker):
    appliance, _pms = site
    assert appliance.stop() == 0
    appliance.notify.wait_for("STOPPING=1")
    late = peer_factory(broker)
    late.subscribe(appliance.topic("status"))
    assert late.wait_for(lambda m: m.retain).json() == {"state": "offline"}


def test_keys_are_in_the_store_and_the_audit_names_the_trigger(site):
    appliance, pms = site
    send(pms, appliance, "booking", booking("b"))
    reply(pms, "b")
    send(pms, appliance, "encode_card", {"request_id": "cut", "booking_id": "B1",
                                         "encoder": "desk-1"})
    reply(pms, "cut", "ok", timeout=20)
    db = sqlite3.connect(appliance.db_file)
    audit = db.execute("SELECT action, backend, trigger, external_id FROM audit").fetchall()
    assert audit and audit[0][:3] == ("card_encoded", "space", "cut")
    units = json.loads(db.execute("SELECT units FROM keys").fetchone()[0])
    assert units == ["P12"]


def test_a_qos0_command_is_handled_without_upsetting_the_broker(site):
    appliance, pms = site
    send(pms, appliance, "booking", booking("q0"), qos=0)
    assert reply(pms, "q0")["status"] == "accepted"
    send(pms, appliance, "booking", booking("q1", "B2"))
    assert reply(pms, "q1")["status"] == "accepted"
    statuses = [m.json()["state"] for m in pms.messages if m.topic.endswith("/status")]
    assert "offline" not in statuses  # a PUBACK for QoS 0 would get it disconnected


def test_status_command_says_offline_after_an_orderly_stop(site):
    import subprocess
    import sys
    appliance, _pms = site
    assert appliance.stop() == 0
    done = subprocess.run([sys.executable, "-m", "appliance", "status", "--config",
                           str(appliance.config_file)], capture_output=True, text=True)
    assert done.returncode == 1  # not running
    record = done.stdout.splitlines()[1]
    assert record.endswith("ago): offline")  # and no "did not stop cleanly"
