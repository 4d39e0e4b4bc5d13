"""The simulator's site file, fault knobs, clock and control channel."""

import asyncio
import datetime
import json

import pytest

from appliance.space import errors
from simulators.faults import FaultError, Faults
from simulators.space import load_site
from simulators.space.clock import SimClock
from simulators.space.control import send
from simulators.space.site import SiteError

from _spacesim import ARRIVAL, DEPARTURE, ENC1, ENC2, SITE_FILE

# -- the site file ----------------------------------------------------------------------


def test_the_example_site_has_its_rooms():
    site = load_site(SITE_FILE)
    assert sorted(site.rooms) == [b"Chalet 3", b"Chalet 7", b"Pitch 12", b"Pitch 14"]
    assert site.rooms[b"Chalet 7"].out_of_service is True
    assert site.rooms[b"Pitch 12"].out_of_service is False


def test_every_room_has_its_own_door_beside_the_authorization_doors():
    doors = load_site(SITE_FILE).doors
    for room in (b"Chalet 3", b"Chalet 7", b"Pitch 12", b"Pitch 14"):
        assert doors[room].room == room
    shared = {name: door.authorization for name, door in doors.items() if door.room is None}
    assert shared == {b"Swimming pool": 3, b"Barrier": 1, b"Shower block": 2}


def test_the_example_site_has_its_encoders_phones_and_staff():
    site = load_site(SITE_FILE)
    encoders = site.encoders
    assert sorted(encoders) == [b"Back Office", b"Online Encoder 1", b"Online Encoder 2"]
    assert encoders[b"Back Office"].online is False
    assert encoders[b"Online Encoder 1"].card.kind == "blank"
    assert encoders[b"Online Encoder 1"].card_after_s == 1.0
    assert encoders[b"Online Encoder 1"].card_timeout_s == 20.0
    assert site.phones == {b"+31612345678", b"+34619123456"}
    assert site.staff == {b"Maintenance"}


def test_the_example_site_options_and_clock():
    site = load_site(SITE_FILE)
    assert site.options.remove_access_on_checkout is True
    assert site.options.max_copies == 10
    assert site.audit_date_format == "dd/mm"
    assert site.second_connection == "refuse"
    assert site.clock_start is None
    assert site.clock_running is True
    assert site.faults == Faults()


def test_a_site_file_sets_the_clock_and_faults(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('[clock]\nstart = "2026-07-01T09:00"\nrunning = false\n'
                    '[faults]\nnak_frames = 2\ngarbage = "ff00"\n')
    site = load_site(path)
    assert site.clock_start == datetime.datetime(2026, 7, 1, 9, 0)
    assert site.clock_running is False
    assert (site.faults.nak_frames, site.faults.garbage) == (2, b"\xff\x00")


def site_error(tmp_path, text):
    """Load ``text`` as a site file; return the path and the SiteError's message."""
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SiteError) as info:
        load_site(path)
    return str(path), str(info.value)


@pytest.mark.parametrize(("text", "key", "words"), [
    ('[[encoders]]\nname = "E1"\ncard = "gold"\n', "card", "'gold'"),
    ('[[rooms]]\nout_of_service = true\n', "[[rooms]] #1 name", "missing"),
    ('[[rooms]]\nname = "Chalét 3"\n', "[[rooms]] #1 name", "cannot go on the wire"),
    ('[[rooms]]\nname = "%s"\n' % ("x" * 25), "[[rooms]] #1 name", "cannot go on the wire"),
    ('[[encoders]]\nname = "E1"\ncard_after_s = -1\n', "card_after_s", "negative"),
    ('[[doors]]\nname = "Gate"\nroom = "Pitch 99"\n', "[[doors]] #1 room", "no room"),
    ('[[doors]]\nname = "Gate"\nauthorization = 63\n', "authorization", "1 to 62"),
    ('[faults]\nnak_frame = 2\n', "[faults]", "'nak_frame'"),
    ('[faults]\nsilent = "yes"\n', "[faults]", "'silent'"),
    ('[server]\nsecond_connection = "share"\n', "second_connection", "refuse, queue"),
    ('[clock]\nstart = "tomorrow"\n', "[clock] start", "not a date"),
    ('[options]\nmax_copies = "ten"\n', "[options] max_copies", "must be a whole number"),
    ('rooms = "Pitch 12"\n', "rooms", "must be a list"),
    ('rooms = ["Pitch 12"]\n', "rooms", "array of tables"),
])
def test_a_bad_site_file_names_the_file_and_the_key(tmp_path, text, key, words):
    path, message = site_error(tmp_path, text)
    assert message.startswith(path + ": ")
    assert key in message
    assert words in message


def test_a_site_file_that_is_not_toml_is_refused(tmp_path):
    path, message = site_error(tmp_path, "[[rooms]\nname = \n")
    assert message.startswith(path + ": not valid TOML")


def test_a_missing_site_file_is_refused(tmp_path):
    path = tmp_path / "nowhere.toml"
    with pytest.raises(SiteError) as info:
        load_site(path)
    assert str(info.value).startswith(str(path) + ": cannot read the site file")


def test_a_phone_that_is_not_text_names_the_file_and_the_key(tmp_path):
    path, message = site_error(tmp_path, "[justin]\nphones = [31612345678]\n")
    assert message.startswith(path + ": ")
    assert "phones" in message


def test_an_empty_site_file_is_an_empty_site(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text("")
    site = load_site(path)
    assert site.rooms == {}
    assert site.encoders == {}
    assert site.options.max_copies == 10


# -- fault knobs -------------------------------------------------------------------------


def test_an_unknown_fault_knob_is_refused_by_name():
    with pytest.raises(FaultError) as info:
        Faults().update(nak_frame=1)
    assert "'nak_frame'" in str(info.value)
    assert "nak_frames" in str(info.value)  # the known knobs are listed


@pytest.mark.parametrize(("knob", "value", "words"), [
    ("nak_frames", "2", "takes a number"),
    ("nak_frames", 1.5, "whole number"),
    ("corrupt_lrc", -1, "cannot be negative"),
    ("ack_delay_s", True, "takes a number"),
    ("split_writes", 1, "true or false"),
    ("silent", "yes", "true or false"),
    ("garbage", "xyz", "hex digits"),
    ("garbage", 12, "hex digits"),
])
def test_a_fault_knob_of_the_wrong_type_is_refused_by_name(knob, value, words):
    with pytest.raises(FaultError) as info:
        Faults().update(**{knob: value})
    assert repr(knob) in str(info.value)
    assert words in str(info.value)


def test_a_refused_update_changes_no_knob():
    faults = Faults()
    with pytest.raises(FaultError):
        faults.update(nak_frames=2, silent="yes")
    assert faults == Faults()


def test_garbage_is_given_as_hex():
    faults = Faults()
    faults.update(garbage="ff00 15")
    assert faults.garbage == b"\xff\x00\x15"
    assert faults.as_dict()["garbage"] == "ff0015"


def test_whole_seconds_are_taken_as_seconds():
    faults = Faults()
    faults.update(reply_delay_s=2, nak_frames=3.0)
    assert faults.reply_delay_s == 2.0
    assert faults.nak_frames == 3
    assert type(faults.nak_frames) is int


def test_faults_as_data_and_cleared():
    faults = Faults()
    faults.update(nak_frames=2, split_writes=True, garbage="ff")
    assert faults.as_dict() == {
        "ack_delay_s": 0.0, "reply_delay_s": 0.0, "nak_frames": 2, "corrupt_lrc": 0,
        "split_writes": True, "garbage": "ff", "drop_mid_frame": 0, "silent": False,
        "refuse_connections": False}
    faults.clear()
    assert faults == Faults()


# -- the control channel ------------------------------------------------------------------


async def ask(address, **request):
    return await send(address, json.dumps(request))


async def session(address, *lines):
    """Send every line on one connection; return the answers."""
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    answers = []
    try:
        for line in lines:
            writer.write(line.encode() + b"\n")
            await writer.drain()
            answers.append(json.loads(await reader.readline()))
    finally:
        writer.close()
        await writer.wait_closed()
    return answers


async def test_the_state_shows_the_site(control):
    answer = await ask(control, op="state")
    assert answer["ok"] is True
    state = answer["state"]
    assert state["clock"] == "2026-07-01T15:00"
    assert state["rooms"]["Chalet 7"]["out_of_service"] is True
    assert state["encoders"]["Back Office"]["online"] is False
    assert state["encoders"][ENC1]["card"]["kind"] == "blank"
    assert state["doors"]["Barrier"] == []


async def test_faults_are_set_and_cleared(control, space):
    answer = await ask(control, op="faults", set={"nak_frames": 2, "garbage": "ff00"})
    assert answer["ok"] is True
    assert (answer["faults"]["nak_frames"], answer["faults"]["garbage"]) == (2, "ff00")
    assert space.faults.nak_frames == 2
    answer = await ask(control, op="faults", clear=True)
    assert answer["faults"] == Faults().as_dict()
    assert space.faults == Faults()


async def test_refused_frames_set_by_control_are_used_up_by_the_link(control, desk, space):
    await ask(control, op="faults", set={"nak_frames": 1})
    assert (await desk.read(ENC1)).kind == "unidentified"  # the client sent it again
    assert (await ask(control, op="state"))["state"]["faults"]["nak_frames"] == 0


async def test_a_card_is_placed_and_removed(control, space):
    answer = await ask(control, op="card", encoder=ENC2, kind="staff", holder="Anna")
    assert answer == {"ok": True}
    card = space.card_on(ENC2.encode())
    assert (card.kind, card.holder) == ("staff", b"Anna")
    await ask(control, op="card", encoder=ENC2, remove=True)
    assert space.card_on(ENC2.encode()) is None


async def test_a_written_card_is_placed_by_serial(control, desk):
    done = await desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE)
    answer = await ask(control, op="card", encoder=ENC2, serial=done.serials[0])
    assert answer["ok"] is True
    card = await desk.read(ENC2)
    assert (card.rooms, card.valid) == (("Pitch 12",), True)


async def test_an_encoder_is_switched_off(control, desk, space):
    assert (await ask(control, op="encoder", encoder=ENC1, set={"online": False}))["ok"]
    with pytest.raises(errors.EncoderOffline):
        await desk.read(ENC1)
    assert space.state()["encoders"][ENC1]["online"] is False


async def test_a_room_is_taken_out_of_service(control, desk):
    assert (await ask(control, op="room", room="Pitch 14", set={"out_of_service": True}))["ok"]
    with pytest.raises(errors.RoomOutOfService):
        await desk.encode(ENC1, ["Pitch 14"], ARRIVAL, DEPARTURE)


async def test_a_door_opened_by_control_answers_the_incident(control, desk):
    done = await desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE)
    answer = await ask(control, op="door", door="Pitch 12", serial=done.serials[0])
    assert answer == {"ok": True, "incident": "0"}
    answer = await ask(control, op="door", door="Barrier", serial=done.serials[0])
    assert answer == {"ok": True, "incident": "3"}
    answer = await ask(control, op="door", door="Barrier", staff="Maintenance")
    assert answer == {"ok": True, "incident": "0"}
    assert [e.incident for e in await desk.audit("Barrier")] == ["opened", "access denied"]


async def test_a_phone_registered_by_control_gets_mobile_keys(control, desk, space):
    assert (await ask(control, op="phone", phone="+4915112345678"))["ok"]
    await desk.mobile("+4915112345678", ["Chalet 3"], ARRIVAL, DEPARTURE)
    assert space.open_door(b"Chalet 3", phone=b"+4915112345678") == b"0"


async def test_the_clock_is_set_and_advanced(control, space):
    answer = await ask(control, op="clock", set="2026-07-03T10:00")
    assert answer == {"ok": True, "clock": "2026-07-03T10:00"}
    answer = await ask(control, op="clock", advance_s=5400)
    assert answer == {"ok": True, "clock": "2026-07-03T11:30"}
    assert space.clock.now() == datetime.datetime(2026, 7, 3, 11, 30)


@pytest.mark.parametrize(("line", "words"), [
    ("not json", "Expecting value"),
    ("[1, 2]", "a request is a JSON object"),
    ('{"op": "dance"}', "unknown op 'dance'; ops: card, clock, door"),
    ('{"op": "card"}', "'encoder' is required"),
    ('{"op": "card", "encoder": ""}', "'encoder' is required"),
    ('{"op": "card", "encoder": "Encoder 9"}', "no encoder named 'Encoder 9'"),
    ('{"op": "card", "encoder": "Online Encoder 1", "kind": "gold"}', "card kind must be"),
    ('{"op": "card", "encoder": "Online Encoder 1", "serial": "DEADBEEF"}',
     "no card with serial 'DEADBEEF'"),
    ('{"op": "encoder", "encoder": "Online Encoder 1", "set": {"colour": 1}}',
     "encoder setting 'colour'"),
    ('{"op": "room", "room": "Pitch 99", "set": {}}', "no room named 'Pitch 99'"),
    ('{"op": "room", "room": "Pitch 12", "set": {"dirty": true}}', "room setting 'dirty'"),
    ('{"op": "faults", "set": {"nak_frame": 1}}', "unknown fault knob 'nak_frame'"),
    ('{"op": "faults", "set": {"silent": "yes"}}', "'silent' takes true or false"),
    ('{"op": "door", "door": "Sauna"}', "no door named 'Sauna'"),
    ('{"op": "door", "door": "Barrier", "staff": "Nobody"}', "no staff card for 'Nobody'"),
    ('{"op": "clock", "set": "tomorrow"}', "tomorrow"),
    ('{"op": "clock", "advance_s": "soon"}', "soon"),
])
async def test_a_bad_request_is_answered_and_the_channel_goes_on(control, line, words):
    bad, good = await session(control, line, '{"op": "state"}')
    assert bad["ok"] is False
    assert words in bad["error"]
    assert good["ok"] is True


async def test_a_bad_knob_changes_nothing(control, space):
    answer = await ask(control, op="faults", set={"nak_frames": 2, "silent": 1})
    assert answer["ok"] is False
    assert space.faults == Faults()


# -- the simulated clock ---------------------------------------------------------------------


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


START = datetime.datetime(2026, 7, 1, 9, 0)
MINUTE = datetime.timedelta(minutes=1)


def test_a_stopped_clock_does_not_move():
    ticks = Ticks()
    clock = SimClock(START, running=False, monotonic=ticks)
    ticks.now += 3600
    assert clock.now() == START


def test_a_running_clock_moves_with_real_time():
    ticks = Ticks()
    clock = SimClock(START, monotonic=ticks)
    ticks.now += 90
    assert clock.now() == START + 90 * datetime.timedelta(seconds=1)


def test_a_clock_set_runs_on_from_the_new_time():
    ticks = Ticks()
    clock = SimClock(START, monotonic=ticks)
    ticks.now += 600
    clock.set(DEPARTURE)
    assert clock.now() == DEPARTURE
    ticks.now += 60
    assert clock.now() == DEPARTURE + MINUTE


def test_a_stopped_clock_is_advanced_by_hand():
    clock = SimClock(START, running=False, monotonic=Ticks())
    clock.advance(3 * 86400)
    assert clock.now() == START + datetime.timedelta(days=3)
    clock.set(ARRIVAL)
    assert clock.now() == ARRIVAL


def test_a_frozen_clock_resumes_where_it_stopped():
    ticks = Ticks()
    clock = SimClock(START, monotonic=ticks)
    ticks.now += 60
    clock.freeze()
    ticks.now += 3600
    assert clock.now() == START + MINUTE
    clock.resume()
    assert clock.now() == START + MINUTE
    ticks.now += 60
    assert clock.now() == START + 2 * MINUTE


def test_a_clock_without_a_start_begins_on_a_whole_minute():
    now = SimClock(running=False).now()
    assert (now.second, now.microsecond) == (0, 0)
