"""Door events when a walk cannot go as usual: Space down, a door Space does not know, an
incident code the notes do not list, more new records than one walk takes, and a trail
cleared in Space. What a technician reads in the log and what the PMS receives.

The real simulator on TCP, the real client and a real SQLite store; the trail is set in the
simulator's state, the clock the appliance reads is injected.
"""

import datetime
import logging
import sys
import zoneinfo
from pathlib import Path

from test_space_door_events import BARRIER, Clock, door_events, poller

from _spacesim import make_space

MQTT_TESTS = str(Path(__file__).resolve().parents[1] / "mqtt")
if MQTT_TESTS not in sys.path:
    sys.path.insert(0, MQTT_TESTS)

from _asyncapi import validate_published  # noqa: E402

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")
NOW = datetime.datetime(2026, 7, 1, 15, 0, tzinfo=AMS)
LOGGER = "keybridge.space.events"


def record(time: str, incident: str = "0", card: str = "Pitch 12") -> list[bytes]:
    """An audit record of 1 July as the simulator keeps it (Space's fields, §4.3)."""
    return [b"01/07", time.encode(), incident.encode(), b"I", card.encode(), b"#0", b""]


async def started(trail: list[list[bytes]] | None = None, **faults: bool):
    space = make_space()
    space.site.doors[BARRIER].trail = trail or []
    space.faults.update(**faults)
    await space.start_tcp("127.0.0.1", 0)
    return space


def logged(caplog, level: int = logging.WARNING) -> str:
    return "\n".join(r.getMessage() for r in caplog.records
                     if r.name == LOGGER and r.levelno >= level)


# -- what the log says -------------------------------------------------------------------

async def test_space_down_gives_no_door_name_hint(store, caplog) -> None:
    space = await started(refuse_connections=True)
    try:
        events, backend = await poller(space, store, Clock(NOW))
        with caplog.at_level(logging.DEBUG, logger=LOGGER):
            await events.poll_or_log("Barrier")
        await backend.close()
    finally:
        await space.close()
    assert logged(caplog) == ""  # the link status reports Space down, not the poller
    assert "door 'Barrier' not polled, Space is not reachable" in logged(caplog, logging.INFO)
    assert "audit_doors" not in caplog.text
    assert door_events(store) == []


async def test_a_door_space_does_not_know_is_named_with_its_key(store, caplog) -> None:
    space = await started()
    try:
        events, backend = await poller(space, store, Clock(NOW), doors=("Barrier", "Gate"))
        with caplog.at_level(logging.INFO, logger=LOGGER):
            await events.poll_or_log("Gate")
        await backend.close()
    finally:
        await space.close()
    warning = logged(caplog)
    for words in ("door 'Gate'", "[space] audit_doors", "Space's door names", "unknown door"):
        assert words in warning, warning


# -- what the PMS receives ---------------------------------------------------------------

async def test_an_unknown_incident_code_publishes_a_valid_door_event(store) -> None:
    space = await started([record("14:59", incident="7")])
    try:
        events, backend = await poller(space, store, Clock(NOW))
        assert await events.poll("Barrier") == 1
        await backend.close()
    finally:
        await space.close()
    [event] = door_events(store)
    validate_published("event/door_event", event)
    assert (event["incident"], event["granted"], event["category"], event["detail"]) == (
        "7", False, "unknown", "incident_7")


async def test_unlisted_direction_and_copy_codes_stop_no_walk(store) -> None:
    """A code §4.3 does not list, in the record's direction or copy field, is passed on as
    written: refusing the record would stop every later walk of the door at it."""
    odd = [b"01/07", b"14:58", b"0", b"X", b"Pitch 12", b"#3", b""]
    space = await started([record("14:59"), odd, record("14:57")])
    try:
        events, backend = await poller(space, store, Clock(NOW))
        assert await events.poll("Barrier") == 3
        await backend.close()
    finally:
        await space.close()
    middle = door_events(store)[1]
    validate_published("event/door_event", middle)
    assert (middle["copy"], middle["direction"], middle["granted"]) == ("#3", None, True)


async def test_a_walk_cut_short_names_the_door_and_reports_the_newest(store, caplog) -> None:
    space = await started([record("14:30", card="STAFF")])
    try:
        events, backend = await poller(space, store, Clock(NOW))
        assert await events.poll("Barrier") == 1
        trail = space.site.doors[BARRIER].trail
        trail[:0] = [record("14:%02d" % minute) for minute in range(47, 39, -1)]  # eight
        events.max_walk = 5
        with caplog.at_level(logging.INFO, logger=LOGGER):
            assert await events.poll("Barrier") == 5
        assert await events.poll("Barrier") == 0  # the three older ones stay skipped
        await backend.close()
    finally:
        await space.close()
    warning = logged(caplog)
    assert "door 'Barrier' has more than 5 new records" in warning, warning
    assert "cleared" not in warning  # the last records seen were not reached, not gone
    assert [e["at"][11:16] for e in door_events(store)] == [
        "14:30", "14:43", "14:44", "14:45", "14:46", "14:47"]


async def test_a_cleared_trail_reports_what_came_after_a_clock_set_back(store,
                                                                        caplog) -> None:
    space = await started([record("15:00"), record("14:00", card="STAFF")])
    clock = Clock(NOW)
    try:
        events, backend = await poller(space, store, clock)
        assert await events.poll("Barrier") == 2
        # Space's trail cleared and refilled: the last record delivered is kept, the one
        # before it is gone, Space's clock was set back an hour (14:10 came after 15:00),
        # and a record older than two hours before the last delivered turns up.
        space.site.doors[BARRIER].trail = [record("14:10", incident="3"), record("15:00"),
                                           record("12:00", card="STAFF")]
        clock.now = NOW + datetime.timedelta(minutes=10)
        with caplog.at_level(logging.INFO, logger=LOGGER):
            assert await events.poll("Barrier") == 1
        assert await events.poll("Barrier") == 0
        await backend.close()
    finally:
        await space.close()
    assert "door 'Barrier' no longer holds the records last seen" in logged(caplog)
    found = door_events(store)
    assert [(e["at"][11:16], e["incident"]) for e in found] == [
        ("14:00", "0"), ("15:00", "0"), ("14:10", "3")]
