"""The command line's read-only views (``appliance.store.views``): from the running service
when it answers, so a member of the ``keybridge`` group needs neither the store's folder nor
the key file; from the store itself when the service is stopped."""

from typing import Any

from appliance.config import Config
from appliance.control import client, wire
from appliance.store import open_for_reading
from appliance.store.views import VIEWS

TIMEOUT_S = 30.0


def view(config: Config, name: str, **args: Any) -> Any:
    """``name``'s data; ``args`` as JSON values (the running service gets them as sent)."""
    try:
        return client.ask(config.service.control_socket, "view", timeout_s=TIMEOUT_S,
                          view=name, args=args)
    except wire.NotRunning:
        return local(config, name, **args)


def local(config: Config, name: str, **args: Any) -> Any:
    """``name``'s data read from the store itself (the service is stopped)."""
    with open_for_reading(config) as store:
        return VIEWS[name](store.read, args)
