"""What the running service answers on its control channel (``appliance/control/``).

``status``: the live view (the retained status and more); ``wake``: look at the store now
(the command line changed jobs).
"""

from collections.abc import Callable, Mapping
from typing import Any

from appliance.control.server import Handler
from appliance.engine.backend import Backend


class ControlHandlers:
    def __init__(self, status: Callable[[], dict[str, Any]], wake: Callable[[], None],
                 backends: Mapping[str, Backend]) -> None:
        self._status = status
        self._wake = wake
        self.backends = backends

    def table(self) -> dict[str, Handler]:
        return {"status": self.status, "wake": self.wake}

    async def status(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._status()

    async def wake(self, request: dict[str, Any]) -> dict[str, Any]:
        self._wake()
        return {}
