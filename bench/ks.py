"""Guest PINs through the KS saga against the KS simulator over loopback TCP.

How many PINs an hour the appliance could mint when KS answers at once and the token
bucket is out of the way, and how many requests each one takes; the real ceiling is KS's
latency and the configured ``rate_per_hour``. Figures only; nothing is asserted.
"""

import datetime
import time
import uuid
import zoneinfo

from appliance.engine.backend import KeyRow
from appliance.ks.client import KsClient
from appliance.ks.config import KeyType, KsConfig
from appliance.ks.ids import KsIds
from appliance.ks.saga import Saga
from appliance.ks.settings import KsSettings
from appliance.ks.site import KsSite
from simulators.ks import defaults
from simulators.ks.server import KsServer

UNITS = {"P12": ("Pitch 12",), "P14": ("Pitch 14",), "C3": ("Chalet 3",)}


async def pins_per_hour(count: int) -> None:
    with KsServer(seats=count + 10, log=None) as server:
        settings = KsSettings(identity_url=server.url, api_url=server.url,
                              client_id=defaults.CLIENT_ID, client_secret=defaults.CLIENT_SECRET,
                              username=defaults.USERNAME, password=defaults.PASSWORD,
                              site=defaults.SITE_CUSTOMER_REFERENCE,
                              rate_per_hour=1e9, burst=1000)
        config = KsConfig(settings, UNITS, (KeyType("stay", True, ("Main gate",)),),
                          consistency_window_s=0, events_poll_s=0, battery_poll_s=0)
        async with KsClient(settings) as client:
            saga = Saga(client, config, KsSite(client, "bench",
                                                zoneinfo.ZoneInfo("Europe/Amsterdam")))
            await saga.site.resolve()
            before = _requests(server)
            start = time.perf_counter()
            for n in range(count):
                await saga.ensure(_key(n), KsIds(), False, lambda ids: None, first_try=True)
            seconds = time.perf_counter() - start
            requests = _requests(server) - before
    print("%-38s %10.0f /h  (%d in %.2f s, %.1f requests each)"
          % ("KS PINs minted (saga, loopback)", count * 3600 / seconds, count, seconds,
             requests / count))


def _key(n: int) -> KeyRow:
    arrival = datetime.datetime(2027, 7, 1, 14, tzinfo=datetime.UTC)
    departure = arrival + datetime.timedelta(days=3, hours=-3)
    unit = tuple(UNITS)[n % len(UNITS)]
    return KeyRow(str(uuid.uuid4()), "ks", "B%d" % n, None, (unit,), arrival, departure,
                  "issuing", {}, "stay")


def _requests(server: KsServer) -> int:
    return sum(server.traffic.state()["requests"].values())
