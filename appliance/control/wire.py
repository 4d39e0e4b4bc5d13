"""The control channel's bytes: one JSON object per line each way (a request at most
``MAX_REQUEST_BYTES``, an answer at most ``MAX_LINE_BYTES``).

Values the service hands back may be records (dataclasses), tuples and datetimes; ``encode``
turns them into JSON the way ``plain`` does, so the command line prints the same thing
whether it asked Space itself or through the service.
"""

import dataclasses
import datetime
import json
from typing import Any

from appliance.errors import KeybridgeError

MAX_LINE_BYTES = 1 << 25
"""An answer: a site's every key listed (``keys --all``) fits."""
MAX_REQUEST_BYTES = 1 << 20


class ControlError(KeybridgeError):
    """The running service could not be asked."""


class NotRunning(ControlError):
    """Nothing answers at the control socket."""


class ControlRefused(ControlError):
    """The service answered with an error; ``details``: what the answer said besides
    (``code``, ``hint``, ``may_have_run`` for a backend's failure)."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


def plain(value: Any) -> Any:
    """``value`` as JSON can hold it: records as objects, datetimes to the minute."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name))
                for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return value


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(plain(message), separators=(",", ":")).encode("utf-8") + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """One message; raises ValueError for anything but a JSON object."""
    found = json.loads(line.decode("utf-8"))
    if not isinstance(found, dict):
        raise ValueError("a control message is a JSON object")
    return found
