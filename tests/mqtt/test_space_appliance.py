"""ProAccess Space automation end to end: a real Mosquitto, the appliance process and Space
simulator processes. Products pick key types, the desk cuts, copies and reads cards, mobile
keys go out on their own, check-out stops cards, vendor errors reach the PMS with a hint, two
administrations run side by side, and a Space outage loses and duplicates nothing.

The frames a simulator received (``SpaceProcess.requests``) are the ground truth of what was
done to the doors; every published message is checked against docs/asyncapi.yaml.
"""

import contextlib
import datetime
import sqlite3
import zoneinfo

import pytest

from _appliance import Appliance, SpaceProcess
from test_appliance_contract import check_published, event, reply, send

ZONE = zoneinfo.ZoneInfo("Europe/Amsterdam")
GUEST_PHONE = "+34619123456"  # registered with JustIN Mobile in config/space-sim.toml
CHALET_PHONE = "+31612345678"
AUTHORIZATIONS = {"1": "Barrier", "2": "Shower block", "3": "Swimming pool"}
KEY_TYPES = [
    {"name": "pitch", "authorizations": ["Barrier", "Shower block"], "max_cards": 3,
     "print_info": ["{guest}", "{rooms}"]},
    {"name": "pool", "authorizations": ["Barrier", "Shower block", "Swimming pool"],
     "print_info": ["{guest}", "pool until {departure}"]},
    {"name": "chalet", "authorizations": ["Barrier"], "mobile_message": "Welcome, {guest}"},
    {"name": "owner", "authorizations": ["Barrier"]},
]
PRODUCTS = [
    {"name": "Pool package", "key_type": "pool", "extras": ["pool-pass"],
     "start_time": "15:00", "end_time": "10:00"},
    {"name": "Chalets", "key_type": "chalet", "types": ["chalet"], "wait_for_check_in": True,
     "mobile": "check_in"},
    {"name": "Pitches", "key_type": "pitch", "labels": ["pitch"], "mobile": "before_arrival",
     "mobile_days_before": 2},
]
ENCODERS = [{"id": "desk-1", "name": "Online Encoder 1"},
            {"id": "desk-2", "name": "Online Encoder 2"},
            {"id": "back-office", "name": "Back Office"}]
RULES = {"space": {"authorizations": AUTHORIZATIONS, "key_types": KEY_TYPES,
                   "products": PRODUCTS, "busy_retries": 0},
         "units": {"C7": "Chalet 7", "X9": "Pitch 99"}, "encoders": ENCODERS}


def now() -> datetime.datetime:
    return datetime.datetime.now(ZONE).replace(microsecond=0)


def booking(request_id, booking_id, units=("P12",), revision=1, status="CONFIRMED",
            arrival=None, departure=None, phone="", **extra):
    arrival = arrival or now() - datetime.timedelta(hours=1)
    departure = departure or arrival + datetime.timedelta(days=3)
    return {"request_id": request_id, "booking": {
        "id": booking_id, "revision": revision, "status": status, "units": list(units),
        "arrival": arrival.isoformat(), "departure": departure.isoformat(),
        "guest": {"name": "Zoë Doé", **({"phone": phone} if phone else {})}, **extra}}


def start(tmp_path, broker, peer_factory, spaces, extra=None):
    appliance = Appliance(tmp_path / "appliance", broker, spaces[0], extra=_merged(extra))
    appliance.start()
    pms = peer_factory(broker, "pms", persistent=True)
    pms.subscribe("keybridge/camp/#")
    return appliance, pms


def _merged(extra):
    rules = {name: dict(value) if isinstance(value, dict) else value
             for name, value in RULES.items()}
    for name, value in (extra or {}).items():
        rules[name] = rules.get(name, {}) | value if isinstance(value, dict) else value
    return rules


@contextlib.contextmanager
def running(tmp_path, broker, peer_factory, spaces, extra=None):
    """The appliance and a PMS for the ``with`` block; afterwards every message the PMS saw
    is checked against docs/asyncapi.yaml."""
    appliance, pms = start(tmp_path, broker, peer_factory, spaces, extra)
    try:
        yield appliance, pms
    finally:
        appliance.close()
        for message in pms.messages:
            check_published(message)


@pytest.fixture
def site(tmp_path, broker, space, peer_factory):
    with running(tmp_path, broker, peer_factory, [space]) as both:
        yield both


def final(pms, request_id, timeout=30.0):
    """The reply after "accepted": the desk job's outcome, or the refusal itself."""
    def match(message):
        body = message.json() if "/reply/" in message.topic else {}
        return body.get("request_id") == request_id and body["status"] != "accepted"
    return pms.wait_for(match, timeout).json()


def cut(pms, appliance, request_id, encoder="desk-1", **payload):
    send(pms, appliance, "encode_card", {"request_id": request_id, "encoder": encoder,
                                         **payload})
    return final(pms, request_id)


def read(pms, appliance, request_id, encoder="desk-1"):
    send(pms, appliance, "read_card", {"request_id": request_id, "encoder": encoder})
    return reply(pms, request_id, "ok", timeout=30)["data"]


def accepted(pms, appliance, command, payload):
    send(pms, appliance, command, payload)
    answer = reply(pms, payload["request_id"])
    assert answer["status"] == "accepted", answer
    return answer


def fields(line):
    """A logged frame's fields: ``PMS -> Space  |CN|Online Encoder 1|...|``."""
    return line.split("|")[1:-1]


def test_products_choose_key_types_and_authorizations(site, space):
    appliance, pms = site
    arrival = now() - datetime.timedelta(hours=1)
    accepted(pms, appliance, "booking", booking(
        "p1", "B1", labels=["pitch"], extras=["pool-pass"], arrival=arrival))
    accepted(pms, appliance, "booking", booking(
        "p2", "B2", units=("P14",), labels=["pitch"], arrival=arrival))
    accepted(pms, appliance, "booking", booking("p3", "B3", units=("C3",), type="tent"))
    pool = cut(pms, appliance, "c1", booking_id="B1")["data"]
    departure = (arrival + datetime.timedelta(days=3)).date()
    assert pool["key_type"] == "pool"
    assert pool["authorizations"] == ["Barrier", "Shower block", "Swimming pool"]
    # The product's own times, on the arrival and departure days, in Space's wall time.
    assert pool["space_valid_from"] == "%sT15:00" % arrival.date()
    assert pool["space_valid_until"] == "%sT10:00" % departure
    frame = fields(space.requests("CN")[-1])
    assert frame[7] == "123" and frame[3] == "Pitch 12"  # granted authorizations 1, 2, 3
    assert "Zoe Doe" in frame and "pool until %s" % departure.strftime("%d-%m-%Y") in \
        " ".join(frame)
    pitch = cut(pms, appliance, "c2", booking_id="B2", encoder="desk-2")["data"]
    assert (pitch["key_type"], pitch["authorizations"]) == ("pitch", ["Barrier",
                                                                     "Shower block"])
    refused = cut(pms, appliance, "c3", booking_id="B3")
    assert refused["error"]["code"] == "no_key" and "no product" in refused["error"]["message"]
    # At the doors, inside both stays: the pool opens for the pool package only.
    space.control({"op": "clock", "set": "%sT12:00" % (arrival.date()
                                                       + datetime.timedelta(days=1))})
    pool_card, pitch_card = pool["serials"][0], pitch["serials"][0]
    door = {"op": "door", "door": "Swimming pool"}
    assert space.control(door | {"serial": pool_card})["incident"] == "0"
    assert space.control(door | {"serial": pitch_card})["incident"] == "3"
    assert space.control({"op": "door", "door": "Barrier", "serial": pitch_card})[
        "incident"] == "0"


def test_a_chalet_waits_for_check_in_then_gets_its_mobile_key(site, space):
    appliance, pms = site
    waiting = accepted(pms, appliance, "booking", booking(
        "w1", "B4", units=("C3",), type="chalet", phone=CHALET_PHONE))
    assert waiting["data"]["jobs"] == 0
    assert cut(pms, appliance, "w2", booking_id="B4")["error"]["code"] == "no_key"
    accepted(pms, appliance, "booking", booking(
        "w3", "B4", units=("C3",), type="chalet", phone=CHALET_PHONE, revision=2,
        status="CHECKED_IN"))
    issued = event(pms, "key_issued", booking_id="B4", timeout=20)
    assert (issued["mobile"], issued["automatic"], issued["phone"]) == (True, True,
                                                                        CHALET_PHONE)
    assert issued["key_type"] == "chalet" and issued["rooms"] == ["Chalet 3"]
    [frame] = space.requests("CNM")
    assert fields(frame)[1:3] == [CHALET_PHONE, "Chalet 3"]
    assert "Welcome, Zoe Doe" in fields(frame)


def test_a_mobile_key_goes_out_days_before_arrival_even_across_a_kill(site, space):
    appliance, pms = site
    arrival = now() + datetime.timedelta(days=2, seconds=6)
    accepted(pms, appliance, "booking", booking(
        "m1", "B5", units=("P14",), labels=["pitch"], phone=GUEST_PHONE, arrival=arrival))
    accepted(pms, appliance, "booking", booking(
        "m2", "B6", labels=["pitch"], phone=GUEST_PHONE,
        arrival=now() + datetime.timedelta(days=10)))
    due = (arrival - datetime.timedelta(days=2)).timestamp()
    appliance.kill()  # before it is due: the delivery is a job in the store, not a timer
    appliance.start()
    issued = event(pms, "key_issued", booking_id="B5", timeout=30)
    assert issued["automatic"] is True
    assert datetime.datetime.fromisoformat(issued["occurred_at"]).timestamp() >= due - 1
    assert [fields(f)[2] for f in space.requests("CNM")] == ["Pitch 14"]
    with sqlite3.connect(appliance.db_file) as db:
        [(at,)] = db.execute("SELECT next_attempt_at FROM jobs j JOIN keys k ON k.id = "
                             "j.key_id WHERE k.booking_id = 'B6' AND j.kind = "
                             "'deliver_mobile_key' AND j.state = 'pending'").fetchall()
    assert at > now().timestamp() + 7 * 86400  # eight days before B6 arrives, still waiting


def test_new_cards_copies_the_copy_limit_read_back_and_check_out(site, space):
    appliance, pms = site
    accepted(pms, appliance, "booking", booking(
        "n1", "B2", labels=["pitch"], arrival=now() + datetime.timedelta(days=5)))
    new = cut(pms, appliance, "n2", booking_id="B2", count=2)["data"]
    assert (new["count"], new["copy"], len(new["serials"])) == (2, False, 2)
    assert fields(space.requests("CN2")[0])[0] == "CN2"
    copy = cut(pms, appliance, "n3", booking_id="B2", count=1, copy=True)["data"]
    assert copy["copy"] is True and len(space.requests("CC")) == 1
    over = cut(pms, appliance, "n4", booking_id="B2", count=1, copy=True)
    assert over["status"] == "error" and over["data"]["vendor_code"] == "copy_limit"
    failed = event(pms, "key_failed", booking_id="B2", code="copy_limit")
    assert failed["operation"] == "encode_card" and "copy" in failed["hint"]
    assert len(space.requests("CC")) == 1  # refused here, Space never asked
    card = read(pms, appliance, "n5")  # the copy is still on the encoder
    assert (card["booking_id"], card["valid"], card["copy"]) == ("B2", True, True)
    assert card["authorizations"] == ["Barrier", "Shower block"]
    accepted(pms, appliance, "booking", booking(
        "n6", "B2", labels=["pitch"], revision=2, status="COMPLETED",
        arrival=now() + datetime.timedelta(days=5)))
    revoked = event(pms, "key_revoked", booking_id="B2")
    assert (revoked["checked_out"], revoked["cards_unusable"]) == (True, True)
    assert [fields(f)[2] for f in space.requests("CO")] == ["Pitch 12"]
    space.control({"op": "card", "encoder": "Online Encoder 1", "serial": copy["serials"][0]})
    handed_back = read(pms, appliance, "n7")
    assert (handed_back["booking_id"], handed_back["valid"]) == ("B2", False)


def test_owner_keys_without_a_booking(site, space):
    appliance, pms = site
    owner = {"id": "O1", "key_type": "owner", "units": ["C3"], "holder": "Jan",
             "valid_from": now().isoformat(),
             "valid_until": (now() + datetime.timedelta(days=365)).isoformat(),
             "print_info": ["Maintenance", "Jan"]}
    accepted(pms, appliance, "owner_key", {"request_id": "o1", "owner_key": owner})
    card = cut(pms, appliance, "o2", owner_key_id="O1")["data"]
    assert (card["owner_key_id"], card["authorizations"]) == ("O1", ["Barrier"])
    frame = fields(space.requests("CN")[-1])
    assert frame[3] == "Chalet 3" and frame[12:14] == ["Maintenance", "Jan"]
    assert read(pms, appliance, "o3")["owner_key_id"] == "O1"
    send(pms, appliance, "owner_key", {"request_id": "o4", "owner_key": owner | {
        "id": "O2", "key_type": "janitor"}})
    error = reply(pms, "o4")["error"]
    assert (error["code"], error["field"]) == ("unknown_key_type", "owner_key.key_type")
    accepted(pms, appliance, "delete_keys", {"request_id": "o5", "owner_key_id": "O1"})
    revoked = event(pms, "key_revoked", owner_key_id="O1")
    assert revoked["checked_out"] is True
    assert [fields(f)[2] for f in space.requests("CO")] == ["Chalet 3"]


VENDOR_CASES = [
    # (code, booking units, encoder, simulator set-up, command)
    ("NC", ("P12",), "back-office", None, "encode"),
    ("OS", ("C7",), "desk-1", None, "encode"),
    ("TD", ("X9",), "desk-1", None, "encode"),
    ("EV", ("P12",), "desk-1", {"op": "card", "encoder": "Online Encoder 1",
                                "kind": "staff", "holder": "Anna"}, "encode"),
    ("EF", ("P12",), "desk-1", {"op": "card", "encoder": "Online Encoder 1",
                                "kind": "foreign"}, "encode"),
    ("EP", ("P12",), "desk-1", {"op": "card", "encoder": "Online Encoder 1",
                                "kind": "badly_inserted"}, "encode"),
    ("OV", ("P12",), "desk-1", {"op": "encoder", "encoder": "Online Encoder 1",
                                "set": {"busy": True}}, "encode"),
    ("ED", ("P12",), "desk-2", {"op": "encoder", "encoder": "Online Encoder 2",
                                "set": {"card_timeout_s": 0.5, "card_after_s": 5.0}}, "encode"),
    ("EA", ("P14",), "desk-1", None, "copy"),
    ("EG", ("P12",), "desk-1", None, "mobile"),
]


def test_each_vendor_error_reaches_the_pms_as_key_failed_with_its_hint(site, space):
    appliance, pms = site
    for index, (code, units, encoder, setup, command) in enumerate(VENDOR_CASES):
        booking_id = "V%d" % index
        accepted(pms, appliance, "booking", booking(
            "v%d" % index, booking_id, units=units, labels=["pitch"],
            arrival=now() + datetime.timedelta(days=5)))
        if setup is not None:
            space.control(setup)
        request_id = "v%d-desk" % index
        if command == "mobile":
            send(pms, appliance, "send_mobile_key", {"request_id": request_id,
                                                     "booking_id": booking_id,
                                                     "phone": "+31600000000"})
            answer = reply(pms, request_id, "error", timeout=30)
        else:
            answer = cut(pms, appliance, request_id, encoder=encoder, booking_id=booking_id,
                         copy=command == "copy")
        assert answer["status"] == "error", (code, answer)
        assert answer["data"]["vendor_code"] == code, (code, answer)
        failed = event(pms, "key_failed", booking_id=booking_id)
        assert (failed["code"], failed["will_retry"]) == (code, False)
        assert failed["message"] and failed["hint"], failed
        assert failed["operation"] in ("encode_card", "send_mobile_key")
        if command == "mobile":  # the phone unknown to JustIN has its own hint, for the desk
            assert "finish registration, then send again" in failed["hint"]
            assert answer["data"]["hint"] == failed["hint"]
        if setup is not None and setup["op"] == "encoder":
            space.control(setup | {"set": {"busy": False, "card_timeout_s": 20.0,
                                           "card_after_s": 1.0}})
        elif setup is not None:
            space.control({"op": "card", "encoder": "Online Encoder 1", "kind": "blank"})


def test_two_administrations_at_once(tmp_path, broker, space, peer_factory):
    north = SpaceProcess(tmp_path, "north").start()
    try:
        extra = {"space": {"administrations": {"north": {
                     "server": "127.0.0.1:%d" % north.port, "timezone": "Europe/Brussels"}}},
                 "units": {"N4": {"room": "Pitch 14", "administration": "north"}},
                 "encoders": [ENCODERS[0], {"id": "desk-n", "name": "Online Encoder 2",
                                            "administration": "north"}]}
        appliance, pms = start(tmp_path, broker, peer_factory, [space], extra)
        accepted(pms, appliance, "booking", booking(
            "t1", "B7", units=("P12", "N4"), labels=["pitch"],
            arrival=now() + datetime.timedelta(days=5)))
        # Two desks, two Space servers, asked at once: neither waits for the other.
        for request_id, encoder in (("t2", "desk-1"), ("t3", "desk-n")):
            send(pms, appliance, "encode_card", {"request_id": request_id, "encoder": encoder,
                                                 "booking_id": "B7"})
        main_card = reply(pms, "t2", "ok", timeout=30)["data"]
        north_card = reply(pms, "t3", "ok", timeout=30)["data"]
        assert main_card["rooms"] == ["Pitch 12"] and main_card["administration"] == "main"
        assert north_card["rooms"] == ["Pitch 14"] and north_card["administration"] == "north"
        assert [fields(f)[1:4] for f in space.requests("CN")] == [
            ["Online Encoder 1", "E", "Pitch 12"]]
        assert [fields(f)[1:4] for f in north.requests("CN")] == [
            ["Online Encoder 2", "E", "Pitch 14"]]
        # An encoder of the north site cuts no card for a stay of the main one.
        accepted(pms, appliance, "booking", booking("t4", "B11", labels=["pitch"],
                                                    arrival=now() + datetime.timedelta(days=5)))
        refused = cut(pms, appliance, "t5", encoder="desk-n", booking_id="B11")
        assert refused["error"]["code"] == "no_key"
        # The status names each administration's link; both are up.
        pms.wait_for(lambda m: m.topic.endswith("/status") and all(
            m.json().get("backends", {}).get(name, {}).get("up") for name in (
                "space", "space:north")), timeout=15)
        appliance.close()
        for message in pms.messages:
            check_published(message)
    finally:
        north.close()


def test_space_down_for_an_hour_loses_and_repeats_nothing(site, space):
    appliance, pms = site
    accepted(pms, appliance, "booking", booking("d1", "B8", labels=["pitch"]))
    cut(pms, appliance, "d2", booking_id="B8")
    space.control({"op": "faults", "set": {"refuse_connections": True}})
    accepted(pms, appliance, "booking", booking("d3", "B8", labels=["pitch"], revision=2,
                                                status="COMPLETED"))
    accepted(pms, appliance, "booking", booking(
        "d4", "B9", units=("C3",), type="chalet", phone=CHALET_PHONE, status="CHECKED_IN"))
    refused = cut(pms, appliance, "d5", booking_id="B9")  # a person waits: told at once
    assert refused["error"]["code"] == "backend_unavailable"
    event(pms, "key_failed", booking_id="B8", operation="revoke_key", will_retry=True)
    space.control({"op": "clock", "advance_s": 3600})
    space.control({"op": "faults", "clear": True})
    assert event(pms, "key_revoked", booking_id="B8", timeout=30)["checked_out"] is True
    assert event(pms, "key_issued", booking_id="B9", timeout=30)["automatic"] is True
    assert [fields(f)[2] for f in space.requests("CO")] == ["Pitch 12"]
    assert [fields(f)[2] for f in space.requests("CNM")] == ["Chalet 3"]


@pytest.mark.parametrize("modify", [False, True], ids=["re-encode", "MC"])
def test_a_date_change_updates_the_key_data_and_says_what_the_cards_need(
        tmp_path, broker, space, peer_factory, modify):
    appliance, pms = start(tmp_path, broker, peer_factory, [space],
                           {"space": {"modify_check_in": modify}})
    arrival = now() + datetime.timedelta(days=5)
    accepted(pms, appliance, "booking", booking("u1", "B10", labels=["pitch"],
                                                arrival=arrival))
    cut(pms, appliance, "u2", booking_id="B10")
    later = arrival + datetime.timedelta(days=4)
    accepted(pms, appliance, "booking", booking("u3", "B10", labels=["pitch"], revision=2,
                                                arrival=arrival, departure=later))
    updated = event(pms, "key_updated", booking_id="B10", timeout=20)
    assert updated["space_valid_until"] == later.strftime("%Y-%m-%dT%H:%M")
    assert (updated["modified"], updated["reencode_required"]) == (modify, not modify)
    assert len(space.requests("MC")) == int(modify)
    card = read(pms, appliance, "u4")  # the card still on the encoder
    expected = later if modify else arrival + datetime.timedelta(days=3)
    assert card["space_valid_until"][:16] == expected.strftime("%Y-%m-%dT%H:%M")
    appliance.close()
    for message in pms.messages:
        check_published(message)


def test_a_late_check_out_leaves_the_next_guest_of_the_room_alone(site, space):
    """Space holds one check-in per room: the guest who left must not lock out the next."""
    appliance, pms = site
    accepted(pms, appliance, "booking", booking("l1", "B12", labels=["pitch"]))
    cut(pms, appliance, "l2", booking_id="B12")
    accepted(pms, appliance, "booking", booking("l3", "B13", labels=["pitch"]))
    cut(pms, appliance, "l4", booking_id="B13")  # the next guest's card: a new check-in
    accepted(pms, appliance, "booking", booking("l5", "B12", labels=["pitch"], revision=2,
                                                status="COMPLETED"))  # told late
    revoked = event(pms, "key_revoked", booking_id="B12")
    assert (revoked["checked_out"], revoked["cards_unusable"]) == (False, False)
    assert space.requests("CO") == []
    card = read(pms, appliance, "l6")  # the next guest's card, still on the encoder
    assert (card["booking_id"], card["valid"]) == ("B13", True)


def test_a_product_change_mid_stay_updates_the_key_without_a_check_out(site, space):
    appliance, pms = site
    accepted(pms, appliance, "booking", booking("x1", "B14", labels=["pitch"]))
    cut(pms, appliance, "x2", booking_id="B14")
    accepted(pms, appliance, "booking", booking("x3", "B14", labels=["pitch"], revision=2,
                                                extras=["pool-pass"]))
    updated = event(pms, "key_updated", booking_id="B14")
    assert updated["key_type"] == "pool" and "Swimming pool" in updated["authorizations"]
    assert (updated["reencode_required"], updated["modified"]) == (True, False)
    assert space.requests("CO") == []
    new = cut(pms, appliance, "x4", booking_id="B14")["data"]
    assert new["authorizations"] == ["Barrier", "Shower block", "Swimming pool"]


def test_an_owner_key_without_valid_from_opens_from_when_it_was_first_received(site, space):
    """As BEX's owner keys: valid_from defaults to the creation; sent again, the key keeps
    its start and changes nothing."""
    appliance, pms = site
    before = now().replace(microsecond=0)
    owner = {"id": "O9", "key_type": "owner", "units": ["C3"], "holder": "Jan",
             "valid_until": (now() + datetime.timedelta(days=365)).isoformat()}
    accepted(pms, appliance, "owner_key", {"request_id": "o9", "owner_key": owner})
    card = cut(pms, appliance, "o9-cut", owner_key_id="O9")["data"]
    start = datetime.datetime.fromisoformat(card["valid_from"])
    assert before <= start <= now()
    accepted(pms, appliance, "owner_key", {"request_id": "o9-again", "owner_key": owner})
    again = cut(pms, appliance, "o9-cut-again", owner_key_id="O9")["data"]
    assert again["valid_from"] == card["valid_from"]
    send(pms, appliance, "owner_key", {"request_id": "o9-past", "owner_key": owner | {
        "id": "O10", "valid_until": (now() - datetime.timedelta(days=1)).isoformat()}})
    error = reply(pms, "o9-past")["error"]
    assert (error["code"], error["field"]) == ("bad_request", "owner_key.valid_until")


def test_test_connection_really_asks_space(site, space):
    """Space's part of test_connection is its answer to ENQ: with Space refusing the link it
    must say so, not "ready" from the appliance's own view."""
    appliance, pms = site
    accepted(pms, appliance, "test_connection", {"request_id": "up", "backend": "space"})
    up = final(pms, "up")["data"]["backends"]["space"]
    assert up["ok"] is True and up["detail"]["ready"] is True
    space.control({"op": "faults", "set": {"refuse_connections": True}})
    try:
        accepted(pms, appliance, "test_connection", {"request_id": "down", "backend": "space"})
        down = final(pms, "down", timeout=60)["data"]
        assert down["ok"] is False and down["backends"]["space"]["ok"] is False
        assert down["backends"]["space"]["code"] == "backend_unavailable"
    finally:
        space.control({"op": "faults", "set": {"refuse_connections": False}})


def test_a_booking_on_a_unit_no_backend_knows_is_said_not_silent(site):
    """Q1 is in no unit map: the reply names it, key_failed says so and how to fix it, the
    journal too; the booking's known unit still gets its key."""
    appliance, pms = site
    send(pms, appliance, "booking", booking("u1", "U1", units=("Q1", "P12"), labels=["pitch"]))
    data = reply(pms, "u1")["data"]
    assert data["unknown_units"] == ["Q1"] and data["jobs"] == 1
    failed = event(pms, "key_failed", booking_id="U1")
    assert (failed["code"], failed["units"], failed["key_id"], failed["backend"]) == (
        "unknown_unit", ["Q1"], None, None)
    assert str(appliance.config_file) in failed["hint"] and "[units]" in failed["hint"]
    assert failed["will_retry"] is False
    assert "no backend knows unit Q1" in appliance.log_text()
    send(pms, appliance, "booking", booking("u2", "U1", units=("Q1",), revision=2,
                                            status="CANCELLED"))
    assert reply(pms, "u2")["data"]["unknown_units"] == ["Q1"]  # said, but no key_failed:
    failures = [m.json() for m in pms.messages if m.topic.endswith("/event/key_failed")]
    assert [f["code"] for f in failures].count("unknown_unit") == 1


@pytest.mark.parametrize("mode", ["print_info", "auth_code"])
def test_a_licence_plate_goes_from_the_booking_to_space(tmp_path, broker, space, peer_factory,
                                                         mode):
    """Space 1.20 takes a licence plate: printed as the card's last line, or as the phone
    key's auth code (what a barrier camera matches)."""
    appliance, pms = start(tmp_path, broker, peer_factory, [space], extra={
        "space": {"software_version": "1.20", "license_plate": mode}})
    try:
        accepted(pms, appliance, "booking", booking(
            "plate", "LP1", labels=["pitch"], phone=GUEST_PHONE, license_plate="AB-123-C",
            arrival=now() + datetime.timedelta(hours=2)))
        if mode == "print_info":
            card = cut(pms, appliance, "plate-card", booking_id="LP1")
            assert card["status"] == "ok", card
            printed = fields(space.requests("CN")[-1])[12:15]
            assert printed[-1] == "AB-123-C" and printed[0] == "Zoe Doe"
        else:  # the phone key goes at once: the stay starts within mobile_days_before
            event(pms, "key_issued", booking_id="LP1", backend="space")
            sent = fields(space.requests("CNM")[-1])
            assert sent[1] == GUEST_PHONE and sent[15] == "AB-123-C"
    finally:
        appliance.close()
        for message in pms.messages:
            check_published(message)
