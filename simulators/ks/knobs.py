"""Behaviour and fault knobs of the simulated cloud, as plain data.

Set in-process (``server.cloud.knobs.update(outage=True)``), over HTTP
(``POST /_sim/knobs {"outage": true}``) or reset with the rest of the state. All faults
default to off; the behaviour knobs default to what was measured (notes §2, §6.2).
Counters count down as they fire: ``rate_limit {"count": 2}`` answers exactly the next
two Connect requests 429, a hang rule with ``count: 1`` catches one request.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

from simulators.ks import defaults


class KnobError(ValueError):
    """A knob was given a name or a value it does not take."""


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise KnobError("knob %r takes true or false" % name)
    return value


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise KnobError("knob %r takes a number of seconds >= 0" % name)
    return float(value)


def _count(name: str, value: object, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise KnobError("knob %r takes a whole number >= %d" % (name, minimum))
    return value


def _fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise KnobError("knob %r takes a fraction between 0 and 1" % name)
    return float(value)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise KnobError("knob %r takes a non-empty string" % name)
    return value


EXPAND_MODES = ("refused", "ignored", "served")


def _expand_mode(name: str, value: object) -> str:
    if value not in EXPAND_MODES:
        raise KnobError("knob %r takes one of %s" % (name, ", ".join(EXPAND_MODES)))
    return str(value)


def _rate_limit(name: str, value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= {"count", "retry_after_s"}:
        raise KnobError('knob %r takes null or {"count": N, "retry_after_s": S}' % name)
    return {"count": _count(name + ".count", value.get("count", 1)),
            "retry_after_s": _seconds(name + ".retry_after_s", value.get("retry_after_s", 1))}


HANG_KEYS = {"method", "path_contains", "after_effect", "count"}


def _hang_rule(name: str, rule: object) -> dict[str, Any]:
    if not isinstance(rule, dict) or not set(rule) <= HANG_KEYS:
        raise KnobError("a %s rule is an object with keys %s" % (name, ", ".join(
            sorted(HANG_KEYS))))
    method = rule.get("method")
    if method is not None and not isinstance(method, str):
        raise KnobError("%s.method takes a string (or null for any method)" % name)
    path = rule.get("path_contains", "")
    if not isinstance(path, str):
        raise KnobError("%s.path_contains takes a string" % name)
    return {"method": method.upper() if method else None, "path_contains": path,
            "after_effect": _flag(name + ".after_effect", rule.get("after_effect", False)),
            "count": _count(name + ".count", rule.get("count", 1), minimum=1)}


def _hang(name: str, value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise KnobError("knob %r takes a list of rules" % name)
    return [_hang_rule(name, rule) for rule in value]


@dataclasses.dataclass
class Knobs:
    """What the simulated cloud does differently from a healthy, instant one."""

    token_ttl_s: float = defaults.TOKEN_TTL_S  # lifetime of new access tokens
    identity_down: bool = False  # every identity path answers 503
    outage: bool = False  # every Connect path answers 503 / 2201
    error_rate: float = 0.0  # fraction of Connect requests answered 500 / 2201
    seed: int = 0  # of the error_rate random numbers
    delay_s: float = 0.0  # sleep before answering each Connect request
    rate_limit: dict[str, Any] | None = None  # {"count": N, "retry_after_s": S}: next N -> 429
    consistency_window_s: float = 0.0  # after creating a user: pin 403/2203, group 404/2202
    schedule_propagation_s: float = 0.0  # a (changed) schedule reaches its locks this late
    member_propagation_s: float = 0.0  # a new group member reaches the locks this late
    enforce_expires_at: bool = True  # the keypad refuses a user whose expires_at has passed
    system_user_role: str = "site_admin"  # the system user's role on the site
    sites_bare_array: bool = False  # GET /sites answers a bare array instead of {items}
    page_size: int = defaults.PAGE_SIZE  # default page size of lists without $top
    # $expand on access groups, documented nowhere: refused (400/1102) unless set otherwise
    access_group_expand: str = "refused"
    hang: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # see README

    def __post_init__(self) -> None:
        self.seedings = 0  # how often ``seed`` was set: each setting restarts the sequence

    def update(self, **values: Any) -> None:
        """Set knobs by name, all or none; raises KnobError naming a bad knob or value."""
        checked = {}
        for name, value in values.items():
            check = CHECKS.get(name)
            if check is None:
                raise KnobError("unknown knob %r; known: %s" % (name, ", ".join(CHECKS)))
            checked[name] = check(name, value)
        for name, value in checked.items():
            setattr(self, name, value)
        if "seed" in checked:
            self.seedings += 1

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def reset(self) -> None:
        fresh = Knobs()
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(fresh, field.name))
        self.seedings += 1


CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "token_ttl_s": _seconds, "identity_down": _flag, "outage": _flag,
    "error_rate": _fraction, "seed": _count, "delay_s": _seconds,
    "rate_limit": _rate_limit, "consistency_window_s": _seconds,
    "schedule_propagation_s": _seconds, "member_propagation_s": _seconds,
    "enforce_expires_at": _flag, "system_user_role": _text, "sites_bare_array": _flag,
    "page_size": lambda name, value: _count(name, value, minimum=1), "hang": _hang,
    "access_group_expand": _expand_mode,
}
