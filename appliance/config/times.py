"""Check-in and check-out times as the configuration writes them: ``"14:00"``, a time of
day in a zone the table's owner knows ([site] timezone, or a Space administration's), or
``""`` for none, where the PMS's instant counts as sent.

Shared by ``[site]``, ``[space]``, ``[[space.products]]`` and ``[[ks.key_types]]`` so every
one of them accepts and refuses the same texts with the same fix.
"""

from typing import Any

from appliance.config.schema import Check


def digits(text: str) -> bool:
    """ASCII digits only: "²".isdigit() is true, and int() refuses it."""
    return text.isascii() and text.isdigit()


def wall_time(text: str) -> tuple[int, int] | None:
    """``"14:00"`` as (14, 0); None if it is no HH:MM time."""
    hours, colon, minutes = text.partition(":")
    if not (colon and digits(hours) and digits(minutes) and len(minutes) == 2):
        return None
    if int(hours) > 23 or int(minutes) > 59:
        return None
    return int(hours), int(minutes)


def check_wall_time(empty: str) -> Check:
    """A schema check (``config.schema.Key``): "" or a time of day; ``empty`` says what ""
    stands for in this table (the fix names both choices)."""
    def check(value: Any) -> str | None:
        if value == "" or wall_time(value) is not None:
            return None
        return 'write a time of day such as "14:00", or "" for %s' % empty
    return check
