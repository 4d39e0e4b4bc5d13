"""One booking, both backends, one check-in time: a real Mosquitto, the appliance process,
the Space simulator and the KS simulator.

The PMS books 09:30 to 18:00; the site checks in at 14:00 and out at 11:00 ([site]). The
card Space was told to cut (the CN frame it received) and the PIN's schedule in KS (the
simulator's state) must start and end at the same instant, and at the doors the card and
the PIN must both wait for 14:00. A KS key type with its own start_time starts later, as
set. Every published message is checked against docs/asyncapi.yaml.
"""

import datetime
import zoneinfo

import pytest

from _appliance import Appliance
from _ks import KsProcess
from test_appliance_contract import check_published, event, reply, send

ZONE = zoneinfo.ZoneInfo("Europe/Amsterdam")
KEY_TYPES = [{"name": "stay"},
             {"name": "showers", "unit_locks": False, "locks": ["Shower block"],
              "start_time": "16:00"}]
BOOKING = {"request_id": "b1", "booking": {
    "id": "B1", "revision": 1, "status": "CONFIRMED", "units": ["P12"],
    "arrival": "2027-07-01T09:30:00+02:00", "departure": "2027-07-04T18:00:00+02:00"}}


def local(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2027, 7, day, hour, minute, tzinfo=ZONE)


@pytest.fixture
def site(tmp_path, broker, space, peer_factory):
    ks = KsProcess(tmp_path).start()
    appliance = Appliance(tmp_path / "appliance", broker, space, ks_url=ks.url,
                          ks={"key_types": KEY_TYPES},
                          extra={"site": {"check_in_time": "14:00", "check_out_time": "11:00"}})
    pms = peer_factory(broker, "pms", persistent=True)
    pms.subscribe("keybridge/camp/#")
    appliance.start()
    yield appliance, pms, ks
    appliance.close()
    ks.close()
    for message in pms.messages:
        check_published(message)


def card_times(space):
    """Start and expiry of the last card Space was asked to cut (CN fields 9 and 10,
    ``hhmmDDMMYY`` in the site's wall time), as instants."""
    fields = space.requests("CN")[-1].split("|")[1:-1]
    return tuple(datetime.datetime.strptime(text, "%H%M%d%m%y").replace(tzinfo=ZONE)
                 for text in fields[9:11])


def schedule_times(ks, key_id):
    """Start and end of the KS access group's schedule made for ``key_id`` (naive wall
    times of the KS site, as KS reads them), as instants."""
    (group,) = [group for group in ks.state()["access_groups"]
                if group["customer_reference"] == "kb:camp:%s" % key_id]
    (schedule,) = group["schedules"]
    return tuple(datetime.datetime.fromisoformat(schedule[name]).replace(tzinfo=ZONE)
                 for name in ("start_date", "end_date"))


def door(space, at, serial, name="Pitch 12"):
    space.control({"op": "clock", "set": at.strftime("%Y-%m-%dT%H:%M")})
    return space.control({"op": "door", "door": name, "serial": serial})["incident"] == "0"


def test_the_card_and_the_pin_start_and_end_at_the_sites_times_together(site, space):
    appliance, pms, ks = site
    send(pms, appliance, "booking", BOOKING)
    assert reply(pms, "b1")["status"] == "accepted"
    stay = event(pms, "key_issued", 30, backend="ks", key_type="stay")
    showers = event(pms, "key_issued", 30, backend="ks", key_type="showers")
    send(pms, appliance, "encode_card", {"request_id": "c1", "booking_id": "B1",
                                         "encoder": "desk-1"})
    card = event(pms, "card_encoded", 30, booking_id="B1")
    # What Space and KS were told: the same instants, 14:00 on arrival to 11:00 on departure.
    assert card_times(space) == schedule_times(ks, stay["key_id"]) == (local(1, 14),
                                                                       local(4, 11))
    # The key type's own start_time: later, as set; its end is still the site's.
    assert schedule_times(ks, showers["key_id"]) == (local(1, 16), local(4, 11))
    # The events carry the effective instants, not the booking's 09:30 and 18:00.
    assert (card["valid_from"], card["valid_until"]) == (stay["valid_from"],
                                                         stay["valid_until"]) == (
        local(1, 14).isoformat(), local(4, 11).isoformat())
    assert showers["valid_from"] == local(1, 16).isoformat()
    # At the doors: after the PMS's 09:30 but before 14:00 neither opens; then both do.
    serial = card["serials"][0]
    assert not door(space, local(1, 13, 30), serial)
    assert not ks.keypad("Pitch 12", stay["pin"], at=local(1, 13, 30).isoformat())["opened"]
    assert door(space, local(1, 14, 30), serial)
    assert ks.keypad("Pitch 12", stay["pin"], at=local(1, 14, 30).isoformat())["opened"]
    assert not ks.keypad("Shower block", showers["pin"],
                         at=local(1, 14, 30).isoformat())["opened"]
    assert ks.keypad("Shower block", showers["pin"], at=local(1, 16, 30).isoformat())["opened"]
