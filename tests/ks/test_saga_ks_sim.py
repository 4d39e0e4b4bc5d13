"""The KS saga's requests against the KS simulator: what a first PIN asks of KS, and that a
retry reads back what the first run may have left instead of trusting memory. Request
counts come from the simulator and are exact."""

import datetime
import uuid
import zoneinfo

import pytest

from appliance import lifecycle
from appliance.engine.backend import KeyRow
from appliance.ks.client import KsClient
from appliance.ks.config import KeyType, KsConfig
from appliance.ks.ids import KsIds
from appliance.ks.saga import Saga
from appliance.ks.site import KsSite
from simulators.ks import defaults
from simulators.ks.server import KsServer

from _ks import settings_for

ARRIVAL = datetime.datetime(2027, 7, 1, 12, tzinfo=datetime.UTC)
KEY = KeyRow(str(uuid.uuid4()), "ks", "B1", None, ("P12",), ARRIVAL,
             ARRIVAL + datetime.timedelta(days=3), lifecycle.ISSUING, {}, "stay")
FIRST_PIN = {"POST /sites/{site}/guests": 1, "PATCH /sites/{site}/users/{site_user}": 1,
             "POST /sites/{site}/access_groups": 1,
             "POST /sites/{site}/access_groups/{group}/time_schedules": 1,
             "POST /sites/{site}/access_groups/{group}/locks": 2,
             "POST /sites/{site}/access_groups/{group}/users": 1,
             "PUT /sites/{site}/users/{site_user}/pin": 1,
             "GET /sites/{site}/locks": 1}
"""A guest, its PIN use, a group with its window, two locks and the guest in it, the PIN:
nothing read back from a group made a moment ago (the site's locks are read once per client
to turn lock names into ids)."""


@pytest.fixture
def server():
    with KsServer(host="127.0.0.1", port=0, seats=10) as server:
        yield server


async def ensure(server, ids, first_try):
    settings = settings_for(server, rate_per_hour=1e9, burst=1000)
    async with KsClient(settings) as client:
        config = KsConfig(settings, {"P12": ("Pitch 12",)},
                          (KeyType("stay", True, ("Main gate",)),), 0, 0, 0)
        saga = Saga(client, config, KsSite(client, "camp",
                                           zoneinfo.ZoneInfo(defaults.TIME_ZONE)))
        await saga.site.resolve()
        before = dict(server.traffic.state()["requests"])
        ids, pin = await saga.ensure(KEY, ids, False, lambda saved: None, first_try=first_try)
    after = server.traffic.state()["requests"]
    return ids, pin, {name: count - before.get(name, 0) for name, count in after.items()
                      if count != before.get(name, 0)}


async def test_a_first_pin_reads_nothing_back_from_its_new_group(server):
    ids, pin, asked = await ensure(server, KsIds(), first_try=True)
    assert asked == FIRST_PIN
    assert pin is not None and ids.access_group_id and ids.schedule_id


async def test_a_retry_reads_the_group_back_and_changes_nothing(server):
    ids, _pin, _asked = await ensure(server, KsIds(), first_try=True)
    again, pin, asked = await ensure(server, ids, first_try=False)
    assert pin is not None and again.access_group_id == ids.access_group_id
    writes = {name for name in asked if not name.startswith("GET ")}
    assert writes == {"PUT /sites/{site}/users/{site_user}/pin"}  # has_pin False: a new PIN only
    assert asked["GET /sites/{site}/access_groups/{group}/users"] == 1
