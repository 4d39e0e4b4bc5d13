"""Reconciling ProAccess Space end to end: a real Mosquitto, the appliance process and the
Space simulator. Space cannot list its keys, so what it does answer is checked: that it
answers at all, and its doors' audit trails against the keys the store holds live.
"""

import datetime

import pytest

from test_appliance_contract import event, reply, send
from test_space_appliance import accepted, booking, cut, now, running

WALL = "%Y-%m-%dT%H:%M"
AUDITED = {"audit_doors": ["Pitch 12"], "door_events_poll_s": 0}


@pytest.fixture
def site(tmp_path, broker, space, peer_factory):
    with running(tmp_path, broker, peer_factory, [space], {"space": AUDITED}) as both:
        yield both


def reconciled(pms, appliance, request_id):
    send(pms, appliance, "reconcile", {"request_id": request_id})
    return event(pms, "reconcile_report", 60, backend="space")


def test_a_card_refused_during_the_stay_is_a_discrepancy(tmp_path, broker, space,
                                                         peer_factory):
    """The stay grew but the cards were not cut again (Space without MC): the pitch's door
    refuses the guest's card as expired while the store says the stay runs."""
    with running(tmp_path, broker, peer_factory, [space], {"space": {
            "modify_check_in": False, **AUDITED}}) as (appliance, pms):
        arrival = now() - datetime.timedelta(hours=2)
        ends = now() + datetime.timedelta(minutes=30)
        accepted(pms, appliance, "booking", booking("r1", "B30", labels=["pitch"],
                                                    arrival=arrival, departure=ends))
        serial = cut(pms, appliance, "r2", booking_id="B30")["data"]["serials"][0]
        accepted(pms, appliance, "booking", booking(
            "r3", "B30", labels=["pitch"], revision=2, arrival=arrival,
            departure=ends + datetime.timedelta(days=2)))
        assert event(pms, "key_updated", booking_id="B30", timeout=20)["reencode_required"]
        later = now() + datetime.timedelta(minutes=40)  # after the card's end, in the stay
        space.control({"op": "clock", "set": later.strftime(WALL)})
        assert space.control({"op": "door", "door": "Pitch 12", "serial": serial}
                             )["incident"] == "4"
        report = reconciled(pms, appliance, "r4")
        assert report["error"] is None, report
        (found,) = report["discrepancies"]
        assert (found["kind"], found["refused_as"], found["booking_id"], found["door"]) == (
            "refused_during_stay", "expired_key", "B30", "Pitch 12")
        assert found["fix"] is None and "cut a new card" in found["message"]
        assert found["at"][:16] == later.strftime(WALL)


def test_a_card_that_opens_or_a_door_nobody_tried_is_no_discrepancy(site, space):
    appliance, pms = site
    accepted(pms, appliance, "booking", booking("q1", "B31", labels=["pitch"]))
    serial = cut(pms, appliance, "q2", booking_id="B31")["data"]["serials"][0]
    assert space.control({"op": "door", "door": "Pitch 12", "serial": serial}
                         )["incident"] == "0"
    report = reconciled(pms, appliance, "q3")
    assert (report["error"], report["discrepancies"]) == (None, [])


def test_space_down_makes_the_run_incomplete_not_clean(site, space):
    """Before, Space's part always said "0 discrepancies", even with Space switched off."""
    appliance, pms = site
    space.control({"op": "faults", "set": {"refuse_connections": True}})
    send(pms, appliance, "reconcile", {"request_id": "d1"})
    report = event(pms, "reconcile_report", 90, backend="space")
    assert report["error"] and "backend_unavailable" in report["error"], report
    answer = reply(pms, "d1", "ok", timeout=30)
    assert answer["data"]["errors"].get("space"), answer


def test_a_misnamed_audit_door_is_named_and_hides_no_other_door(tmp_path, broker, space,
                                                                  peer_factory):
    with running(tmp_path, broker, peer_factory, [space], {"space": {
            "audit_doors": ["Sauna", "Pitch 12"], "door_events_poll_s": 0}}) as (appliance, pms):
        accepted(pms, appliance, "booking", booking("s1", "B32", labels=["pitch"]))
        (first,) = cut(pms, appliance, "s2", booking_id="B32")["data"]["serials"]
        cut(pms, appliance, "s3", booking_id="B32")  # new cards: the first one stops working
        assert space.control({"op": "door", "door": "Pitch 12", "serial": first}
                             )["incident"] == "2"
        report = reconciled(pms, appliance, "s4")
        assert report["error"] is None, report
        found = {item["kind"]: item for item in report["discrepancies"]}
        assert set(found) == {"audit_trail_unreadable", "refused_during_stay"}, found
        assert found["audit_trail_unreadable"]["door"] == "Sauna"
        assert "[space] audit_doors" in found["audit_trail_unreadable"]["message"]
        assert (found["refused_during_stay"]["refused_as"],
                found["refused_during_stay"]["booking_id"]) == ("invalid_key", "B32")
