"""Time schedules: what the API accepts, how it normalises it, and when a lock says yes.

Measured (notes §3.1 #18, §2.9): one boolean per weekday (a ``days`` array is not a field
and leaves no day selected -> 400/1101 "At least one day should be selected"), daily
``start_time``/``end_time`` as "HH:mm:ss" with ``end_time`` seconds normalised to 59, and
``start_date``/``end_date`` as naive wall-clock date-times that the IQ enforces in the
site's local time. Unknown fields are ignored, as the real API ignored ``days``.

Simulator choices where the notes are silent ([U]): a date with a UTC offset or ``Z`` is
refused with 400/1101 (send site-local wall time, the one format known to work), and a
daily window whose end is before its start runs overnight into the next day.
"""

import datetime
import re
from typing import Any

from simulators.ks.errors import invalid_value
from simulators.ks.model import WEEKDAYS, ScheduleVersion

_TIME = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2}))?$")
LOCAL_FORMAT = "%Y-%m-%dT%H:%M:%S"


def parse_schedule(body: dict[str, Any], base: ScheduleVersion | None = None
                   ) -> ScheduleVersion:
    """The schedule ``body`` describes, on top of ``base`` for a PATCH.

    Raises:
        KsError: 400/1101 for a bad value or no weekday selected.
    """
    days = list(base.days) if base else [False] * 7
    for index, day in enumerate(WEEKDAYS):
        if day in body:
            if not isinstance(body[day], bool):
                raise invalid_value("The value of '%s' is not valid." % day)
            days[index] = body[day]
    if not any(days):
        raise invalid_value("At least one day should be selected")
    start_time = _time(body, "start_time", base.start_time if base else "00:00:00")
    end_time = _time(body, "end_time", base.end_time if base else "23:59:59")[:6] + "59"
    start_date = _local(body, "start_date", base.start_date if base else None)
    end_date = _local(body, "end_date", base.end_date if base else None)
    if start_date and end_date and start_date > end_date:
        raise invalid_value("The end date must be after the start date.")
    return ScheduleVersion(tuple(days), start_time, end_time, start_date, end_date)


def _time(body: dict[str, Any], key: str, default: str) -> str:
    value = body.get(key, default)
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59 or int(match[3] or 0) > 59:
        raise invalid_value("The value of '%s' is not valid: write HH:mm:ss." % key)
    return "%s:%s:%s" % (match[1], match[2], match[3] or "00")


def _local(body: dict[str, Any], key: str, default: str | None) -> str | None:
    if key not in body:
        return default
    value = body[key]
    if value is None:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise invalid_value("The value of '%s' is not valid." % key)
    if parsed.tzinfo is not None:
        raise invalid_value("The value of '%s' is not valid: send the site's local wall time "
                            "without offset (YYYY-MM-DDTHH:MM:SS)." % key)
    return parsed.strftime(LOCAL_FORMAT)


def allows(version: ScheduleVersion, local: datetime.datetime) -> bool:
    """Whether the schedule opens at the naive site-local time ``local``."""
    if version.start_date and local < datetime.datetime.fromisoformat(version.start_date):
        return False
    if version.end_date and local > datetime.datetime.fromisoformat(version.end_date):
        return False
    clock = local.strftime("%H:%M:%S")
    start, end = version.start_time, version.end_time
    if start <= end:
        return version.days[local.weekday()] and start <= clock <= end
    if clock >= start:  # the evening part of an overnight window
        return version.days[local.weekday()]
    return clock <= end and version.days[(local.weekday() - 1) % 7]
