"""A door's audit trail read as door events: when each record happened, what it means, and
which records are new since the last walk. No I/O here; ``doorevents.py`` walks and stores.

Space writes a record's date without a year, ``dd/mm`` or ``mm/dd`` as its interface is set
up (§4.1), and its time to the minute. The trail has no record ids, and two records of one
card at one door in one minute are alike: what was delivered is remembered as the trail's
*top* (every record of the newest minute, then the record before them), and the records
walked before the top shows up again are the new ones.
"""

import dataclasses
import datetime
import zoneinfo

import protocol

FUTURE_SLACK = datetime.timedelta(days=2)
"""A record this far ahead of our clock is still this year: Space's clock may be set apart
from ours (the demo day moves it to tomorrow morning); a record almost a year old is never
read again once the trail has been walked."""
TOP_MAX = 20
"""Records of one minute kept in the top; more in one minute than this cannot all be told
apart from older alike ones."""

# Incident (field 4, §4.3): granted, category, detail.
INCIDENTS = {
    "0": (True, "opened", None),
    "1": (False, "rejected", "incident_1"),
    "2": (False, "rejected", "invalid_key"),
    "3": (False, "rejected", "access_denied"),
    "4": (False, "rejected", "expired_key"),
    "5": (False, "rejected", "anti_passback"),
}
# Field 7 (§4.3): what opened, beyond a guest's key (#0 #1 #2 #D, @1 one-shot).
ACCESS_BY = {"S1": "spare_card", "S2": "switch", "S3": "online"}
STAFF_ID = "STAFF"
DIRECTIONS = {"I": "in", "O": "out"}  # field 5: the reader at the door's entrance or exit


@dataclasses.dataclass(frozen=True)
class Line:
    """One audit record as text, as Space wrote it (the card's padding stripped)."""

    date: str
    time: str
    incident: str
    direction: str
    card: str
    copy: str
    user: str

    @classmethod
    def of(cls, record: protocol.AuditRecord) -> "Line":
        def text(data: bytes) -> str:
            return data.decode("latin-1")
        return cls(text(record.date), text(record.time), text(record.incident),
                   text(record.direction), text(record.card).strip(), text(record.copy),
                   text(record.user))

    def to_json(self) -> list[str]:
        return [self.date, self.time, self.incident, self.direction, self.card, self.copy,
                self.user]

    @classmethod
    def from_json(cls, data: list[str]) -> "Line":
        return cls(*data)

    @property
    def minute(self) -> tuple[str, str]:
        return self.date, self.time

    @property
    def room(self) -> str | None:
        """The guest's room: field 6 names it, except for staff and spare cards (§4.3)."""
        if not self.card or self.card == STAFF_ID or self.copy in ("S1", "S2", "S3"):
            return None
        return self.card


def wall_time(line: Line, order: str, now: datetime.datetime) -> datetime.datetime | None:
    """When the record happened, in ``now``'s time zone; None if its date is no date.

    The year is the latest that does not put the record in the future (a December record
    read in January is last year's; 29/02 goes back to the last leap year).
    """
    first, _, second = line.date.partition("/")
    hours, _, minutes = line.time.partition(":")
    day, month = (first, second) if order == "dd/mm" else (second, first)
    if not all(part.isascii() and part.isdigit() for part in (day, month, hours, minutes)):
        return None
    for year in range(now.year, now.year - 5, -1):
        try:
            moment = now.replace(year=year, month=int(month), day=int(day), hour=int(hours),
                                 minute=int(minutes), second=0, microsecond=0)
        except ValueError:
            continue
        if moment <= now + FUTURE_SLACK:
            return _normalised(moment)
    return None


def _normalised(moment: datetime.datetime) -> datetime.datetime:
    """A wall time that a clock change skipped becomes the instant it means."""
    zone = moment.tzinfo
    if isinstance(zone, zoneinfo.ZoneInfo):
        return moment.astimezone(datetime.UTC).astimezone(zone)
    return moment


@dataclasses.dataclass(frozen=True)
class Top:
    """The newest records of a trail as last walked: the newest minute's, then the one
    before them (``ended``: the trail had none before them)."""

    lines: tuple[Line, ...]
    ended: bool

    def to_json(self) -> dict[str, object]:
        return {"lines": [line.to_json() for line in self.lines], "ended": self.ended}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> "Top":
        lines = data.get("lines")
        assert isinstance(lines, list)
        return cls(tuple(Line.from_json(line) for line in lines), bool(data.get("ended")))


def top_of(walked: list[Line], ended: bool) -> Top | None:
    """The top of a trail walked newest first; None until the walk has gone past the newest
    minute (or the trail ``ended``)."""
    if not walked:
        return Top((), True) if ended else None
    count = 0
    while count < len(walked) and walked[count].minute == walked[0].minute:
        count += 1
    if count < len(walked) or count >= TOP_MAX:
        return Top(tuple(walked[:min(count + 1, TOP_MAX)]), False)
    return Top(tuple(walked), True) if ended else None


def new_lines(walked: list[Line], top: Top, ended: bool) -> list[Line] | None:
    """The records walked before ``top`` shows up again, newest first; None while it has
    not (yet). A top that reached the end of the trail matches only at its end."""
    size = len(top.lines)
    if top.ended and not ended:
        return None
    if len(walked) < size or tuple(walked[len(walked) - size:]) != top.lines:
        return None
    return walked[:len(walked) - size]


def without(lines: list[Line], delivered: tuple[Line, ...]) -> list[Line]:
    """``lines`` less one of each ``delivered`` record (alike records count each)."""
    left = list(delivered)
    kept = []
    for line in lines:
        if line in left:
            left.remove(line)
        else:
            kept.append(line)
    return kept


def _unknown(incident: str) -> tuple[bool, str, str | None]:
    """A code the notes do not list: not known to have opened, and passed on as it came."""
    return False, "unknown", ("incident_" + incident) if incident else None


def describe(line: Line) -> dict[str, object]:
    """The Space-specific fields of a door event, with what the incident means."""
    granted, category, detail = INCIDENTS.get(line.incident) or _unknown(line.incident)
    access_by = "staff_card" if line.card == STAFF_ID else ACCESS_BY.get(line.copy, "key")
    # Not the staff member's name (field 8): the PMS needs what happened, not who works here.
    return {"granted": granted, "category": category, "detail": detail,
            "incident": line.incident, "direction": DIRECTIONS.get(line.direction),
            "room": line.room, "copy": line.copy or None, "access_by": access_by}
