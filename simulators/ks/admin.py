"""The simulator's own endpoints under ``/_sim/`` (no auth; never faulted).

    GET  /_sim/state                 everything a test asserts on (PINs included)
    GET  /_sim/requests              the last requests: method, path, template, status
    GET  /_sim/knobs                 the knobs;  POST /_sim/knobs {...} merges (400 if bad)
    GET  /_sim/clock                 the clock;  POST /_sim/clock {"set": ISO[, "frozen": b]}
                                     | {"advance_s": N} | {"real": true} | {"frozen": b}
    POST /_sim/keypad   {"lock", "pin", "at"?}            -> {opened, event_detail, reason, entry}
    POST /_sim/incident {"lock", "type", "battery_level"?, "at"?}   -> the incident
    POST /_sim/lock     {"lock", "online"?, "iq_online"?, "battery_level"?}
    POST /_sim/site     {"subscribed_user_amount"?, "features"?, "pin_enabled"?,
                         "installation_state"?}
    POST /_sim/release                                    -> {"released": n}
    POST /_sim/wait     {"hung"?: n, "requests"?: {"POST /sites/{site}/guests": n},
                         "timeout_s"?: s}                 -> {"ok": bool, ...state counters}
    POST /_sim/reset                                      back to the initial state

A naive time (no offset) is site-local wall time, here as in the keypad's ``at``.
Errors are 400 ``{"error": "..."}``; an unknown path is 404.
"""

import json
from collections.abc import Callable
from typing import Any

from simulators.ks.clock import iso_utc, parse_instant
from simulators.ks.cloud import KsCloud
from simulators.ks.errors import KsError
from simulators.ks.identity import Identity
from simulators.ks.knobs import KnobError
from simulators.ks.traffic import Traffic
from simulators.ks.wire import Request, Response, json_response

MAX_WAIT_S = 60.0


class Admin:
    """Serves ``/_sim/...`` for one cloud."""

    def __init__(self, cloud: KsCloud, identity: Identity, traffic: Traffic) -> None:
        self.cloud = cloud
        self.identity = identity
        self.traffic = traffic
        self._ops: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
            ("GET", "state"): self.state, ("GET", "requests"): self.requests,
            ("GET", "knobs"): self.knobs, ("POST", "knobs"): self.knobs,
            ("GET", "clock"): self.clock, ("POST", "clock"): self.clock,
            ("POST", "keypad"): self.keypad, ("POST", "incident"): self.incident,
            ("POST", "lock"): self.lock, ("POST", "site"): self.site,
            ("POST", "release"): self.release, ("POST", "wait"): self.wait,
            ("POST", "reset"): self.reset}

    def handle(self, request: Request) -> Response:
        name = request.path.removeprefix("/_sim/").strip("/")
        op = self._ops.get((request.method, name))
        if op is None:
            return json_response(404, {"error": "no %s /_sim/%s; there are: %s" % (
                request.method, name, ", ".join("%s %s" % key for key in self._ops))})
        try:
            body = json.loads(request.body) if request.body.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("send a JSON object")
            return json_response(200, op(body))
        except (KnobError, KeyError, ValueError, TypeError, KsError) as err:
            return json_response(400, {"error": str(err).strip('"')})

    # -- operations ----------------------------------------------------------------------

    def state(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**self.cloud.state(), **self.traffic.state()}

    def requests(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return self.traffic.requests_log()

    def knobs(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.cloud.lock:
            self.cloud.knobs.update(**body)
            return self.cloud.knobs.as_dict()

    def clock(self, body: dict[str, Any]) -> dict[str, Any]:
        clock = self.cloud.clock
        with self.cloud.lock:
            if body.get("real"):
                clock.real()
            if "set" in body:
                clock.set(parse_instant(str(body["set"]), self.cloud.zone), body.get("frozen"))
            elif "frozen" in body:
                clock.set(clock.now(), bool(body["frozen"]))
            if "advance_s" in body:
                clock.advance(float(body["advance_s"]))
            return {**clock.as_dict(), "local": self.cloud.now().astimezone(
                self.cloud.zone).strftime("%Y-%m-%dT%H:%M:%S")}

    def keypad(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.cloud.keypad(str(body["lock"]), str(body["pin"]), body.get("at"))

    def incident(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.cloud.incident(str(body["lock"]), str(body["type"]),
                                   body.get("battery_level"), body.get("at"))

    def lock(self, body: dict[str, Any]) -> dict[str, Any]:
        for name in ("online", "iq_online"):
            if name in body and not isinstance(body[name], bool):
                raise ValueError("%s takes true or false" % name)
        return self.cloud.set_lock(str(body["lock"]), body.get("online"),
                                   body.get("iq_online"), body.get("battery_level"))

    def site(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.cloud.lock:
            site = self.cloud.site
            if "subscribed_user_amount" in body:
                site.subscribed_user_amount = int(body["subscribed_user_amount"])
            if "features" in body:
                site.features = [str(feature) for feature in body["features"]]
            if "pin_enabled" in body:
                site.pin_enabled = bool(body["pin_enabled"])
            if "installation_state" in body:
                site.installation_state = str(body["installation_state"])
            return {**self.cloud.site_json(), "features": list(site.features)}

    def release(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"released": self.traffic.release()}

    def wait(self, body: dict[str, Any]) -> dict[str, Any]:
        timeout = min(float(body.get("timeout_s", 10.0)), MAX_WAIT_S)
        ok = self.traffic.wait(body.get("hung"), body.get("requests"), timeout)
        return {"ok": ok, **self.traffic.state()}

    def reset(self, body: dict[str, Any]) -> dict[str, Any]:
        self.cloud.reset()
        self.identity.reset()
        self.traffic.reset()
        return {"reset": True, "now": iso_utc(self.cloud.now())}
