"""``python -m bench.chaos``: the campsite day under faults; exit 1 on any loss or divergence.

    python -m bench.chaos                 # 2,000 bookings, 200 kill -9s ... (~15 min)
    python -m bench.chaos --short         # the size make test runs
    python -m bench.chaos --seed 4711     # a run again, fault for fault
"""

import argparse
import datetime
import random
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.chaos import day, faults, verdict
from bench.chaos.day import Step
from bench.chaos.pms import ChaosPms
from bench.chaos.site import SITE, ChaosSite
from bench.lab import ROOT

CONVERGE_S = 600.0


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, help="repeat a run (default: a new seed, printed)")
    parser.add_argument("--short", action="store_true", help="100 bookings, a few faults")
    parser.add_argument("--bookings", type=int, help="bookings in the day (2000; short 100)")
    parser.add_argument("--duration-s", type=float, help="length of the day (600; short 45)")
    parser.add_argument("--run", default=str(ROOT / ".cache" / "chaos"), help="run directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    size = faults.SHORT if args.short else faults.FULL
    bookings = args.bookings or (100 if args.short else 2000)
    duration = args.duration_s or (45.0 if args.short else 600.0)
    print("chaos: seed %d (again: python -m bench.chaos%s --seed %d)"
          % (seed, " --short" if args.short else "", seed), flush=True)
    scripts = day.build(seed, bookings, datetime.date.today())
    site = ChaosSite(Path(args.run))
    pms = None
    try:
        site.start_appliance()
        _wait(lambda: site.appliance_status() is not None, 60, "the appliance to start")
        pms = ChaosPms(site.broker_port, "keybridge/" + SITE)
        injector = faults.Injector(site, faults.schedule(seed, size, duration))
        started = time.monotonic()
        injector.start()
        pms.play(scripts, duration, threading.Event())
        injector.join()
        rows = _converge(site, pms, injector, started)
        rows += _evidence(site, pms, scripts)
    finally:
        if pms is not None:
            pms.close()
        site.close()
    print(verdict.table(rows))
    bad = [what for what, _figure, count in rows if count]
    print("chaos: %s (seed %d)" % ("FAILED: " + "; ".join(bad) if bad else "nothing lost, "
                                   "nothing done twice, everything converged", seed))
    return 1 if bad else 0


def _converge(site: ChaosSite, pms: ChaosPms, injector: faults.Injector,
              started: float) -> list[verdict.Row]:
    rows: list[verdict.Row] = [
        ("injected: %s" % name.removesuffix(" begins"), count, 0)
        for name, count in sorted(injector.done.items()) if not name.endswith(" ends")]
    rows += [("not injected: %s" % name.removesuffix(" begins"), count, 0)
             for name, count in sorted(injector.skipped.items()) if not name.endswith(" ends")]
    quiet = _wait(lambda: _settled(site.appliance_status()), CONVERGE_S, None)
    rows.append(("day and faults over after (s)", round(time.monotonic() - started), 0))
    rows.append(("jobs and outbox empty at the end", "yes" if quiet else "no", not quiet))
    answer = pms._step(Step("reconcile", {"request_id": "chaos-final-reconcile"}, desk=True))
    found = (answer or {}).get("data") or {}
    rows.append(("reconciliation discrepancies", found.get("discrepancies", "no answer"),
                 int(found.get("discrepancies", 1) != 0 or bool(found.get("errors")))))
    assert site.appliance is not None
    site.appliance.process.send_signal(signal.SIGTERM)
    code = site.appliance.process.wait(60)
    rows.append(("appliance stopped with", "exit %d" % code, int(code != 0)))
    return rows


def _evidence(site: ChaosSite, pms: ChaosPms, scripts: list[day.Script]) -> list[verdict.Row]:
    store = Path(str(site.config_file.parent / "keybridge.db") if site.disk is None
                 else site.disk / "keybridge.db")
    with sqlite3.connect("file:%s?mode=ro" % store, uri=True) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    return (verdict.commands(pms, scripts) + verdict.events(pms, scripts)
            + verdict.ks(site.ks_admin("state"), store, scripts)
            + verdict.space(site.space({"op": "state"})["state"], pms, scripts)
            + verdict.secrets(pms, [site.run / "appliance.log"])
            + [("store integrity", integrity, int(integrity != "ok"))])


def _settled(status: dict[str, Any] | None) -> bool:
    return status is not None and status["queues"] == {"jobs": 0, "outbox": 0} and bool(
        status.get("broker", {}).get("connected"))


def _wait(predicate: Any, timeout_s: float, what: str | None) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            if what is not None:
                raise SystemExit("chaos: waited %.0f s for %s" % (timeout_s, what))
            return False
        time.sleep(0.5)  # polling another process's state; nothing here can signal us
    return True


if __name__ == "__main__":
    sys.exit(main())
