"""The end-to-end figures: each measured through a real appliance, each floor measured in the
same run on the same broker, simulator and disk (absolute times on a shared machine are noise;
the ratios are the result).

Every function returns plain numbers; ``bench/table.py`` sets them side by side.
"""

import asyncio
import datetime
import sqlite3
import statistics
import time
import tomllib
from pathlib import Path
from typing import Any

from appliance.space import SpaceClient, SpaceCommands, SpaceSettings
from bench.ks import UNITS, direct_pins
from bench.lab import Appliance, Lab, ks_secrets
from bench.pms import BenchPms

ROOT = Path(__file__).resolve().parents[1]
SITE = "bench"
STAY = {"arrival": "2027-07-01T15:00:00+02:00", "departure": "2027-07-04T10:00:00+02:00"}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def spread(values: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(values), "p99": percentile(values, 0.99)}


def booking(tag: str, number: int, status: str = "CONFIRMED") -> dict[str, Any]:
    return {"request_id": "%s-%d-%s" % (tag, number, status.lower()), "booking": {
        "id": "%s-%d" % (tag, number), "revision": 1 if status == "CONFIRMED" else 2,
        "status": status, "units": [tuple(UNITS)[number % len(UNITS)]], **STAY,
        "guest": {"name": "Guest %d" % number}}}


# -- configurations -----------------------------------------------------------------------

def ks_config(lab: Lab, name: str, port: int, ks_url: str, *, rate_per_hour: float = 1e9,
              burst: int = 1000) -> dict[str, Any]:
    folder = lab.run / name
    folder.mkdir(exist_ok=True)
    return {"site": {"id": SITE, "timezone": "Europe/Amsterdam"},
            "mqtt": {"host": "127.0.0.1", "port": port, "protocol": "5"},
            "store": {"path": str(folder / "keybridge.db"),
                      "key_file": str(folder / "secret.keys")},
            "ks": {"identity_url": ks_url, "api_url": ks_url, **ks_secrets(lab.run),
                   "rate_per_hour": rate_per_hour, "burst": burst,
                   "events_poll_s": 60, "battery_poll_s": 3600,
                   "units": {unit: list(locks) for unit, locks in UNITS.items()},
                   "key_types": [{"name": "stay", "unit_locks": True,
                                  "locks": ["Main gate"]}]}}


def space_config(lab: Lab, name: str, port: int, server: str) -> dict[str, Any]:
    """``config/demo.toml``'s Space site without KS: its encoders, units and rules."""
    with open(ROOT / "config" / "demo.toml", "rb") as file:
        config = tomllib.load(file)
    del config["ks"]
    folder = lab.run / name
    folder.mkdir(exist_ok=True)
    config["site"]["id"] = SITE
    config["mqtt"] = {"host": "127.0.0.1", "port": port, "protocol": "5"}
    config["space"]["server"] = server
    config["service"] = {}
    config["store"] = {"path": str(folder / "keybridge.db"),
                       "key_file": str(folder / "secret.keys")}
    return config


# -- floors -----------------------------------------------------------------------------

def mqtt_round_trips(pms: BenchPms, count: int) -> list[float]:
    return [pms.echo() for _ in range(count)]


def full_commits(folder: Path, count: int) -> list[float]:
    """One-row commits with the store's settings (WAL, synchronous=FULL) on the same disk."""
    db = sqlite3.connect(folder / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    times = []
    for number in range(count):
        start = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (v) VALUES (?)", ("row %d" % number,))
        db.execute("COMMIT")
        times.append(time.perf_counter() - start)
    db.close()
    return times


def direct_ks(url: str, count: int, concurrency: int) -> dict[str, Any]:
    return asyncio.run(direct_pins(url, count, concurrency))


def direct_encodes(server: str, count: int) -> list[float]:
    """Cards cut by a Space client of our own straight to the simulator."""
    async def run() -> list[float]:
        until = datetime.datetime(2027, 7, 4, 10)
        async with SpaceClient(SpaceSettings(server=server, probe_interval_s=0)) as client:
            desk, times = SpaceCommands(client), []
            for _ in range(count):
                start = time.perf_counter()
                await desk.encode("Online Encoder 1", ["Pitch 12"],
                                  datetime.datetime(2027, 7, 1, 14), until, granted=(1, 2))
                times.append(time.perf_counter() - start)
            return times
    return asyncio.run(run())


# -- through the appliance --------------------------------------------------------------

def latencies(pms: BenchPms, tag: str, count: int) -> dict[str, list[float]]:
    """One booking at a time: CONFIRMED → accepted reply, and → key_issued from KS."""
    accepted, issued = [], []
    for number in range(count):
        payload = booking(tag, number)
        sent = pms.send("booking", payload)
        accepted.append(pms.reply(str(payload["request_id"]))[0] - sent)
        issued.append(pms.event("key_issued", str(payload["booking"]["id"]), "ks") - sent)
    return {"accepted": accepted, "issued": issued}


def burst(pms: BenchPms, tag: str, count: int, until_issued: bool) -> float:
    """``count`` bookings published as fast as the broker takes them; seconds until the last
    reply (or the last key_issued) arrived."""
    payloads = [booking(tag, number) for number in range(count)]
    start = min(pms.send("booking", payload) for payload in payloads)
    if until_issued:
        return max(pms.event("key_issued", str(p["booking"]["id"]), "ks")
                   for p in payloads) - start
    return max(pms.reply(str(p["request_id"]))[0] for p in payloads) - start


def encodes(pms: BenchPms, appliance: Appliance, count: int, tag: str) -> list[float]:
    """Cards cut through the appliance: encode_card → its final reply."""
    confirmed = booking(tag, 0)
    confirmed["booking"] |= {"units": ["P12"], "type": "pitch"}  # a Space product's
    pms.send("booking", confirmed)
    pms.reply(str(confirmed["request_id"]))  # a Space key is prepared, no event
    times = []
    for number in range(count):
        request_id = "%s-cut-%d" % (tag, number)
        sent = pms.send("encode_card", {"request_id": request_id,
                                        "booking_id": "%s-0" % tag, "encoder": "desk-1"})
        times.append(pms.reply(request_id, "ok")[0] - sent)
    return times


def commits(appliance: Appliance) -> int:
    return int(appliance.status()["store"]["commits"])
