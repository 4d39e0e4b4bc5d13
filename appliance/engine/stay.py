"""When a booking's keys start and end: the PMS's instants, moved to the site's check-in and
check-out times where its configuration sets them.

One rule for every backend, so a booking's card and its PINs start and end together unless
the configuration says otherwise. Which wall time wins is each backend's to say, most
specific first (Space: the product, the administration, then [site]; KS: the key type, then
[site]); this module takes the winner and its zone. What it does with it:

- the key starts on the arrival's local day at the check-in time, and ends on the
  departure's local day at the check-out time, in that time's zone;
- a side without a time keeps the PMS's instant as sent;
- a stay that would end before it starts (a day visit leaving before check-in time) keeps
  both of the PMS's instants, so no key is ever empty;
- an owner key keeps its exact instants: the owner said when.
"""

import dataclasses
import datetime
import zoneinfo

from appliance.config import Site
from appliance.config.times import wall_time
from appliance.engine.backend import Holder

Stay = tuple[datetime.datetime, datetime.datetime]


@dataclasses.dataclass(frozen=True)
class WallTime:
    """A check-in or check-out time as configured ("14:00"; "": none) and its IANA zone."""

    text: str
    zone: str

    def on_day(self, instant: datetime.datetime) -> datetime.datetime:
        """This time on ``instant``'s local day; ``instant`` itself without a time."""
        hours_minutes = wall_time(self.text) if self.text else None
        if hours_minutes is None:
            return instant
        zone = zoneinfo.ZoneInfo(self.zone)
        try:
            day = instant.astimezone(zone).date()
        except OverflowError:  # year 1 or 9999 moved past the calendar: no day to move to
            return instant
        return datetime.datetime.combine(day, datetime.time(*hours_minutes), zone)


def first(*choices: WallTime) -> WallTime:
    """The first time that is set, most specific first; none (keep the instant) if none is."""
    return next((choice for choice in choices if choice.text), WallTime("", "UTC"))


def site_times(site: Site) -> tuple[WallTime, WallTime]:
    """``[site] check_in_time`` and ``check_out_time``, in ``[site] timezone``."""
    return (WallTime(site.check_in_time, site.timezone),
            WallTime(site.check_out_time, site.timezone))


def key_times(holder: Holder, check_in: WallTime, check_out: WallTime) -> Stay:
    """The key's start and end, aware: see the module's rules."""
    exact = (holder.valid_from, holder.valid_until)
    if holder.owner_key_id is not None:
        return exact
    start, end = check_in.on_day(holder.valid_from), check_out.on_day(holder.valid_until)
    return exact if end <= start else (start, end)
