"""The day's faults on a seeded schedule, injected from a thread of their own.

Kills and broker restarts fall at random moments; the long outages at fixed shares of the
day, so they overlap with traffic and not with each other's recovery. A fault with a length
is two actions, its start and its end. The simulators' clocks jump by the outage's nominal
length at its end (KS ten minutes, Space an hour), so they have lived through it while the
run stays short; the appliance's own clock is real, stepped by the shim only for the two
clock steps.
"""

import dataclasses
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

from bench.chaos.site import ChaosSite


@dataclasses.dataclass(frozen=True)
class Size:
    kills: int
    broker_restarts: int
    broker_outage_s: float
    ks_outage_s: float
    space_outage_s: float
    disk_full_s: float


FULL = Size(kills=200, broker_restarts=20, broker_outage_s=60, ks_outage_s=30,
            space_outage_s=30, disk_full_s=60)
SHORT = Size(kills=8, broker_restarts=2, broker_outage_s=5, ks_outage_s=5, space_outage_s=5,
             disk_full_s=5)
KS_OUTAGE_S = 600  # what the KS simulator lives through
SPACE_OUTAGE_S = 3600


@dataclasses.dataclass(frozen=True, order=True)
class Action:
    at_s: float
    name: str


def schedule(seed: int, size: Size, duration_s: float) -> list[Action]:
    rng = random.Random(seed * 7919 + 1)  # noqa: S311 - repeatable, not a secret
    actions = [Action(rng.uniform(0.02, 0.92) * duration_s, "kill -9")
               for _ in range(size.kills)]
    outage = (0.45 * duration_s, 0.45 * duration_s + size.broker_outage_s)
    for _ in range(size.broker_restarts):
        at = rng.uniform(0.05, 0.9) * duration_s
        if outage[0] - 5 <= at <= outage[1] + 5:
            at = (at + 0.25 * duration_s) % (0.9 * duration_s)
        actions.append(Action(at, "broker restart"))
    for share, name, length in ((0.45, "broker outage", size.broker_outage_s),
                                (0.2, "KS outage", size.ks_outage_s),
                                (0.3, "Space outage", size.space_outage_s),
                                (0.6, "disk full", size.disk_full_s)):
        actions += [Action(share * duration_s, name + " begins"),
                    Action(share * duration_s + length, name + " ends")]
    actions += [Action(0.35 * duration_s, "clock -1 h"), Action(0.7 * duration_s, "clock +1 h")]
    return sorted(actions)


class Injector:
    def __init__(self, site: ChaosSite, actions: list[Action]) -> None:
        self.site = site
        self.actions = actions
        self.done: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="chaos-faults", daemon=True)
        self._broker_down = False

    def start(self) -> None:
        self.started = time.monotonic()
        self.thread.start()

    def join(self) -> None:
        self.thread.join()
        if self.failure is not None:
            raise self.failure

    def _run(self) -> None:
        try:
            for action in self.actions:
                if self.stop.wait(max(0.0, self.started + action.at_s - time.monotonic())):
                    return
                self._do(action.name)
        except BaseException as err:  # reported by join()
            self.failure = err

    def _do(self, name: str) -> None:
        act = self._table().get(name)
        if act is None or not act():
            self.skipped[name] += 1
            return
        self.done[name] += 1

    def _table(self) -> dict[str, Callable[[], bool]]:
        site = self.site
        return {
            "kill -9": self._kill,
            "broker restart": self._broker_restart,
            "broker outage begins": lambda: self._broker(False),
            "broker outage ends": lambda: self._broker(True),
            "KS outage begins": lambda: bool(site.ks_admin("knobs", {"outage": True})),
            "KS outage ends": lambda: bool(
                site.ks_admin("clock", {"advance_s": KS_OUTAGE_S})
                and site.ks_admin("knobs", {"outage": False})),
            "Space outage begins": lambda: bool(site.space(
                {"op": "faults", "set": {"refuse_connections": True}})),
            "Space outage ends": lambda: bool(
                site.space({"op": "clock", "advance_s": SPACE_OUTAGE_S})
                and site.space({"op": "faults", "set": {"refuse_connections": False}})),
            "disk full begins": lambda: site.disk is not None and _done(site.fill_disk),
            "disk full ends": lambda: site.disk is not None and _done(site.free_disk),
            "clock -1 h": lambda: _done(lambda: site.clock.step(-3600)),
            "clock +1 h": lambda: _done(lambda: site.clock.step(3600)),
        }

    def _kill(self) -> bool:
        self.site.kill_appliance()
        self.site.start_appliance()
        return True

    def _broker_restart(self) -> bool:
        if self._broker_down:
            return False
        self.site.stop_broker()
        self.site.start_broker()
        return True

    def _broker(self, up: bool) -> bool:
        self._broker_down = not up
        if up:
            self.site.start_broker()
        else:
            self.site.stop_broker()
        return True


def _done(action: Callable[[], object]) -> bool:
    action()
    return True
