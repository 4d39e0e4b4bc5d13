"""``make bench``'s table: every end-to-end figure beside its floor and their ratio, with an
empty store and with 100,000 bookings behind it, plus a JSON file of the run.

One broker, one KS simulator and one Space simulator serve the whole run; each appliance is a
real ``keybridge run`` process started the way systemd starts it.
"""

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from appliance.registry import parse_config
from bench import figures as f
from bench import seed
from bench.ks_reconcile import reconcile_figures
from bench.lab import Appliance, Lab
from bench.pms import BenchPms

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"latency": 200, "ks_burst": 300, "pipeline": 2000, "desk": 50, "desk_placed": 10,
         "echo": 200, "commits": 300, "reconcile": 10000}
QUICK = {"latency": 50, "ks_burst": 100, "pipeline": 1000, "desk": 20, "desk_placed": 3,
         "echo": 50, "commits": 100, "reconcile": 2000}
CARD_PLACED_S = 1.0
"""The Space simulator's site file: a person places the card a second after the request."""
KS_CONCURRENCY = 4
"""The KS worker's jobs at a time: the direct client's floor runs at the same concurrency."""


def measure(run: Path, stored: tuple[int, ...], idle_s: float, quick: bool) -> dict[str, Any]:
    n = QUICK if quick else SIZES
    lab = Lab(run)
    try:
        port = lab.broker()
        pms = BenchPms(port, "keybridge/" + f.SITE)
        result: dict[str, Any] = {"sizes": n, "floors": floors(lab, pms, n)}
        for card_s, size, key in ((0.0, "desk", "desk_encode"),
                                  (CARD_PLACED_S, "desk_placed", "desk_encode_placed")):
            space = lab.space(card_s)
            result["floors"][key] = f.spread(f.direct_encodes(space, n[size]))
            name = "app-space-%g" % card_s
            app = Appliance(lab, name, f.space_config(lab, name, port, space)).start()
            result[key] = f.spread(f.encodes(pms, app, n[size], "desk%g" % card_s))
            app.stop()
        for count in stored:
            result["stored_%d" % count] = through(lab, pms, port, count, n,
                                                  idle_s if count == 0 else 0.0)
        pms.close()
    finally:
        lab.close()
    for mode in ("served", "refused"):  # KS as assumed (an $expand), and as documented
        result["reconcile_" + mode] = asyncio.run(reconcile_figures(n["reconcile"],
                                                                    ks_expand=mode))
    return result


def floors(lab: Lab, pms: BenchPms, n: dict[str, int]) -> dict[str, Any]:
    commits = f.full_commits(lab.run, n["commits"])
    ks_url = lab.ks("ks-sim-floor")  # used in the same order as by the appliance's runs
    serial = f.direct_ks(ks_url, n["latency"], 1)
    parallel = f.direct_ks(ks_url, n["ks_burst"], KS_CONCURRENCY)
    started = time.perf_counter()
    probe = subprocess.run([sys.executable, "-c", IMPORTS], cwd=ROOT, check=True,  # noqa: S603
                           capture_output=True, text=True)
    return {"mqtt": f.spread(f.mqtt_round_trips(pms, n["echo"])),
            "commit": f.spread(commits), "commits_per_s": len(commits) / sum(commits),
            "pin": f.spread(serial["durations_s"]),
            "requests_per_pin": serial["requests"] / n["latency"],
            "pins_per_s": n["ks_burst"] / parallel["seconds"],
            "cpu_per_pin": parallel["cpu_s"] / n["ks_burst"],
            "imports_s": time.perf_counter() - started, "imports_rss": int(probe.stdout)}


IMPORTS = ("import appliance.service, appliance.registry, appliance.cli\n"
           "print([int(line.split()[1]) * 1024 for line in open('/proc/self/status')\n"
           "       if line.startswith('VmRSS:')][0])")
"""What a running appliance must load before it does anything: the floor of RSS and READY."""


def through(lab: Lab, pms: BenchPms, port: int, stored: int, n: dict[str, int],
            idle_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ks_url = lab.ks("ks-sim-%d" % stored)
    app = appliance(lab, "ks-%d" % stored, f.ks_config(lab, "ks-%d" % stored, port, ks_url),
                    stored)
    out["ready_s"], out["rss_idle"] = app.ready_s, app.rss_bytes()
    if idle_s:
        cpu = app.cpu_s()
        time.sleep(idle_s)  # measuring idleness: nothing to wait for
        out["idle_cpu_share"] = (app.cpu_s() - cpu) / idle_s
    before = f.commits(app)
    lat = f.latencies(pms, "lat%d" % stored, n["latency"])
    out["commits_per_booking_ks"] = (f.commits(app) - before) / n["latency"]
    out["accepted"], out["issued"] = f.spread(lat["accepted"]), f.spread(lat["issued"])
    cpu = app.cpu_s()
    out["ks_per_s"] = n["ks_burst"] / f.burst(pms, "ks%d" % stored, n["ks_burst"], True)
    out["cpu_per_booking"] = (app.cpu_s() - cpu) / n["ks_burst"]
    out["rss_after"] = app.rss_bytes()
    app.stop()
    name = "pipe-%d" % stored
    app = appliance(lab, name, f.ks_config(lab, name, port, ks_url, rate_per_hour=1, burst=10),
                    stored)
    before = f.commits(app)
    out["pipeline_per_s"] = n["pipeline"] / f.burst(pms, "pipe%d" % stored, n["pipeline"],
                                                    False)
    out["commits_per_booking_intake"] = (f.commits(app) - before) / n["pipeline"]
    app.stop()
    return out


def appliance(lab: Lab, name: str, config: dict[str, Any], stored: int) -> Appliance:
    app = Appliance(lab, name, config)
    if stored:
        parsed = parse_config(config, str(app.config_file))
        made = seed.seeded(ROOT / ".cache" / "bench", parsed, stored)
        seed.install(made, config["store"]["path"], config["store"]["key_file"])
    return app.start()

