"""Helpers: the real Space simulator on a real TCP port, and the real client.

The site is ``config/space-sim.toml`` (what technicians run), with the clock
stopped at a known moment and cards presented at once, so nothing waits.
"""

import datetime
from pathlib import Path

from appliance.space import SpaceSettings
from appliance.space.transport import close_quietly
from protocol.driver import LinkDriver
from simulators.space import SpaceSimulator, load_site
from simulators.space.clock import SimClock

SITE_FILE = Path(__file__).resolve().parents[2] / "config" / "space-sim.toml"
NOW = datetime.datetime(2026, 7, 1, 15, 0)
ARRIVAL = datetime.datetime(2026, 7, 1, 14, 0)
DEPARTURE = datetime.datetime(2026, 7, 4, 11, 0)
ENC1 = "Online Encoder 1"
ENC2 = "Online Encoder 2"
PHONE = "+31612345678"

# Short enough that nothing waits long, long enough to be well above loop jitter.
FAST = dict(connect_timeout_s=2.0, ack_timeout_s=1.0, card_wait_s=2.0, reply_margin_s=1.0,
            reconnect_min_s=0.01, reconnect_max_s=0.05, connect_budget_s=1.0,
            busy_retry_s=0.05, probe_interval_s=0.0)


def make_space(**site_changes):
    site = load_site(SITE_FILE)
    for encoder in site.encoders.values():
        encoder.card_after_s = 0.0
        encoder.card_timeout_s = 0.2
    for name, value in site_changes.items():
        setattr(site, name, value)
    return SpaceSimulator(site, clock=SimClock(NOW, running=False))


def address(simulator):
    """Where the client finds the simulator: HOST:PORT, or serial:PATH for its pty."""
    if simulator.pty_path:
        return "serial:" + simulator.pty_path
    host, port = simulator.server.bound
    return "%s:%d" % (host, port)


def settings_for(simulator, **changes):
    return SpaceSettings(server=address(simulator), **{**FAST, **changes})


async def raw_exchange(simulator, fields):
    """Send ``fields`` as one frame on a raw link, as any PMS may; the reply's fields."""
    reader, writer = await settings_for(simulator).transport().open()
    try:
        return await LinkDriver(reader, writer).request(fields, 2000)
    finally:
        await close_quietly(writer)
