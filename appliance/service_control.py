"""What the running service answers on its control channel (``appliance/control/``).

``status``: the live view (the retained status and more); ``view``: one of the store's
read-only views (``appliance.store.views``) for a technician who may not read the store;
``wake``: look at the store now (the command line changed jobs); ``backend``: a
technician's request carried out on a backend's own link, queued behind and before its
jobs (Space takes one PMS connection, and the service holds it); ``reconcile``: the nightly
comparison on the service's own backends, for the same reason (and the service holds the
KS secrets a technician's shell cannot read).
"""

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from appliance.control import wire
from appliance.control.server import Handler
from appliance.engine.backend import Backend, BackendFailure
from appliance.engine.reconcile import reconcile
from appliance.store import Store
from appliance.store.retry import persist
from appliance.store.views import VIEWS

TOOL_FIELDS = ("encoder", "room", "door", "count", "copy", "binary", "valid_from",
               "valid_until")
"""What the audit keeps of a technician's request (a phone number only as its last digits)."""


class ControlHandlers:
    def __init__(self, status: Callable[[], dict[str, Any]], wake: Callable[[], None],
                 backends: Mapping[str, Backend], store: Store, root: str) -> None:
        self._status = status
        self._wake = wake
        self.backends = backends
        self.store = store
        self.root = root

    def table(self) -> dict[str, Handler]:
        return {"status": self.status, "view": self.view, "wake": self.wake,
                "backend": self.backend, "reconcile": self.reconcile}

    async def reconcile(self, request: dict[str, Any]) -> dict[str, Any]:
        """Reconciliation, reported (``reconcile_report`` events) as from ``cmd/reconcile``;
        its repairs are jobs, so the workers are woken."""
        operator = str(request.get("operator") or "unknown")
        result = await reconcile(self.store, self.root, self.backends,
                                 bool(request.get("repair")), "keybridge reconcile (%s)"
                                 % operator)
        self._wake()
        return {"summary": result.summary, "found": result.found}

    async def status(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._status()

    async def view(self, request: dict[str, Any]) -> Any:
        name = str(request.get("view"))
        if name not in VIEWS:
            raise wire.ControlRefused("no view %r; there are %s" % (name, ", ".join(VIEWS)),
                                      {"code": "unknown_view"})
        return VIEWS[name](self.store.read, dict(request.get("args") or {}))

    async def wake(self, request: dict[str, Any]) -> dict[str, Any]:
        self._wake()
        return {}

    async def backend(self, request: dict[str, Any]) -> Any:
        name = str(request.get("backend"))
        backend = self.backends.get(name)
        if backend is None:
            raise wire.ControlRefused("no backend %r in the running service; it has %s"
                                      % (name, ", ".join(self.backends) or "none"),
                                      {"code": "backend_not_configured"})
        verb, args = str(request.get("verb")), dict(request.get("args") or {})
        try:
            result = await backend.tool(verb, args)
        except BackendFailure as failure:
            raise wire.ControlRefused(failure.message, {
                "code": failure.code, "hint": failure.hint,
                "may_have_run": failure.may_have_run}) from failure
        await persist(functools.partial(self._audit, name, verb, args,
                                        str(request.get("operator") or "unknown")),
                      "recording a technician's request", self.store.health)
        return result

    def _audit(self, backend: str, verb: str, args: dict[str, Any], operator: str) -> None:
        """Who asked what of the backend by hand: a card cut at the terminal is a key."""
        detail = {name: args[name] for name in TOOL_FIELDS if args.get(name) is not None}
        if args.get("phone"):
            detail["phone"] = "*" * 4 + str(args["phone"])[-4:]
        with self.store.transaction() as tx:
            tx.audit.add("tool_%s" % verb, backend, "keybridge %s (%s)" % (verb, operator),
                         detail=json.dumps(detail, sort_keys=True, default=str))
