"""Which audit records reconciliation reports: a live key's card refused during its stay as
no longer valid or expired, and nothing else (a door the card does not open, a revoked key,
a refusal outside the stay, a staff card)."""

import datetime

import pytest

from appliance.space import hooks, reconcile
from appliance.space.data import SpaceIds, SpaceKeyData
from appliance.space.trail import Line
from appliance.store import KeyRow

ZONE = datetime.timezone(datetime.timedelta(hours=2))
MOMENT = datetime.datetime(2027, 7, 2, 9, 30, tzinfo=ZONE)


def key(state="active", rooms=("Pitch 12",), start=MOMENT - datetime.timedelta(days=1),
        end=MOMENT + datetime.timedelta(days=2)):
    return KeyRow("k1", "space", "B1", None, ("P12",), start, end, state,
                  SpaceIds(encoded=True).to_json(),
                  plan=SpaceKeyData(rooms=rooms, key_type="pitch").to_json())


def line(incident, card="Pitch 12"):
    return Line("02/07", "09:30", incident, "I", card, "#0", "")


@pytest.mark.parametrize("incident, refused_as", [("2", "invalid_key"), ("4", "expired_key")])
def test_a_live_keys_card_refused_during_the_stay_is_reported(incident, refused_as):
    found = reconcile._refusal("Barrier", line(incident), MOMENT, hooks.RoomKeys([key()]))
    assert found is not None
    assert (found["kind"], found["refused_as"], found["key_id"], found["booking_id"]) == (
        "refused_during_stay", refused_as, "k1", "B1")
    assert (found["door"], found["room"], found["key_type"]) == ("Barrier", "Pitch 12", "pitch")
    assert found["at"] == "2027-07-02T09:30:00+02:00"


@pytest.mark.parametrize("record, keys", [
    (line("0"), [key()]),                        # it opened
    (line("3"), [key()]),                        # not this card's door: as it should be
    (line("2"), [key(state="revoked")]),         # checked out: refused as it should be
    (line("2"), [key(end=MOMENT)]),              # at the stay's very end
    (line("2"), [key(start=MOMENT + datetime.timedelta(hours=1))]),  # before the stay
    (line("2"), [key(rooms=("Pitch 14",))]),     # another room's key
    (line("2", card="STAFF"), [key()]),          # a staff card names no room
])
def test_everything_else_is_no_discrepancy(record, keys):
    assert reconcile._refusal("Barrier", record, MOMENT, hooks.RoomKeys(keys)) is None


def test_the_key_named_is_the_newest_of_the_room_as_in_the_door_event():
    """A room's card names only the room: the newest key covering the minute is the one the
    door_event named, so the report names the same one (not an older live key)."""
    newer = KeyRow("k2", "space", "B2", None, ("P12",), MOMENT - datetime.timedelta(hours=1),
                   MOMENT + datetime.timedelta(days=1), "revoked",
                   SpaceIds(encoded=True).to_json(),
                   plan=SpaceKeyData(rooms=("Pitch 12",)).to_json())
    rooms = hooks.RoomKeys([newer, key()])  # newest first
    assert rooms.at("Pitch 12", MOMENT) is newer
    assert reconcile._refusal("Barrier", line("2"), MOMENT, rooms) is None
