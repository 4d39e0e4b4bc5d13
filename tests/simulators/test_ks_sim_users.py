"""The KS simulator's site users (two ids, seats), PINs, access groups and schedules."""

import datetime
from collections.abc import Iterator
from typing import Any

import pytest

from simulators.ks import KsServer, defaults

from _ks import error_of

PITCH_12 = defaults.lock_id("Pitch 12")


@pytest.fixture
def server() -> Iterator[KsServer]:
    with KsServer(seats=4) as server:
        yield server


def _seats(api: Any) -> int:
    return int(api.get("sites/{site}").json()["active_user_amount"])


# -- guests and users ----------------------------------------------------------------------

def test_a_guest_is_a_subscribed_site_guest_without_pin_and_with_two_ids(
        server: KsServer, api: Any) -> None:
    response = api.post("sites/{site}/guests", {"alias": "BK-1",
                                                "expires_at": "2026-11-24T10:00:00Z"})
    assert response.status_code == 201
    guest = response.json()
    assert [role["code"] for role in guest["roles"]] == ["site_guest"]
    assert guest["use_pin"] is False and guest["subscription_state"] == "subscribed"
    assert guest["alias"] == "BK-1" and guest["expires_at"] == "2026-11-24T10:00:00Z"
    assert guest["user"]["email"] is None and guest["user"]["has_profile"] is False
    assert guest["id"] != guest["user"]["id"]
    assert api.get("sites/{site}/users/%s" % guest["id"]).json() == guest
    assert _seats(api) == 2
    found = server.cloud.find_user("BK-1")
    assert found is not None and (found["id"], found["user_id"]) == (guest["id"],
                                                                     guest["user"]["id"])


def test_the_site_user_id_and_the_platform_id_are_not_interchangeable(api: Any) -> None:
    guest = api.guest("BK-2")
    platform, site_user = guest["user"]["id"], guest["id"]
    for response in (api.get("sites/{site}/users/%s" % platform),
                     api.patch("sites/{site}/users/%s" % platform, {"use_pin": True}),
                     api.put("sites/{site}/users/%s/pin" % platform, {}),
                     api.delete("sites/{site}/users/%s" % platform)):
        assert error_of(response) == (404, 2202) and response.json()["Message"] == (
            "User not found")
    group = api.group("Pitch 12 group")
    members = "sites/{site}/access_groups/%s/users" % group
    assert error_of(api.post(members, {"user_id": site_user})) == (404, 2202)
    assert api.post(members, {"user_id": platform}).status_code == 200
    assert [user["id"] for user in api.get(members).json()["items"]] == [platform]
    assert error_of(api.delete(members + "/" + site_user)) == (404, 2202)
    assert api.delete(members + "/" + platform).status_code == 204


def test_users_endpoint_validates_email_and_roles(api: Any) -> None:
    empty = api.post("sites/{site}/users", {"first_name": "A", "last_name": "B", "email": ""})
    assert error_of(empty) == (400, 1101) and empty.json()["Message"] == "Email '' is not valid"
    assert error_of(api.post("sites/{site}/users", {"role_ids": ["nope"]})) == (400, 1101)
    made = api.post("sites/{site}/users", {"first_name": "Ann", "last_name": "Lee",
                                           "alias": "staff", "use_pin": True,
                                           "role_ids": [defaults.ROLE_IDS["site_user"]]})
    assert made.status_code == 201
    user = made.json()
    assert user["use_pin"] is True and [r["code"] for r in user["roles"]] == ["site_user"]
    assert user["user"]["first_name"] == "Ann" and user["user"]["has_profile"] is False
    with_mail = api.post("sites/{site}/users", {"email": "ann@example.org"}).json()
    assert with_mail["user"]["has_profile"] is True


def test_patch_takes_known_fields_only(api: Any) -> None:
    guest = api.guest("BK-3", use_pin=False)
    path = "sites/{site}/users/%s" % guest["id"]
    patched = api.patch(path, {"use_pin": True, "alias": "BK-3b", "blocked": True,
                               "expires_at": "2026-12-01T09:00:00Z"}).json()
    assert (patched["use_pin"], patched["alias"], patched["blocked"], patched["expires_at"]) == (
        True, "BK-3b", True, "2026-12-01T09:00:00Z")
    assert error_of(api.patch(path, {"subscription_state": "suspended"})) == (400, 1101)
    assert error_of(api.patch(path, {"use_pin": "yes"})) == (400, 1101)


def test_list_users_filters_by_alias(api: Any) -> None:
    api.guest("BK-4")
    api.guest("BK-5")
    found = api.get("sites/{site}/users", params={"$filter": "alias eq 'BK-5'"}).json()
    assert [user["alias"] for user in found["items"]] == ["BK-5"]


def test_delete_is_202_then_404_and_leaves_every_group(server: KsServer, api: Any) -> None:
    guest = api.guest("BK-6")
    group = api.group("G")
    api.join(group, guest)
    assert api.delete("sites/{site}/users/%s" % guest["id"]).status_code == 202
    assert error_of(api.get("sites/{site}/users/%s" % guest["id"])) == (404, 2202)
    assert error_of(api.delete("sites/{site}/users/%s" % guest["id"])) == (404, 2202)
    assert api.get("sites/{site}/access_groups/%s/users" % group).json()["items"] == []
    assert error_of(api.delete("sites/{site}/users/%s" % defaults.SYSTEM_SITE_USER_ID)) == (
        403, 2203)


# -- seats ---------------------------------------------------------------------------------

def test_seats_as_measured(server: KsServer, api: Any) -> None:
    guests = [api.guest("S-%d" % n) for n in range(3)]  # + the system user = 4 of 4
    assert _seats(api) == 4
    extra = api.post("sites/{site}/guests", {"alias": "S-extra"})
    assert extra.status_code == 201 and extra.json()["subscription_state"] == "suspended"
    assert len(api.pin(extra.json())) == 6  # a PIN that will never open anything
    subscription = "sites/{site}/users/%s/subscription"
    assert error_of(api.patch(subscription % extra.json()["id"], {"state": "subscribed"})) == (
        403, 2212)
    server.cloud.clock.advance(400 * 86400)  # expires_at long gone: no seat comes free
    assert _seats(api) == 4
    assert api.delete("sites/{site}/users/%s" % guests[0]["id"]).status_code == 202
    assert _seats(api) == 3
    assert api.patch(subscription % extra.json()["id"], {"state": "subscribed"}).json()[
        "subscription_state"] == "subscribed"
    assert api.patch(subscription % guests[1]["id"], {"state": "suspended"}).status_code == 200
    assert _seats(api) == 3
    assert server.cloud.state()["site"]["seats_free"] == 1


def test_the_subscription_field_is_state(api: Any) -> None:
    guest = api.guest("BK-7")
    path = "sites/{site}/users/%s/subscription" % guest["id"]
    wrong = api.patch(path, {"subscription_state": "suspended"})
    assert error_of(wrong) == (400, 1101)
    assert error_of(api.patch(path, {"state": "paused"})) == (400, 1101)


# -- PINs and keys -------------------------------------------------------------------------

def test_a_pin_is_six_digits_rotates_and_is_never_listed(server: KsServer, api: Any) -> None:
    guest = api.guest("BK-8")
    keys = "sites/{site}/users/%s/keys" % guest["id"]
    assert api.get(keys).json()["items"] == []
    response = api.put("sites/{site}/users/%s/pin" % guest["id"], {})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith(
        "application/json")
    first = response.json()
    assert isinstance(first, str) and len(first) == 6 and first.isdigit()
    second = api.pin(guest)
    assert second != first
    (key,) = api.get(keys).json()["items"]
    assert key == {"type": "pin", "key_identifier": "pin", "expiry_date": None,
                   "offline_access": False}
    assert second not in api.get(keys).text
    assert [u["pin"] for u in server.cloud.state()["users"] if u["id"] == guest["id"]] == [
        second]
    api.put("sites/{site}/users/%s/pin" % guest["id"], {"expiry_date": "2026-11-24T10:00:00Z"})
    assert api.get(keys).json()["items"][0]["expiry_date"] == "2026-11-24T10:00:00Z"


def test_pins_are_unique_on_the_site(server: KsServer, api: Any) -> None:
    guest = api.guest("BK-9")
    pins = {api.pin(guest) for _ in range(50)}
    assert len(pins) == 50  # every rotation a new value
    others = {u["pin"] for u in server.cloud.state()["users"] if u["id"] != guest["id"]}
    assert not pins & others


def test_custom_pins_need_the_feature(server: KsServer, api: Any) -> None:
    guest = api.guest("BK-10")
    path = "sites/{site}/users/%s/pin/custom" % guest["id"]
    assert error_of(api.put(path, {"pin": "1234"})) == (403, 2212)
    server.cloud.site.features.append("custom_pin")
    assert api.put(path, {"pin": "1234"}).json() == "1234"


# -- access groups -------------------------------------------------------------------------

def test_access_groups_have_no_natural_key(api: Any) -> None:
    one = api.post("sites/{site}/access_groups", {"customer_reference": "BK-11"}).json()
    two = api.post("sites/{site}/access_groups", {"customer_reference": "BK-11"}).json()
    assert one["id"] != two["id"] and one["customer_reference"] == "BK-11"
    found = api.get("sites/{site}/access_groups",
                    params={"$filter": "customer_reference eq 'BK-11'"}).json()["items"]
    assert {g["id"] for g in found} == {one["id"], two["id"]}
    assert api.get("sites/{site}/access_groups/%s" % one["id"]).json() == one
    assert api.delete("sites/{site}/access_groups/%s" % one["id"]).status_code == 204
    assert error_of(api.get("sites/{site}/access_groups/%s" % one["id"])) == (404, 2202)
    assert error_of(api.delete("sites/{site}/access_groups/%s" % one["id"])) == (404, 2202)
    assert error_of(api.post("sites/{site}/access_groups", {})) == (400, 1101)


def test_group_locks_post_patch_delete(api: Any) -> None:
    group = api.group("locks", locks=(), schedule=None)
    locks = "sites/{site}/access_groups/%s/locks" % group
    assert api.post(locks, {"lock_id": PITCH_12}).json()["id"] == PITCH_12
    assert error_of(api.post(locks, {"lock_id": defaults.SITE_ID})) == (404, 2202)
    chalet = defaults.lock_id("Chalet 3")
    assert api.patch(locks, {"add_ids": [chalet], "remove_ids": [PITCH_12]}).status_code == 204
    assert [lock["id"] for lock in api.get(locks).json()["items"]] == [chalet]
    assert api.delete(locks + "/" + chalet).status_code == 204
    assert error_of(api.delete(locks + "/" + chalet)) == (404, 2202)


def test_group_members_patch_takes_platform_ids(api: Any) -> None:
    one, two = api.guest("M-1"), api.guest("M-2")
    group = api.group("members")
    users = "sites/{site}/access_groups/%s/users" % group
    assert api.patch(users, {"add_ids": [one["user"]["id"], two["user"]["id"]]}
                     ).status_code == 204
    assert error_of(api.patch(users, {"add_ids": [one["id"]]})) == (404, 2202)
    api.patch(users, {"remove_ids": [one["user"]["id"]]})
    assert [u["id"] for u in api.get(users).json()["items"]] == [two["user"]["id"]]


# -- time schedules ------------------------------------------------------------------------

STAY = {"monday": True, "tuesday": True, "wednesday": True, "thursday": True, "friday": True,
        "saturday": True, "sunday": True, "start_time": "00:00", "end_time": "18:00",
        "start_date": "2026-11-21T15:00:00", "end_date": "2026-11-24T10:00:00"}


def test_schedules_normalise_end_time_and_keep_naive_local_dates(api: Any) -> None:
    group = api.group("sched", schedule=None)
    path = "sites/{site}/access_groups/%s/time_schedules" % group
    made = api.post(path, STAY, version="v1.1").json()
    assert (made["start_time"], made["end_time"]) == ("00:00:00", "18:00:59")
    assert (made["start_date"], made["end_date"]) == ("2026-11-21T15:00:00",
                                                      "2026-11-24T10:00:00")
    changed = api.patch(path + "/" + made["id"], {"end_date": "2026-11-25T10:00:00",
                                                  "sunday": False}, version="v1.1").json()
    assert changed["end_date"] == "2026-11-25T10:00:00" and changed["sunday"] is False
    assert changed["monday"] is True and changed["id"] == made["id"]
    assert [s["id"] for s in api.get(path, version="v1.1").json()["items"]] == [made["id"]]
    assert api.delete(path + "/" + made["id"], version="v1.1").status_code == 204
    assert error_of(api.delete(path + "/" + made["id"], version="v1.1")) == (404, 2202)


@pytest.mark.parametrize("body", [
    {"days": ["monday"], "start_time": "00:00:00", "end_time": "23:59:59"},
    {"monday": False, "start_time": "00:00:00"},
    {},
])
def test_a_schedule_without_a_weekday_is_1101(api: Any, body: dict[str, Any]) -> None:
    group = api.group("nodays", schedule=None)
    response = api.post("sites/{site}/access_groups/%s/time_schedules" % group, body,
                        version="v1.1")
    assert error_of(response) == (400, 1101)
    assert response.json()["Message"] == "At least one day should be selected"


@pytest.mark.parametrize("change", [
    {"start_time": "25:00"}, {"start_date": "2026-11-21T15:00:00Z"},
    {"start_date": "2026-11-25T00:00:00"}, {"monday": "yes"},
])
def test_bad_schedule_values_are_1101(api: Any, change: dict[str, Any]) -> None:
    group = api.group("bad", schedule=None)
    response = api.post("sites/{site}/access_groups/%s/time_schedules" % group,
                        STAY | change, version="v1.1")
    assert error_of(response) == (400, 1101)


def test_the_consistency_window_hides_a_fresh_guest(server: KsServer, api: Any) -> None:
    server.cloud.clock.set(datetime.datetime(2026, 11, 21, 12, tzinfo=datetime.UTC),
                           frozen=True)
    server.cloud.knobs.update(consistency_window_s=60)
    guest = api.guest("fresh")  # the PATCH use_pin works inside the window
    assert guest["roles"] == []
    group = api.group("window")
    assert error_of(api.put("sites/{site}/users/%s/pin" % guest["id"], {})) == (403, 2203)
    response = api.post("sites/{site}/access_groups/%s/users" % group,
                        {"user_id": guest["user"]["id"]})
    assert error_of(response) == (404, 2202)
    server.cloud.clock.advance(61)
    assert len(api.pin(guest)) == 6
    api.join(group, guest)
    assert [r["code"] for r in api.get("sites/{site}/users/%s" % guest["id"]).json()[
        "roles"]] == ["site_guest"]
