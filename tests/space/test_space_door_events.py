"""Door events from Space's audit trails: desk requests go before the walk, the year Space
leaves out is inferred, the site's date order is honoured, and a walk resumes where the last
one stopped, through a restart, without losing or repeating a record.

The real simulator on TCP, the real client and a real SQLite store; the clock the appliance
reads is injected, Space's is the simulator's own.
"""

import asyncio
import datetime
import json
import zoneinfo

import pytest

from appliance.errors import ConfigError
from appliance.registry import parse_config
from appliance.space import SpaceClient, SpaceCommands
from appliance.space import plugin as space_plugin
from appliance.space.backend import SpaceBackend
from appliance.space.doorevents import SpaceDoorEvents
from appliance.space.trail import Line, wall_time
from appliance.store.db import Store

from _spacesim import ARRIVAL, DEPARTURE, ENC1, ENC2, address, make_space, settings_for

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")
BARRIER = b"Barrier"


def line(date: str, time: str = "10:00") -> Line:
    return Line(date, time, "0", "I", "Pitch 12", "#0", "")


def at(date: str, time: str, order: str, now: datetime.datetime) -> str | None:
    moment = wall_time(line(date, time), order, now)
    return None if moment is None else moment.isoformat()


# -- the year and the date order ---------------------------------------------------------

def test_a_december_record_read_in_january_is_last_years() -> None:
    new_year = datetime.datetime(2027, 1, 1, 0, 10, tzinfo=AMS)
    assert at("31/12", "23:55", "dd/mm", new_year) == "2026-12-31T23:55:00+01:00"
    assert at("01/01", "00:05", "dd/mm", new_year) == "2027-01-01T00:05:00+01:00"
    assert at("12/31", "23:55", "mm/dd", new_year) == "2026-12-31T23:55:00+01:00"


def test_the_date_order_decides_day_and_month() -> None:
    summer = datetime.datetime(2026, 7, 1, 12, 0, tzinfo=AMS)
    assert at("05/03", "09:30", "dd/mm", summer) == "2026-03-05T09:30:00+01:00"
    assert at("05/03", "09:30", "mm/dd", summer) == "2026-05-03T09:30:00+02:00"
    assert at("13/05", "09:30", "mm/dd", summer) is None  # no 13th month: no date


def test_a_leap_day_goes_back_to_the_last_leap_year() -> None:
    march = datetime.datetime(2029, 3, 1, 8, 0, tzinfo=AMS)
    assert at("29/02", "18:00", "dd/mm", march) == "2028-02-29T18:00:00+01:00"


def test_a_record_a_little_ahead_of_our_clock_is_still_this_year() -> None:
    # Space's clock runs some minutes ahead of the Pi's: not a record from last year.
    evening = datetime.datetime(2026, 12, 31, 23, 50, tzinfo=AMS)
    assert at("31/12", "23:58", "dd/mm", evening) == "2026-12-31T23:58:00+01:00"


# -- the desk goes first -----------------------------------------------------------------

async def test_a_desk_request_goes_before_the_rest_of_a_long_audit_walk() -> None:
    space = make_space()
    encoder = space.site.encoders[ENC1.encode()]
    encoder.card_after_s, encoder.card_timeout_s = 0.3, 5.0  # the link is busy meanwhile
    space.site.doors[BARRIER].trail = [
        [b"01/07", b"%02d:%02d" % divmod(minute, 60), b"0", b"I", b"Pitch 12", b"#0", b""]
        for minute in range(599, 399, -1)]
    await space.start_tcp("127.0.0.1", 0)
    done: list[str] = []
    try:
        async with SpaceClient(settings_for(space)) as client:
            desk = SpaceCommands(client)

            async def cut(encoder: str, name: str) -> None:
                await desk.encode(encoder, ["Pitch 12"], ARRIVAL, DEPARTURE)
                done.append(name)

            async def walk() -> None:
                async for _record in desk.walk("Barrier", background=True):
                    done.append("record")
                done.append("walk ended")

            await asyncio.gather(cut(ENC1, "first card"), walk(), cut(ENC2, "second card"))
    finally:
        await space.close()
    # The second card was asked for after the walk began, and still went first.
    assert done[:2] == ["first card", "second card"]
    assert done.count("record") == 200 and done[-1] == "walk ended"


# -- resuming a walk, across New Year and a restart -----------------------------------------

def door_events(store: Store) -> list[dict]:
    with store.transaction() as tx:
        return [json.loads(item.payload) for item in tx.outbox.pending(0, 1000)]


class Clock:
    def __init__(self, now: datetime.datetime) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now


async def poller(space, store: Store, clock: Clock,
                 doors: tuple[str, ...] = ("Barrier",)) -> tuple[SpaceDoorEvents, SpaceBackend]:
    config = parse_config({
        "site": {"id": "vliet", "timezone": "Europe/Amsterdam"},
        "mqtt": {"host": "127.0.0.1"},
        "store": {"path": "kb.db"},
        "space": {"server": address(space), "audit_doors": list(doors), "probe_interval_s": 0,
                  "connect_budget_s": 2},
        "units": {"P12": "Pitch 12"}}, "test.toml")
    backend = SpaceBackend(config)
    await backend.start()
    return SpaceDoorEvents(backend, store, "keybridge/vliet", lambda: None, now=clock), backend


async def test_door_events_resume_across_new_year_and_a_restart(store) -> None:
    space = make_space()
    await space.start_tcp("127.0.0.1", 0)
    clock = Clock(datetime.datetime(2026, 12, 31, 23, 58, tzinfo=AMS))
    space.clock.set(datetime.datetime(2026, 12, 31, 23, 58))
    serial = (await _cut(space)).serials[0].encode()
    try:
        events, backend = await poller(space, store, clock)
        space.open_door(BARRIER, staff=b"Maintenance")
        space.open_door(BARRIER, staff=b"Maintenance")  # twice in one minute: two events
        assert await events.poll("Barrier") == 2
        assert await events.poll("Barrier") == 0
        space.open_door(BARRIER, staff=b"Maintenance")  # a third, the same minute still
        space.clock.set(datetime.datetime(2027, 1, 1, 0, 5))
        space.open_door(b"Swimming pool", serial=serial)  # not a door polled
        clock.now = datetime.datetime(2027, 1, 1, 0, 6, tzinfo=AMS)
        assert space.open_door(BARRIER, serial=serial) == b"3"
        assert await events.poll("Barrier") == 2
        await backend.close()
        events, backend = await poller(space, store, clock)  # a restart: a new poller
        assert await events.poll("Barrier") == 0
        await backend.close()
    finally:
        await space.close()
    found = door_events(store)
    assert [(e["at"], e["granted"], e["access_by"]) for e in found] == [
        ("2026-12-31T23:58:00+01:00", True, "staff_card"),
        ("2026-12-31T23:58:00+01:00", True, "staff_card"),
        ("2026-12-31T23:58:00+01:00", True, "staff_card"),
        ("2027-01-01T00:05:00+01:00", False, "key")]
    denied = found[-1]
    assert (denied["category"], denied["detail"], denied["incident"]) == (
        "rejected", "access_denied", "3")
    assert (denied["backend"], denied["door"], denied["room"]) == ("space", "Barrier",
                                                                  "Pitch 12")
    assert denied["booking_id"] is None and denied["key_id"] is None  # no key in the store
    assert len({e["event_id"] for e in found}) == 4  # alike records are still four events
    assert "Maintenance" not in json.dumps(found)  # the staff member's name stays in Space


async def test_a_first_poll_reports_the_last_hour_not_the_whole_history(store) -> None:
    space = make_space()
    await space.start_tcp("127.0.0.1", 0)
    clock = Clock(datetime.datetime(2026, 7, 1, 15, 0, tzinfo=AMS))
    try:
        for hour in (9, 12, 14, 15):
            space.clock.set(datetime.datetime(2026, 7, 1, hour, 0))
            space.open_door(BARRIER, staff=b"Maintenance")
        events, backend = await poller(space, store, clock)
        assert await events.poll("Barrier") == 2
        await backend.close()
    finally:
        await space.close()
    assert [e["at"][11:16] for e in door_events(store)] == ["14:00", "15:00"]


async def _cut(space):
    async with SpaceClient(settings_for(space)) as client:
        return await SpaceCommands(client).encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE)


# -- configuration -------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "words"), [
    ({"audit_date_order": "yy/mm"}, ['[space] audit_date_order: write "dd/mm" or "mm/dd"']),
    ({"audit_doors": "Barrier"}, ["[space] audit_doors: must be a list of names", "e.g. ["]),
    ({"audit_doors": ["Bar|rier"]}, ["[space] audit_doors: must be a list of names"]),
    ({"door_events_poll_s": -1}, ["[space] door_events_poll_s: cannot be negative"]),
])
def test_a_bad_door_event_setting_names_its_key_and_the_fix(value, words) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"site": {"id": "vliet", "timezone": "Europe/Amsterdam"},
                      "mqtt": {"host": "127.0.0.1"}, "store": {"path": "kb.db"},
                      "space": {"server": "127.0.0.1:8090", **value}}, "site.toml")
    [problem] = caught.value.problems
    assert problem.startswith("site.toml: ")
    for word in words:
        assert word in problem


def test_each_administration_with_doors_gets_its_own_poller(store) -> None:
    def tasks(north: dict) -> list[str]:
        config = parse_config({
            "site": {"id": "vliet", "timezone": "Europe/Amsterdam"},
            "mqtt": {"host": "127.0.0.1"}, "store": {"path": "kb.db"},
            "space": {"server": "127.0.0.1:8090", "audit_doors": ["Barrier"],
                      "administrations": {"north": {"server": "10.0.0.5:8090", **north}}}},
            "site.toml")
        backends = space_plugin.PLUGIN.build(config, lambda: None)
        found = space_plugin.PLUGIN.tasks(config, backends, store, lambda: None)
        for task in found.values():
            task.close()  # never started: only which pollers there are matters
        return sorted(found)

    # [space]'s doors need not be on another server: an administration lists its own.
    assert tasks({}) == ["space-events"]
    assert tasks({"audit_doors": ["North gate"]}) == ["space-events", "space:north-events"]
    assert tasks({"audit_doors": ["North gate"], "door_events_poll_s": 0}) == ["space-events"]
