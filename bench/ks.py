"""Guest PINs through the KS saga straight from a client, no MQTT and no store: the floor the
appliance's KS figures are set against, on the same simulator.

``direct_pins`` mints ``count`` PINs with ``concurrency`` sagas at a time and returns each
one's duration, the wall time of the whole run and the requests KS served for it. The token
bucket is out of the way (KS answers at once); a real site's ceiling is KS's latency and the
configured ``rate_per_hour``.
"""

import asyncio
import datetime
import time
import uuid
import zoneinfo
from typing import Any

from appliance.engine.backend import KeyRow
from appliance.ks.client import KsClient
from appliance.ks.config import KeyType, KsConfig
from appliance.ks.ids import KsIds
from appliance.ks.saga import Saga
from appliance.ks.settings import KsSettings
from appliance.ks.site import KsSite
from bench.lab import ks_requests
from simulators.ks import defaults

UNITS: dict[str, tuple[str, ...]] = {"P12": ("Pitch 12",), "P14": ("Pitch 14",),
                                      "C3": ("Chalet 3",)}
KEY_TYPES = (KeyType("stay", True, ("Main gate",)),)


def settings(url: str) -> KsSettings:
    return KsSettings(identity_url=url, api_url=url, client_id=defaults.CLIENT_ID,
                      client_secret=defaults.CLIENT_SECRET, username=defaults.USERNAME,
                      password=defaults.PASSWORD, site=defaults.SITE_CUSTOMER_REFERENCE,
                      rate_per_hour=1e9, burst=1000)


async def direct_pins(url: str, count: int, concurrency: int) -> dict[str, Any]:
    """{"durations_s": [...], "seconds": wall time, "cpu_s": this process's CPU time,
    "requests": served} for ``count`` PINs."""
    config = KsConfig(settings(url), UNITS, KEY_TYPES, consistency_window_s=0,
                      events_poll_s=0, battery_poll_s=0)
    async with KsClient(config.settings) as client:
        saga = Saga(client, config, KsSite(client, "bench-direct",
                                            zoneinfo.ZoneInfo("Europe/Amsterdam")))
        await saga.site.resolve()
        before = ks_requests(url)
        durations: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def one(number: int) -> None:
            async with gate:
                start = time.perf_counter()
                await saga.ensure(_key(number), KsIds(), False, lambda ids: None,
                                  first_try=True)
                durations.append(time.perf_counter() - start)

        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(number) for number in range(count)))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"durations_s": durations, "seconds": seconds, "cpu_s": cpu,
            "requests": ks_requests(url) - before}


def _key(number: int) -> KeyRow:
    arrival = datetime.datetime(2027, 7, 1, 14, tzinfo=datetime.UTC)
    departure = arrival + datetime.timedelta(days=3, hours=-3)
    unit = tuple(UNITS)[number % len(UNITS)]
    return KeyRow(str(uuid.uuid4()), "ks", "D%d" % number, None, (unit,), arrival, departure,
                  "issuing", {}, "stay")
