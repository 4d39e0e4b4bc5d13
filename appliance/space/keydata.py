"""A Space key's data, prepared when the booking is confirmed: rooms, authorizations, card
lines and the local times Space gets.

Prepared and stored in advance so the desk can cut a card while the PMS is away, and so a
change (a new departure date, another product) is seen as a change of the key.

Times: the key starts on the arrival day at the check-in time (the product's, else the
administration's in its time zone, else [site]'s in the site's) and ends on the departure
day at the check-out time; without such a time the PMS's instant is used as sent. Space
takes minutes (``hhmmDDMMYY``): seconds are dropped, never rounded up, and every field that
lost some is named in ``rounded`` so the PMS can see it.
"""

import dataclasses
import datetime
import zoneinfo

from appliance.config import Site
from appliance.engine.backend import Holder
from appliance.engine.stay import WallTime, first, key_times, site_times
from appliance.space.data import SpaceKeyData
from appliance.space.rules import MAX_CARDS, KeyType, Product, SpaceRules
from appliance.space.settings import Administration
from appliance.space.text import to_ascii

MAX_ROOMS = 4  # a key carries a main room and up to three more (CN fields 3-6)
# hhmmDDMMYY has a two-digit year: keys are held inside this century ("forever" ends here).
EARLIEST = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
LATEST = datetime.datetime(2099, 12, 31, tzinfo=datetime.UTC)
LINE_CHARS = 24  # a printed card line
WIRE_FORMAT = "%Y-%m-%dT%H:%M"


def stay(holder: Holder, product: Product | None, admin: Administration,
         site: Site) -> tuple[datetime.datetime, datetime.datetime]:
    """The key's start and end, aware (``engine/stay.py``): the product's time, else the
    administration's, else the site's, else the PMS's instant as it came."""
    holder = dataclasses.replace(holder, valid_from=_held(holder.valid_from),
                                 valid_until=_held(holder.valid_until))
    site_in, site_out = site_times(site)
    zone = admin.timezone  # a product's or administration's time is in Space's wall time
    check_in = first(WallTime(product.start_time if product else "", zone),
                     WallTime(admin.settings.check_in_time, zone), site_in)
    check_out = first(WallTime(product.end_time if product else "", zone),
                      WallTime(admin.settings.check_out_time, zone), site_out)
    return key_times(holder, check_in, check_out)


def _held(instant: datetime.datetime) -> datetime.datetime:
    return min(max(instant, EARLIEST), LATEST)


def wire(moment: datetime.datetime, timezone: str) -> str:
    """The administration's wall time Space gets, to the minute."""
    return moment.astimezone(zoneinfo.ZoneInfo(timezone)).strftime(WIRE_FORMAT)


def prepare(holder: Holder, rooms: list[str], kind: KeyType | None, product: Product | None,
            rules: SpaceRules, admin: Administration,
            times: tuple[datetime.datetime, datetime.datetime]) -> SpaceKeyData:
    """Everything a card or mobile key of this key needs."""
    start, end = times
    names = kind.authorizations if kind else ()
    values = _placeholders(holder, rooms, times, admin.timezone)
    if holder.print_info:  # the PMS's own lines (an owner key), printed as sent
        printed = [_ascii(line)[:LINE_CHARS] for line in holder.print_info]
    else:
        printed = [_line(line, values) for line in (kind.print_info if kind else ())]
    plate = _ascii(holder.license_plate)
    mode = admin.settings.license_plate
    if mode == "print_info" and plate:
        printed = [*printed[:2], plate[:LINE_CHARS]]  # the last line, the third at most
    # Space takes no empty line between printed ones (a guest without a name): a space.
    while printed and not printed[-1].strip():
        printed.pop()
    printed = [line if line.strip() else " " for line in printed]
    return SpaceKeyData(
        administration=admin.id, rooms=tuple(rooms[:MAX_ROOMS]), authorizations=tuple(names),
        granted=rules.numbers(names), print_info=tuple(printed),
        space_valid_from=wire(start, admin.timezone),
        space_valid_until=wire(end, admin.timezone),
        rounded=tuple(field for field, moment in (("valid_from", start), ("valid_until", end))
                      if moment.second or moment.microsecond),
        max_cards=kind.max_cards if kind else MAX_CARDS,
        mobile_message=(kind.mobile_message if kind else "").format_map(values)[:256],
        phone=holder.phone, auth_code=plate if mode == "auth_code" else "",
        product=product.name if product else "", key_type=kind.name if kind else "")


def _placeholders(holder: Holder, rooms: list[str],
                  times: tuple[datetime.datetime, datetime.datetime],
                  timezone: str) -> dict[str, str]:
    zone = zoneinfo.ZoneInfo(timezone)
    times = (times[0].astimezone(zone), times[1].astimezone(zone))
    return {"guest": holder.name, "holder": holder.name,
            "booking": holder.booking_id or holder.owner_key_id or "",
            "rooms": ", ".join(rooms), "arrival": times[0].strftime("%d-%m-%Y %H:%M"),
            "departure": times[1].strftime("%d-%m-%Y %H:%M"), "plate": holder.license_plate}


def _line(line: str, values: dict[str, str]) -> str:
    return _ascii(line.format_map(values))[:LINE_CHARS]


def _ascii(text: str) -> str:
    """Transliterated before cutting to length: "ß" becomes two characters."""
    return to_ascii(text).decode("ascii")


def deliver_at(product: Product | None, holder: Holder, start: datetime.datetime
               ) -> float | None:
    """When the product's automatic mobile key is due (epoch seconds; 0: at once)."""
    if product is None or product.mobile == "off":
        return None
    if product.mobile == "check_in":
        return 0.0 if holder.status == "CHECKED_IN" else None
    return (start - datetime.timedelta(days=product.mobile_days_before)).timestamp()


def from_wire(text: str) -> datetime.datetime:
    """A stored wire time as the naive local datetime the protocol layer takes."""
    return datetime.datetime.strptime(text, WIRE_FORMAT)
