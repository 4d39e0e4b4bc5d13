"""What the running service answers on its control channel (``appliance/control/``).

``status``: the live view (the retained status and more); ``wake``: look at the store now
(the command line changed jobs); ``backend``: a technician's request carried out on a
backend's own link, queued behind and before its jobs (Space takes one PMS connection, and
the service holds it).
"""

from collections.abc import Callable, Mapping
from typing import Any

from appliance.control import wire
from appliance.control.server import Handler
from appliance.engine.backend import Backend, BackendFailure


class ControlHandlers:
    def __init__(self, status: Callable[[], dict[str, Any]], wake: Callable[[], None],
                 backends: Mapping[str, Backend]) -> None:
        self._status = status
        self._wake = wake
        self.backends = backends

    def table(self) -> dict[str, Handler]:
        return {"status": self.status, "wake": self.wake, "backend": self.backend}

    async def status(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._status()

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
        try:
            return await backend.tool(str(request.get("verb")), dict(request.get("args") or {}))
        except BackendFailure as failure:
            raise wire.ControlRefused(failure.message, {
                "code": failure.code, "hint": failure.hint,
                "may_have_run": failure.may_have_run}) from failure
