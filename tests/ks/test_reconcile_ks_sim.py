"""KS reconciliation against the KS simulator over TCP: what it finds, and what it asks.

Guests are seeded straight into the simulator's state (``simulators.ks.seed``) with the
store's keys to match; ``compare`` then runs as the nightly reconciliation does. Request
counts come from the simulator and are exact; nothing here measures time.
"""

import dataclasses
import datetime
import uuid
import zoneinfo

import httpx2
import pytest

from appliance import lifecycle
from appliance.engine.backend import KeyRow
from appliance.ks import stay
from appliance.ks.client import KsClient
from appliance.ks.config import KeyType, KsConfig
from appliance.ks.ids import KsIds
from appliance.ks.reconcile import compare
from appliance.ks.saga import Saga
from appliance.ks.site import KsSite
from simulators.ks import defaults
from simulators.ks.seed import PinStay, pin_guests
from simulators.ks.server import KsServer

from _ks import knobs, settings_for

SITE = "camp"
UNITS = {"P12": ("Pitch 12",), "P14": ("Pitch 14",), "C3": ("Chalet 3",)}
ZONE = zoneinfo.ZoneInfo(defaults.TIME_ZONE)
ARRIVAL = datetime.datetime(2027, 7, 1, 12, tzinfo=datetime.UTC)
EXPAND_MODES = ["served", "refused", "ignored"]


@pytest.fixture
def server():
    with KsServer(host="127.0.0.1", port=0, seats=1000) as server:
        yield server


def seed(server, count):
    """``count`` active keys whose guests KS holds exactly as the saga leaves them."""
    keys = [KeyRow(str(uuid.uuid4()), "ks", "B%d" % n, None, (tuple(UNITS)[n % 3],), ARRIVAL,
                   ARRIVAL + datetime.timedelta(days=3), lifecycle.ACTIVE, {}, "stay")
            for n in range(count)]
    seeded = pin_guests(server.cloud, [PinStay(stay.reference(SITE, key.id), UNITS[key.units[0]],
                                               stay.schedule_body(key, ZONE)) for key in keys])
    return [KeyRow(key.id, "ks", key.booking_id, None, key.units, key.valid_from,
                   key.valid_until, key.state, KsIds(
                       site_user_id=ids.site_user_id, platform_user_id=ids.platform_user_id,
                       access_group_id=ids.access_group_id).to_json(), "stay")
            for key, ids in zip(keys, seeded, strict=True)]


async def reconcile(server, keys, transport=None, **settings):
    async with KsClient(settings_for(server, rate_per_hour=1e9, burst=1000, **settings),
                        transport=transport) as client:
        config = KsConfig(client.settings, UNITS, (KeyType("stay", True, ()),), 0, 0, 0)
        saga = Saga(client, config, KsSite(client, SITE, ZONE))
        return await compare(saga, keys)


def requests(server):
    return sum(server.traffic.state()["requests"].values())


def asked(server, template):
    return server.traffic.state()["requests"].get(template, 0)


def guest_of(server, key):
    return server.cloud.users[key.external_ids["site_user_id"]]


def group_of(server, key):
    return server.cloud.groups[key.external_ids["access_group_id"]]


# -- how many requests -------------------------------------------------------------------

async def test_300_keys_take_at_most_1_1_requests_each_when_ks_expands_groups(server):
    knobs(server, access_group_expand="served")
    keys = seed(server, 300)
    assert await reconcile(server, keys) == []
    # Token, site, locks, 4 pages of guests, 3 of groups, and one keys list per guest.
    assert requests(server) <= 1.1 * 300
    assert asked(server, "GET /sites/{site}/users/{site_user}/keys") == 300
    assert asked(server, "GET /sites/{site}/access_groups/{group}/users") == 0


async def test_ks_as_documented_refuses_the_expand_and_each_group_is_looked_up(server):
    keys = seed(server, 30)
    assert await reconcile(server, keys) == []
    state = server.traffic.state()["requests"]
    assert state["GET /sites/{site}/access_groups"] == 2  # refused with 400, then plain
    for part in ("users", "locks", "time_schedules"):
        assert state["GET /sites/{site}/access_groups/{group}/%s" % part] == 30


# -- what it finds -----------------------------------------------------------------------

def break_one_of_each(server, keys):
    """One discrepancy of every kind, each on its own key; the kinds expected, by key id."""
    guest_of(server, keys[0]).subscription_state = "suspended"
    guest_of(server, keys[1]).use_pin = False
    guest_of(server, keys[2]).pin = None
    del server.cloud.users[keys[3].external_ids["site_user_id"]]
    del server.cloud.groups[keys[4].external_ids["access_group_id"]]
    schedule = next(iter(group_of(server, keys[5]).schedules.values()))
    schedule.current = dataclasses.replace(schedule.current, start_date="2027-07-02T14:00:00")
    group_of(server, keys[6]).locks[defaults.lock_id("Main gate")] = ARRIVAL
    group_of(server, keys[7]).members.clear()
    stray = stay.reference(SITE, str(uuid.uuid4()))
    pin_guests(server.cloud, [PinStay(stray, ("Pitch 12",), stay.schedule_body(keys[8], ZONE))])
    return {keys[0].id: ["suspended"], keys[1].id: ["pin_disabled"],
            keys[2].id: ["missing_in_ks"], keys[3].id: ["missing_in_ks"],
            keys[4].id: ["missing_in_ks"], keys[5].id: ["wrong_schedule"],
            keys[6].id: ["wrong_locks"], keys[7].id: ["not_member"],
            stay.key_id_of(stray): ["unknown_in_ks"]}


@pytest.mark.parametrize("mode", EXPAND_MODES)
async def test_every_kind_is_found_across_pages_smaller_than_the_keys(server, mode):
    knobs(server, access_group_expand=mode)
    keys = seed(server, 23)
    wanted = break_one_of_each(server, keys)
    found = await reconcile(server, keys, page_size=4)
    kinds: dict[str, list[str]] = {}
    for item in found:
        kinds.setdefault(item["key_id"], []).append(item["kind"])
    assert kinds == wanted
    assert asked(server, "GET /sites/{site}/users") == 6  # 24 guests and us, 4 a page


async def test_a_wrong_looking_expansion_is_asked_about_before_it_is_reported(server):
    """An expansion is undocumented: only KS's direct answer may report a discrepancy."""
    knobs(server, access_group_expand="served")
    keys = seed(server, 5)
    group_of(server, keys[0]).members.clear()
    assert [item["kind"] for item in await reconcile(server, keys)] == ["not_member"]
    assert asked(server, "GET /sites/{site}/access_groups/{group}/users") == 1


# -- guests come and go while the listing pages ------------------------------------------

class SomeoneLeaves(httpx2.AsyncHTTPTransport):
    """Right after the first page of guests, another guest is deleted in the KS app: every
    later guest moves up one place, and the first of the next page is never listed."""

    def __init__(self, server, leaver):
        super().__init__()
        self.server, self.leaver = server, leaver

    async def handle_async_request(self, request):
        response = await super().handle_async_request(request)
        if request.url.path.endswith("/users") and "$skip" not in request.url.params:
            with self.server.cloud.lock:
                self.server.cloud.users.pop(self.leaver, None)
        return response


async def test_a_guest_the_listing_skipped_but_ks_still_holds_is_not_reported(server):
    with server.cloud.lock:
        leaver = server.cloud.create_guest({"alias": "staff member"}).id
    keys = seed(server, 10)
    transport = SomeoneLeaves(server, leaver)
    assert await reconcile(server, keys, transport, page_size=5) == []
    # Guests 0-2 came on the first page; guest 3 slid onto it after the page was served.
    assert asked(server, "GET /sites/{site}/users/{site_user}") == 1
