"""The nightly KS reconciliation of many keys against the KS simulator over loopback TCP.

``count`` guests with PIN access are seeded straight into the simulator's state (the saga
would take ten requests each), with the store's keys to match, then ``compare`` runs once
from a cold start (token, site, locks, every listing). KS answers at once and the token
bucket is out of the way, so the time is the appliance's and the simulator's own, one
request in flight at a time as in the service; ``floor_seconds`` is as many bare listing
requests from a plain httpx2 client to the same simulator, the cost of the requests alone.

``ks_expand`` is the simulator's ``access_group_expand`` knob: ``served`` assumes KS nests
an access group's members, locks and schedule when asked (``$expand``), which no source
documents (salto-ks-connect.md §3.3 [U]); ``refused`` is KS as documented, where each
group is looked up on its own. Figures only; nothing is printed or asserted.
"""

import datetime
import time
import uuid
import zoneinfo
from typing import Any

import httpx2

from appliance import lifecycle
from appliance.engine.backend import KeyRow
from appliance.ks import stay
from appliance.ks.client import KsClient
from appliance.ks.config import KeyType, KsConfig
from appliance.ks.ids import KsIds
from appliance.ks.reconcile import compare
from appliance.ks.saga import Saga
from appliance.ks.settings import KsSettings
from appliance.ks.site import KsSite
from bench.ks import UNITS
from bench.ks import settings as bench_settings
from simulators.ks import defaults
from simulators.ks.seed import PinStay, Seeded, pin_guests
from simulators.ks.server import KsServer

SITE = "bench"
ZONE = zoneinfo.ZoneInfo(defaults.TIME_ZONE)


async def reconcile_figures(count: int, *, ks_expand: str = "served") -> dict[str, Any]:
    """Seconds and requests of one reconciliation of ``count`` KS keys, and the floor."""
    with KsServer(seats=count + 10, log=None,
                  knobs={"access_group_expand": ks_expand}) as server:
        keys = _seed(server, count)
        settings = bench_settings(server.url)
        config = KsConfig(settings, UNITS, (KeyType("stay", True, ()),),
                          consistency_window_s=0, events_poll_s=0, battery_poll_s=0)
        async with KsClient(settings) as client:
            saga = Saga(client, config, KsSite(client, SITE, ZONE))
            before = _requests(server)
            start = time.perf_counter()
            found = await compare(saga, keys)
            seconds = time.perf_counter() - start
            requests = _requests(server) - before
        if found:
            raise RuntimeError("the seeded site should reconcile clean; found %s" % found[:3])
        floor = await _floor(server, settings, keys[0], requests)
    return {"keys": count, "seconds": seconds, "requests": requests,
            "requests_per_key": requests / count, "floor_seconds": floor,
            "ks_expand": ks_expand}


def _seed(server: KsServer, count: int) -> list[KeyRow]:
    """``count`` active keys, three nights each, spread over the units, and their guests."""
    arrival = datetime.datetime(2027, 7, 1, 12, tzinfo=datetime.UTC)
    keys = [KeyRow(str(uuid.uuid4()), "ks", "B%d" % n, None, (tuple(UNITS)[n % len(UNITS)],),
                   arrival, arrival + datetime.timedelta(days=3, hours=-3), lifecycle.ACTIVE,
                   {}, "stay") for n in range(count)]
    seeded = pin_guests(server.cloud, [
        PinStay(stay.reference(SITE, key.id), UNITS[key.units[0]],
                stay.schedule_body(key, ZONE)) for key in keys])
    return [_with_ids(key, ids) for key, ids in zip(keys, seeded, strict=True)]


def _with_ids(key: KeyRow, seeded: Seeded) -> KeyRow:
    """The key as the store holds it once its saga has finished."""
    ids = KsIds(site_id=defaults.SITE_ID, reference=stay.reference(SITE, key.id),
                site_user_id=seeded.site_user_id, platform_user_id=seeded.platform_user_id,
                access_group_id=seeded.access_group_id, schedule_id=seeded.schedule_id,
                pin_put=True, pin_stored=True)
    return KeyRow(key.id, key.backend, key.booking_id, None, key.units, key.valid_from,
                  key.valid_until, key.state, ids.to_json(), key.key_type, has_secret=True)


async def _floor(server: KsServer, settings: KsSettings, key: KeyRow, count: int) -> float:
    """Seconds for ``count`` GETs of one guest's keys (a one-item list), token aside."""
    guest = key.external_ids["site_user_id"]
    url = "%s/v1.2/sites/%s/users/%s/keys" % (server.url, defaults.SITE_ID, guest)
    async with httpx2.AsyncClient() as http:
        answer = await http.post(server.url + "/connect/token", auth=(
            settings.client_id, settings.client_secret), data={
            "grant_type": "password", "username": settings.username,
            "password": settings.password, "scope": settings.scope})
        headers = {"Authorization": "Bearer " + answer.json()["access_token"]}
        start = time.perf_counter()
        for _ in range(count):
            (await http.get(url, headers=headers)).raise_for_status()
        return time.perf_counter() - start


def _requests(server: KsServer) -> int:
    return sum(server.traffic.state()["requests"].values())
