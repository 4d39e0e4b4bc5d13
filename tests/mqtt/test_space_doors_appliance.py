"""Space door events end to end: a real Mosquitto, the appliance process and the Space
simulator process. A booking's card opens the barrier and is refused at the pool, and the
PMS hears both, the booking named; the desk is answered while the trails are walked; a kill -9
and a restart repeat nothing. Every published message is checked against docs/asyncapi.yaml.
"""

import datetime
import sqlite3

import pytest

from test_appliance_contract import event
from test_space_appliance import accepted, booking, cut, now, running

STAFF_OPENINGS = 60  # a trail long enough that the desk's card comes in the middle of a walk
AUDIT = {"space": {"audit_doors": ["Barrier", "Swimming pool"], "door_events_poll_s": 1}}


@pytest.fixture
def site(tmp_path, broker, space, peer_factory):
    # Space's wall clock is the site's (the simulator's would be this machine's zone).
    space.control({"op": "clock", "set": now().replace(tzinfo=None).isoformat()})
    for _ in range(STAFF_OPENINGS):
        space.control({"op": "door", "door": "Barrier", "staff": "Maintenance"})
    with running(tmp_path, broker, peer_factory, [space], AUDIT) as both:
        yield both


def door_events(pms):
    return [m.json() for m in pms.messages if m.topic.endswith("/event/door_event")]


def test_a_guests_card_at_the_barrier_and_the_pool_reaches_the_pms_once(site, space):
    appliance, pms = site
    accepted(pms, appliance, "booking", booking("b1", "B1", labels=["pitch"]))
    # Asked while the appliance walks the barrier's trail: the desk is still answered.
    card = cut(pms, appliance, "c1", booking_id="B1")
    assert card["status"] == "ok", card
    serial = card["data"]["serials"][0]
    assert space.control({"op": "door", "door": "Barrier", "serial": serial})[
        "incident"] == "0"
    assert space.control({"op": "door", "door": "Swimming pool", "serial": serial})[
        "incident"] == "3"  # a pitch's key does not open the pool
    opened = event(pms, "door_event", door="Barrier", booking_id="B1")
    refused = event(pms, "door_event", door="Swimming pool", booking_id="B1")
    key_id = card["data"]["key_id"]
    assert (opened["backend"], opened["granted"], opened["key_id"]) == ("space", True, key_id)
    assert (refused["granted"], refused["category"], refused["detail"]) == (
        False, "rejected", "access_denied")
    assert refused["room"] == "Pitch 12" and refused["key_type"] == "pitch"
    at = datetime.datetime.fromisoformat(refused["at"])
    assert abs(at - now()) < datetime.timedelta(minutes=5)  # this year, the site's offset

    appliance.kill()  # kill -9: the trails' cursors are in the store with their events
    appliance.start()
    before = {e["event_id"] for e in door_events(pms)}
    space.control({"op": "door", "door": "Barrier", "serial": serial})
    pms.wait_for(lambda m: m.topic.endswith("/event/door_event")
                 and m.json()["event_id"] not in before, 30)
    found = door_events(pms)
    by_id = {e["event_id"]: e for e in found}
    assert len(by_id) == STAFF_OPENINGS + 3  # each record once, whatever was sent again
    staff = [e for e in by_id.values() if e["access_by"] == "staff_card"]
    assert len(staff) == STAFF_OPENINGS
    assert all(e["booking_id"] is None and e["room"] is None for e in staff)
    with sqlite3.connect(appliance.db_file) as db:  # stored once: not merely deduplicated
        [(stored,)] = db.execute("SELECT count(*) FROM outbox WHERE topic LIKE "
                                 "'%/event/door_event'").fetchall()
    assert stored == STAFF_OPENINGS + 3

