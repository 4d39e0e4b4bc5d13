"""Reading request bodies the way the Connect API does: typed fields, 400/1101 otherwise."""

import datetime
from typing import Any

from simulators.ks.clock import parse_instant
from simulators.ks.errors import invalid_value


def text(body: dict[str, Any], key: str) -> str | None:
    """A string field or null/absent (None)."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid_value("The value of '%s' is not valid." % key)
    return value


def flag(body: dict[str, Any], key: str, default: bool) -> bool:
    """A boolean field, ``default`` when absent."""
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise invalid_value("The value of '%s' is not valid." % key)
    return value


def instant(body: dict[str, Any], key: str) -> datetime.datetime | None:
    """An ISO-8601 instant (no offset: UTC) or null/absent (None)."""
    value = body.get(key)
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return parse_instant(value)
    except ValueError:
        pass
    raise invalid_value("The value of '%s' is not valid." % key)


def ids(body: dict[str, Any], key: str) -> list[str]:
    """A list of id strings (absent: empty), lower-cased as the store keeps them."""
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid_value("The value of '%s' is not valid." % key)
    return [item.lower() for item in value]
