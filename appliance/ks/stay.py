"""A key's stay in the shapes KS wants: our reference, the guest's expiry, the schedule.

Model B of the notes (§3.5): one access group per key whose time schedule is the exact stay,
so the lock itself enforces arrival and departure and a PIN can be issued days ahead.
The schedule is a continuous window: every weekday, 00:00:00 to 23:59:59 each day, bounded by
``start_date``/``end_date``, which KS reads as naive wall-clock time of the SITE (§2.9).
Putting the hours into ``start_time``/``end_time`` instead would make a daily window and lock
guests out overnight.
"""

import datetime
from typing import Any

from appliance.engine.backend import KeyRow

REFERENCE_PREFIX = "kb:"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_DAY = ("00:00:00", "23:59:59")


def reference(site: str, key_id: str) -> str:
    """Our name for a key's guest (alias) and access group (customer_reference).

    KS has no idempotency keys; this is what every step is looked up by before it is
    repeated. The appliance's site id keeps two appliances on one KS site apart.
    """
    return "%s%s:%s" % (REFERENCE_PREFIX, site, key_id)


def ours(site: str, name: str | None) -> bool:
    return bool(name) and str(name).startswith("%s%s:" % (REFERENCE_PREFIX, site))


def key_id_of(name: str) -> str:
    return name.rsplit(":", 1)[-1]


LAST_DAY = datetime.datetime(9999, 12, 30, tzinfo=datetime.UTC)
"""An owner key valid "forever" (9999-12-31) cannot be moved to a zone east of UTC."""


def _moment(instant: str | datetime.datetime, zone: datetime.tzinfo) -> datetime.datetime:
    moment = (instant if isinstance(instant, datetime.datetime)
              else datetime.datetime.fromisoformat(instant))
    return min(moment, LAST_DAY).astimezone(zone)


def parse_instant(text: Any) -> datetime.datetime | None:
    """An instant as KS writes it (``…Z``; naive means UTC), or None if unreadable."""
    try:
        moment = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)


def local_text(instant: str | datetime.datetime, zone: datetime.tzinfo) -> str:
    """``2026-11-21T14:00:00+00:00`` → ``2026-11-21T15:00:00`` in Europe/Amsterdam."""
    return _moment(instant, zone).replace(tzinfo=None).isoformat(timespec="seconds")


def utc_text(instant: str | datetime.datetime) -> str:
    return _moment(instant, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def schedule_body(key: KeyRow, zone: datetime.tzinfo) -> dict[str, Any]:
    body: dict[str, Any] = {day: True for day in DAYS}
    body.update(start_time=ALL_DAY[0], end_time=ALL_DAY[1],
                start_date=local_text(key.valid_from, zone),
                end_date=local_text(key.valid_until, zone))
    return body


def schedule_matches(found: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether a schedule KS returned is the one we want (KS may add fractions or an offset)."""
    if not all(found.get(day) is True for day in DAYS):
        return False
    for field in ("start_time", "end_time"):
        if str(found.get(field, ""))[:5] != wanted[field][:5]:
            return False
    return all(str(found.get(field, ""))[:19] == wanted[field]
               for field in ("start_date", "end_date"))
