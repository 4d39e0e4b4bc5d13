"""The KS client against the KS simulator over TCP: faults, paging, the two-id model,
PINs, deletes, lookups and events. Time is injected: nothing here sleeps to wait."""

import asyncio
import datetime

import pytest

from appliance.ks import errors
from appliance.ks.client import KsClient
from simulators.ks import defaults
from simulators.ks.server import KsServer

from _ks import knobs, settings_for

SITE = defaults.SITE_ID
ALWAYS = {"monday": True, "tuesday": True, "wednesday": True, "thursday": True,
          "friday": True, "saturday": True, "sunday": True, "start_time": "00:00:00",
          "end_time": "23:59:59"}


@pytest.fixture
def server(fake):
    with KsServer(host="127.0.0.1", port=0, monotonic=fake.clock) as server:
        yield server


def api_requests(server):
    return [(r["method"], r["path"], r["status"]) for r in server.traffic.requests_log()
            if r["path"] != "/connect/token"]


async def guest_with_pin_access(client, alias="B-1001"):
    """The booking recipe (notes §3.5, model B) through the client; (guest, group)."""
    guest = await client.create_guest(SITE, alias, None)
    assert guest["subscription_state"] == "subscribed" and guest["use_pin"] is False
    guest = await client.patch_user(SITE, guest["id"], {"use_pin": True})
    group = await client.create_access_group(SITE, "booking " + alias)
    await client.add_group_lock(SITE, group["id"], defaults.lock_id("Pitch 12"))
    await client.create_schedule(SITE, group["id"], ALWAYS)
    await client.add_group_user(SITE, group["id"], guest["user"]["id"])
    return guest, group


# -- the site --------------------------------------------------------------------------------

@pytest.mark.parametrize("configured", [SITE, SITE.upper(), defaults.SITE_UID,
                                        defaults.SITE_CUSTOMER_REFERENCE])
async def test_the_site_resolves_by_uuid_site_uid_or_reference(server, configured):
    async with KsClient(settings_for(server, site=configured)) as client:
        assert (await client.resolve_site())["id"] == SITE


async def test_the_site_resolves_from_a_bare_array(server, client):
    knobs(server, sites_bare_array=True)
    assert (await client.resolve_site())["id"] == SITE


async def test_an_unknown_site_tells_the_technician_what_the_account_sees(server):
    async with KsClient(settings_for(server, site="Camping Elsewhere")) as client:
        with pytest.raises(errors.KsNotFound) as caught:
            await client.resolve_site()
    text = str(caught.value)
    assert "'Camping Elsewhere' is not a site of this account" in text
    assert "'Camping Demo' (site_uid SIMSITE01, id %s)" % SITE in text
    assert caught.value.hint in text and caught.value.status is None


async def test_the_site_uid_is_not_a_site_id(client):
    with pytest.raises(errors.KsInvalid) as caught:
        await client.site(defaults.SITE_UID)
    assert (caught.value.status, caught.value.error_code) == (400, 1100)
    assert "site_uid where the site UUID belongs" in str(caught.value)


async def test_locks_page_by_page(server, fake):
    settings = settings_for(server, page_size=2)
    async with KsClient(settings, clock=fake.clock, sleep=fake.sleep) as client:
        locks = await client.locks(SITE)
    assert [lock["customer_reference"] for lock in locks] == list(defaults.LOCK_NAMES)
    assert [r[1] for r in api_requests(server)] == ["/v1.2/sites/%s/locks" % SITE] * 3


# -- faults ----------------------------------------------------------------------------------

async def test_an_outage_is_unavailable_and_nothing_ran(server, client):
    knobs(server, outage=True)
    with pytest.raises(errors.KsUnavailable) as caught:
        await client.create_guest(SITE, "B-1", None)
    assert (caught.value.status, caught.value.request_may_have_run) == (503, False)
    assert str(caught.value) == ("POST /v1.2/sites/%s/guests: 503 ErrorCode 2201: "
                                 "Service unavailable" % SITE)


async def test_a_500_may_have_run(server, client):
    knobs(server, error_rate=1.0)
    with pytest.raises(errors.KsUnavailable) as caught:
        await client.sites()
    assert (caught.value.status, caught.value.request_may_have_run) == (500, True)


async def test_an_answer_slower_than_the_timeout_may_have_run(server, fake):
    knobs(server, delay_s=1.0)
    settings = settings_for(server, timeout_s=0.1)
    async with KsClient(settings, clock=fake.clock, sleep=fake.sleep) as client:
        await client.auth.token()  # identity is not delayed
        with pytest.raises(errors.KsUnavailable) as caught:
            await client.create_guest(SITE, "B-1", None)
    assert caught.value.request_may_have_run is True
    assert "ReadTimeout" in str(caught.value) and "may have carried it out" in str(caught.value)


async def test_a_pin_request_cut_off_after_it_ran(server, client):
    guest, _group = await guest_with_pin_access(client)
    first = await client.put_pin(SITE, guest["id"])
    knobs(server, hang=[{"method": "PUT", "path_contains": "/pin", "after_effect": True}])
    rotating = asyncio.ensure_future(client.put_pin(SITE, guest["id"]))
    assert await asyncio.to_thread(server.wait_hung, 1, 10.0)
    server.release()  # the connection closes unanswered
    with pytest.raises(errors.KsUnavailable) as caught:
        await rotating
    assert caught.value.request_may_have_run is True
    assert not server.cloud.keypad("Pitch 12", first)["opened"]  # it did rotate


async def test_429_pauses_the_bucket_and_is_honoured(server, client, fake):
    knobs(server, rate_limit={"count": 1, "retry_after_s": 30})
    with pytest.raises(errors.KsRateLimited) as caught:
        await client.sites()
    assert caught.value.retry_after_s == 30.0
    assert client.bucket.paused and client.bucket.waiting_s() == 30.0
    assert len(await client.sites()) == 1  # waits out the pause on the fake clock
    assert fake.sleeps == [30.0]
    assert server.traffic.state()["rate_limit_violations"] == []


# -- guests, PINs, the two ids ---------------------------------------------------------------

async def test_the_two_ids_of_a_guest(client):
    guest, group = await guest_with_pin_access(client)
    site_user_id, platform_id = guest["id"], guest["user"]["id"]
    assert site_user_id != platform_id
    members = await client.group_users(SITE, group["id"])
    assert [member["id"] for member in members] == [platform_id]
    with pytest.raises(errors.KsNotFound) as caught:
        await client.add_group_user(SITE, group["id"], site_user_id)  # the wrong id
    assert caught.value.error_code == 2202 and "platform user id" in caught.value.hint
    assert await client.user(SITE, platform_id) is None  # and the other way round
    assert (await client.user(SITE, site_user_id))["alias"] == "B-1001"


async def test_put_pin_rotates_and_only_the_new_pin_opens(server, client):
    guest, _group = await guest_with_pin_access(client)
    first = await client.put_pin(SITE, guest["id"])
    second = await client.put_pin(SITE, guest["id"])
    assert first != second and len(first) == len(second) == 6 and second.isdigit()
    assert server.cloud.keypad("Pitch 12", second)["opened"]
    assert not server.cloud.keypad("Pitch 12", first)["opened"]
    keys = await client.keys(SITE, guest["id"])
    assert [key["type"] for key in keys] == ["pin"]
    assert second not in str(keys)


async def test_a_fresh_guest_is_not_settled_yet(server, client):
    knobs(server, consistency_window_s=60)
    guest = await client.create_guest(SITE, "B-2", None)
    with pytest.raises(errors.KsForbidden) as caught:
        await client.put_pin(SITE, guest["id"])
    assert caught.value.error_code == 2203 and "less than a minute ago" in str(caught.value)


async def test_deleting_twice(client):
    guest = await client.create_guest(SITE, "B-3", datetime.datetime(
        2030, 1, 2, 10, tzinfo=datetime.UTC))
    assert guest["expires_at"].startswith("2030-01-02T10:00:00")
    assert await client.delete_user(SITE, guest["id"]) is True
    assert await client.delete_user(SITE, guest["id"]) is False
    assert await client.user(SITE, guest["id"]) is None


async def test_suspending_frees_the_seat(server, client):
    guest = await client.create_guest(SITE, "B-4", None)
    await client.set_subscription(SITE, guest["id"], "suspended")
    assert (await client.user(SITE, guest["id"]))["subscription_state"] == "suspended"


async def test_find_guest_matches_the_alias_exactly(server, fake):
    settings = settings_for(server, page_size=2)
    async with KsClient(settings, clock=fake.clock, sleep=fake.sleep) as client:
        for alias in ("B-10", "B-100", "O'Brien", "b-10"):
            await client.create_guest(SITE, alias, None)
        assert (await client.find_guest(SITE, "B-10"))["alias"] == "B-10"
        assert (await client.find_guest(SITE, "O'Brien"))["alias"] == "O'Brien"
        assert await client.find_guest(SITE, "B-1") is None
        assert len(await client.users(SITE)) == 5  # the system user too, over 3 pages
    filtered = [r for r in server.traffic.requests_log() if r["path"].endswith("/users")]
    assert all(r["status"] == 200 for r in filtered)


# -- access groups and schedules -----------------------------------------------------------

async def test_access_groups_locks_and_schedules(client):
    group = await client.create_access_group(SITE, "booking B-5")
    assert (await client.find_access_group(SITE, "booking B-5"))["id"] == group["id"]
    assert await client.find_access_group(SITE, "booking B") is None
    lock = defaults.lock_id("Chalet 3")
    await client.add_group_lock(SITE, group["id"], lock)
    assert [item["id"] for item in await client.group_locks(SITE, group["id"])] == [lock]
    assert await client.remove_group_lock(SITE, group["id"], lock) is True
    assert await client.remove_group_lock(SITE, group["id"], lock) is False
    schedule = await client.create_schedule(SITE, group["id"], ALWAYS)
    changed = await client.patch_schedule(SITE, group["id"], schedule["id"],
                                          {**ALWAYS, "sunday": False})
    assert changed["sunday"] is False
    assert [s["id"] for s in await client.schedules(SITE, group["id"])] == [schedule["id"]]
    assert await client.delete_schedule(SITE, group["id"], schedule["id"]) is True
    assert await client.delete_schedule(SITE, group["id"], schedule["id"]) is False
    assert await client.delete_access_group(SITE, group["id"]) is True
    assert await client.delete_access_group(SITE, group["id"]) is False


async def test_removing_a_member_twice(client):
    guest, group = await guest_with_pin_access(client)
    platform_id = guest["user"]["id"]
    assert await client.remove_group_user(SITE, group["id"], platform_id) is True
    assert await client.remove_group_user(SITE, group["id"], platform_id) is False


async def test_a_schedule_without_days_is_invalid(client):
    group = await client.create_access_group(SITE, "booking B-6")
    with pytest.raises(errors.KsInvalid) as caught:
        await client.create_schedule(SITE, group["id"], {**ALWAYS, "monday": False,
                                                          "tuesday": False, "wednesday": False,
                                                          "thursday": False, "friday": False,
                                                          "saturday": False, "sunday": False})
    assert caught.value.error_code == 1101


# -- events ------------------------------------------------------------------------------------

async def test_entries_page_by_continuation_newest_first(server, client):
    guest, _group = await guest_with_pin_access(client)
    pin = await client.put_pin(SITE, guest["id"])
    start = datetime.datetime(2030, 5, 1, 12, tzinfo=datetime.UTC)
    for minute in range(5):
        server.cloud.keypad("Pitch 12", pin, at=start + datetime.timedelta(minutes=minute))
    seen, token = [], None
    while True:
        page, token = await client.entries(SITE, continuation=token, top=2)
        seen.extend(page)
        if token is None:
            break
    times = [entry["utc_date_time"] for entry in seen]
    assert len(times) == 5 and times == sorted(times, reverse=True)
    assert {entry["user_id"] for entry in seen} == {guest["user"]["id"]}
    recent, token = await client.entries(SITE, since=start + datetime.timedelta(minutes=3))
    assert len(recent) == 2 and token is None


async def test_incidents(server, client):
    server.cloud.incident("Pitch 14", "low_battery_warning")
    items, token = await client.incidents(SITE)
    assert token is None and len(items) == 1
    assert "low_battery_warning" in str(items[0])
