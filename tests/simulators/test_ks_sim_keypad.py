"""The KS simulator's door: keypad decisions, propagation delays, entries with
continuation, incidents, and the simulated clock.

A stay here is Model B of the notes (§3.5): one group per booking with a continuous
check-in..check-out window in the schedule's start/end dates, site-local wall time.
The clock is frozen, so nothing depends on when the test runs.
"""

import datetime
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from simulators.ks import KsServer, defaults

import _ks

NOW = datetime.datetime(2026, 11, 20, 9, 0, tzinfo=datetime.UTC)  # a Friday, 10:00 local
STAY = _ks.ALWAYS | {"start_date": "2026-11-21T15:00:00", "end_date": "2026-11-24T10:00:00"}
INSIDE = "2026-11-22T20:00:00"  # site-local, naive
ENTRY_FIELDS = {
    "id", "event_category", "event_detail", "utc_date_time", "local_date_time", "lock_id",
    "lock_mac_address", "lock_customer_reference", "user_id", "user_first_name",
    "user_last_name", "user_image_url", "user_alias", "iq_id", "iq_customer_reference",
    "iq_mac_address", "iq_revision", "exit_requested", "access_by", "access_detail",
    "ttl_in_seconds", "expiration_date_time"}


@pytest.fixture
def server() -> Iterator[KsServer]:
    with KsServer() as server:
        server.cloud.clock.set(NOW, frozen=True)
        yield server


@pytest.fixture
def stay(api: Any) -> dict[str, Any]:
    """A booked guest on Pitch 12: {"guest", "group", "pin"}."""
    guest = api.guest("BK-100", expires_at="2026-11-24T12:00:00Z")
    group = api.group("BK-100", schedule=STAY)
    api.join(group, guest)
    return {"guest": guest, "group": group, "pin": api.pin(guest)}


def _press(server: KsServer, pin: str, at: str | None = INSIDE, lock: str = "Pitch 12"
           ) -> dict[str, Any]:
    return server.cloud.keypad(lock, pin, at)


def test_the_pin_opens_inside_the_stay_only(server: KsServer, stay: dict[str, Any]) -> None:
    opened = _press(server, stay["pin"])
    assert opened["opened"] is True and opened["reason"] == "opened"
    entry = opened["entry"]
    assert set(entry) == ENTRY_FIELDS
    assert (entry["event_category"], entry["event_detail"], entry["access_by"]) == (
        "lock_opened", None, "pin_code")
    assert entry["user_id"] == stay["guest"]["user"]["id"] and entry["user_alias"] == "BK-100"
    assert (entry["local_date_time"], entry["utc_date_time"]) == ("2026-11-22T20:00:00",
                                                                  "2026-11-22T19:00:00Z")
    assert entry["ttl_in_seconds"] == 7_776_000
    for before_or_after in ("2026-11-21T14:59:00", "2026-11-24T10:01:00"):
        refused = _press(server, stay["pin"], before_or_after)
        assert (refused["opened"], refused["event_detail"], refused["reason"]) == (
            False, None, "outside_schedule")
    assert _press(server, stay["pin"], lock="Pitch 14")["event_detail"] == "no_access"


def test_an_instant_with_offset_is_judged_in_site_time(server: KsServer,
                                                       stay: dict[str, Any]) -> None:
    assert _press(server, stay["pin"], "2026-11-21T14:30:00Z")["opened"] is True  # 15:30 CET
    assert _press(server, stay["pin"], "2026-11-21T13:30:00Z")["opened"] is False


def test_an_unknown_pin_is_no_access_with_the_sentinel_user(server: KsServer,
                                                            stay: dict[str, Any]) -> None:
    other = "000000" if stay["pin"] != "000000" else "000001"
    entry = _press(server, other)["entry"]
    assert (entry["event_category"], entry["event_detail"]) == ("lock_rejected", "no_access")
    assert entry["user_id"] == defaults.NO_ACCESS_USER_ID and entry["user_alias"] is None


def test_a_suspended_guest_is_refused_as_suspended(server: KsServer, api: Any,
                                                   stay: dict[str, Any]) -> None:
    api.patch("sites/{site}/users/%s/subscription" % stay["guest"]["id"],
              {"state": "suspended"})
    refused = _press(server, stay["pin"])
    assert (refused["opened"], refused["event_detail"]) == (False, "suspended")
    assert refused["entry"]["user_alias"] is None


@pytest.mark.parametrize(("change", "reason"), [
    ({"use_pin": False}, "use_pin_false"), ({"blocked": True}, "blocked"),
    ({"expires_at": "2026-11-22T18:00:00Z"}, "expired")])
def test_a_known_user_refused_by_the_lock_has_no_event_detail(
        server: KsServer, api: Any, stay: dict[str, Any], change: dict[str, Any],
        reason: str) -> None:
    api.patch("sites/{site}/users/%s" % stay["guest"]["id"], change)
    refused = _press(server, stay["pin"])
    assert (refused["opened"], refused["event_detail"], refused["reason"]) == (
        False, None, reason)
    assert refused["entry"]["user_alias"] == "BK-100"


def test_expires_at_enforcement_is_a_knob(server: KsServer, api: Any,
                                          stay: dict[str, Any]) -> None:
    api.patch("sites/{site}/users/%s" % stay["guest"]["id"],
              {"expires_at": "2026-11-22T18:59:59Z"})
    assert _press(server, stay["pin"])["reason"] == "expired"  # 19:00Z
    assert _press(server, stay["pin"], "2026-11-22T19:59:58")["opened"] is True
    server.cloud.knobs.update(enforce_expires_at=False)
    assert _press(server, stay["pin"])["opened"] is True


def test_not_a_member_or_no_schedule_means_the_lock_does_not_know_the_pin(
        server: KsServer, api: Any) -> None:
    guest = api.guest("BK-101")
    pin = api.pin(guest)
    assert _press(server, pin)["event_detail"] == "no_access"  # in no group
    group = api.group("BK-101", schedule=None)
    api.join(group, guest)
    refused = _press(server, pin)
    assert (refused["event_detail"], refused["reason"]) == ("no_access", "not_at_lock")
    assert refused["entry"]["user_id"] == defaults.NO_ACCESS_USER_ID
    api.post("sites/{site}/access_groups/%s/time_schedules" % group, _ks.ALWAYS,
             version="v1.1")
    assert _press(server, pin)["opened"] is True


@pytest.mark.parametrize("offline", ["online", "iq_online"])
def test_an_offline_lock_or_iq_decides_nothing_and_writes_no_entry(
        server: KsServer, stay: dict[str, Any], offline: str) -> None:
    server.cloud.set_lock("Pitch 12", **{offline: False})
    answer = _press(server, stay["pin"])
    assert (answer["opened"], answer["event_detail"], answer["entry"]) == (False, "offline",
                                                                           None)
    assert server.cloud.state()["entries"] == 0


def test_member_propagation_delays_a_new_member(server: KsServer, api: Any) -> None:
    server.cloud.knobs.update(member_propagation_s=45)
    group = api.group("scheduled")  # always, on Pitch 12
    guest = api.guest("BK-102")
    api.join(group, guest)
    pin = api.pin(guest)
    assert _press(server, pin, at=None)["event_detail"] == "no_access"
    server.cloud.clock.advance(45)
    assert _press(server, pin, at=None)["opened"] is True


def test_schedule_propagation_delays_new_schedules_and_changes(server: KsServer,
                                                               api: Any) -> None:
    server.cloud.knobs.update(schedule_propagation_s=210)
    guest = api.guest("BK-103")
    group = api.group("BK-103", schedule=_ks.ALWAYS | {"start_time": "08:00:00",
                                                      "end_time": "12:00:00"})
    api.join(group, guest)
    pin = api.pin(guest)
    assert _press(server, pin, at=None)["reason"] == "not_at_lock"  # 10:00 local
    server.cloud.clock.advance(210)
    assert _press(server, pin, at=None)["opened"] is True
    (schedule,) = api.get("sites/{site}/access_groups/%s/time_schedules" % group,
                          version="v1.1").json()["items"]
    api.patch("sites/{site}/access_groups/%s/time_schedules/%s" % (group, schedule["id"]),
              {"start_time": "14:00:00", "end_time": "18:00:00"}, version="v1.1")
    assert _press(server, pin, at=None)["opened"] is True  # the lock still has 08-12
    server.cloud.clock.advance(210)
    assert _press(server, pin, at=None)["reason"] == "outside_schedule"  # 14-18 arrived


def test_a_daily_window_and_weekdays(server: KsServer, api: Any) -> None:
    weekdays = dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday"), True)
    guest = api.guest("staff")
    group = api.group("weekdays", schedule=weekdays | {"start_time": "07:00:00",
                                                       "end_time": "17:00:00"})
    api.join(group, guest)
    pin = api.pin(guest)
    assert _press(server, pin, "2026-11-20T16:59:59")["opened"] is True  # Friday
    assert _press(server, pin, "2026-11-20T17:00:59")["opened"] is True  # end_time :59
    assert _press(server, pin, "2026-11-20T17:01:00")["opened"] is False
    assert _press(server, pin, "2026-11-21T12:00:00")["opened"] is False  # Saturday


# -- entries -------------------------------------------------------------------------------

def _entries(api: Any, token: str | None = None, **params: str) -> httpx2.Response:
    headers = {"CLP-Continuation-Token": token} if token else {}
    return api.get("sites/{site}/entries", version="v1.1", params=params, headers=headers)


def test_entries_page_newest_first_with_a_continuation_token(server: KsServer, api: Any,
                                                             stay: dict[str, Any]) -> None:
    for hour in range(10, 15):
        _press(server, stay["pin"], "2026-11-22T%02d:00:00" % hour)
    first = _entries(api, **{"$top": "2", "$orderby": "utc_date_time desc"}).json()
    assert [e["local_date_time"][11:13] for e in first["items"]] == ["14", "13"]
    _press(server, stay["pin"], "2026-11-22T23:00:00")  # arrives between two page reads
    second = _entries(api, first["continuation_token"], **{"$top": "2"}).json()
    assert [e["local_date_time"][11:13] for e in second["items"]] == ["12", "11"]
    third = api.get("sites/{site}/entries", version="v1.1", params={
        "$top": "2", "continuation_token": second["continuation_token"]}).json()
    assert [e["local_date_time"][11:13] for e in third["items"]] == ["10"]
    assert third["continuation_token"] is None
    assert _entries(api, "garbage").status_code == 400


def test_entries_filter_by_time_lock_and_user(server: KsServer, api: Any,
                                              stay: dict[str, Any]) -> None:
    _press(server, stay["pin"], "2026-11-22T10:00:00")
    _press(server, stay["pin"], "2026-11-22T12:00:00")
    _press(server, "999999" if stay["pin"] != "999999" else "999998", "2026-11-22T12:30:00",
           lock="Chalet 3")
    since = _entries(api, **{"$filter": "utc_date_time ge DateTime'2026-11-22T10:30:00Z'"})
    assert [e["local_date_time"] for e in since.json()["items"]] == [
        "2026-11-22T12:30:00", "2026-11-22T12:00:00"]
    window = "utc_date_time ge DateTime'2026-11-22T08:00:00Z' and " \
             "utc_date_time le DateTime'2026-11-22T10:00:00Z'"
    assert len(_entries(api, **{"$filter": window}).json()["items"]) == 1
    by_lock = "lock_id eq '%s'" % defaults.lock_id("Chalet 3")
    assert [e["event_detail"] for e in _entries(api, **{"$filter": by_lock}).json()[
        "items"]] == ["no_access"]
    by_user = "user_id eq '%s'" % stay["guest"]["user"]["id"]
    assert len(_entries(api, **{"$filter": by_user}).json()["items"]) == 2


# -- incidents -----------------------------------------------------------------------------

def test_a_low_battery_incident_is_listed_and_lowers_the_battery(server: KsServer,
                                                                 api: Any) -> None:
    answer = api.http.post("/_sim/incident", json={"lock": "Chalet 7",
                                                   "type": "low_battery_warning"})
    assert answer.status_code == 200 and answer.json()["type"] == "low_battery_warning"
    lock = api.get("sites/{site}/locks/%s" % defaults.lock_id("Chalet 7")).json()
    assert lock["battery_level"] == "low"
    api.http.post("/_sim/incident", json={"lock": "Main gate", "type": "door_left_open_alarm"})
    listed = api.get("sites/{site}/incidents", version="v1.1").json()
    assert [i["type"] for i in listed["items"]] == ["door_left_open_alarm",
                                                    "low_battery_warning"]
    assert listed["items"][1]["lock"]["customer_reference"] == "Chalet 7"
    assert api.get("sites/{site}/locks/%s" % defaults.lock_id("Main gate")).json()[
        "left_open_alarm"] is True
    only = api.get("sites/{site}/incidents", version="v1.1",
                   params={"$filter": "type eq 'low_battery_warning'"}).json()["items"]
    assert len(only) == 1
    assert len(api.http.get("/_sim/state").json()["incidents"]) == 2
    bad = api.http.post("/_sim/incident", json={"lock": "Chalet 7", "type": "fire"})
    assert bad.status_code == 400 and "unknown incident type" in bad.json()["error"]


def test_lock_admin_sets_online_and_battery(api: Any) -> None:
    answer = api.http.post("/_sim/lock", json={"lock": "Pitch 14", "online": False,
                                               "battery_level": "critical"}).json()
    assert (answer["online"], answer["battery_level"]) == (False, "critical")
    lock = api.get("sites/{site}/locks/%s" % defaults.lock_id("Pitch 14")).json()
    assert (lock["online"], lock["battery_level"]) == (False, "critical")
    assert api.http.post("/_sim/lock", json={"lock": "Nowhere"}).status_code == 400


# -- the clock -----------------------------------------------------------------------------

def test_the_clock_over_http(api: Any) -> None:
    frozen = api.http.post("/_sim/clock", json={"set": "2026-07-01T12:00:00"}).json()
    assert frozen["now"] == "2026-07-01T10:00:00Z" and frozen["frozen"] is True  # CEST
    assert frozen["local"] == "2026-07-01T12:00:00"
    moved = api.http.post("/_sim/clock", json={"advance_s": 3600}).json()
    assert moved["now"] == "2026-07-01T11:00:00Z"
    running = api.http.post("/_sim/clock", json={"set": "2030-01-01T00:00:00Z",
                                                 "frozen": False}).json()
    assert running["frozen"] is False and running["now"].startswith("2030-01-01T00:00")
    real = api.http.post("/_sim/clock", json={"real": True}).json()
    assert real["offset_s"] == 0.0
    assert api.http.post("/_sim/clock", json={"set": "tomorrow"}).status_code == 400


def test_keypad_over_http_uses_the_simulated_now(server: KsServer, api: Any,
                                                 stay: dict[str, Any]) -> None:
    api.http.post("/_sim/clock", json={"set": "2026-11-22T09:00:00"})
    answer = api.http.post("/_sim/keypad", json={"lock": defaults.lock_id("Pitch 12"),
                                                 "pin": stay["pin"]}).json()
    assert answer["opened"] is True and answer["entry"]["local_date_time"] == (
        "2026-11-22T09:00:00")
