"""The technician's requests to a Space server (``keybridge space ping|encode|copy|read|
checkout|mobile|audit``, and ``survey``'s exchanges), from plain arguments: the command line
asks Space with them itself, or hands them to the running service, which asks on its own link.

Arguments are JSON-shaped (the control channel carries them): times are local wall times as
``2026-07-01T14:00`` text or datetimes.
"""

import datetime
from collections.abc import Awaitable, Callable
from typing import Any

from appliance.space import survey
from appliance.space.commands import SpaceCommands

HARMLESS = ("ping", "read", "audit")
"""Requests that change nothing in Space: safe to repeat whatever happened."""


def _moment(value: Any) -> datetime.datetime | None:
    if value is None or isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(str(value))


def _rooms(args: dict[str, Any]) -> list[str]:
    rooms = args["room"]
    return [rooms] if isinstance(rooms, str) else list(rooms)


Verb = Callable[[SpaceCommands, dict[str, Any]], Awaitable[Any]]
VERBS: dict[str, Verb] = {
    "ping": lambda c, a: c.ping(),
    "encode": lambda c, a: c.encode(a["encoder"], _rooms(a), _moment(a.get("valid_from")),
                                    _moment(a.get("valid_until")), int(a.get("count", 1)),
                                    granted=list(a.get("auth") or [])),
    "copy": lambda c, a: c.encode(a["encoder"], _rooms(a), _moment(a.get("valid_from")),
                                  _moment(a.get("valid_until")), int(a.get("count", 1)),
                                  copy=True, granted=list(a.get("auth") or [])),
    "read": lambda c, a: c.read(a["encoder"]),
    "checkout": lambda c, a: c.check_out(a["room"] if isinstance(a["room"], str)
                                         else a["room"][0]),
    "mobile": lambda c, a: c.mobile(a["phone"], _rooms(a), _moment(a.get("valid_from")),
                                    _moment(a.get("valid_until")), copy=bool(a.get("copy")),
                                    message=str(a.get("message") or ""),
                                    binary=bool(a.get("binary"))),
    "audit": lambda c, a: c.audit(a["door"]),
    "exchange": lambda c, a: _exchange(c, a["fields"]),
}


async def _exchange(desk: SpaceCommands, fields: list[str]) -> list[str]:
    """``keybridge space survey``'s one request as fields, through the service's link."""
    reply = await survey.exchange(desk.client, [field.encode("latin-1") for field in fields])
    return [field.decode("latin-1") for field in reply]


async def run(desk: SpaceCommands, verb: str, args: dict[str, Any]) -> Any:
    """Carry out ``verb``; raises KeyError for a verb there is not, SpaceError as Space does."""
    return await VERBS[verb](desk, args)
