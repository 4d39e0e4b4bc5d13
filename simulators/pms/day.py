"""A campsite's day at the front desk, as data: what the PMS sends and what it must get back.

Three rooms of ``config/space-sim.toml`` carry the day (the units of ``config/demo.toml``):

- P12 (Pitch 12): the Jansens, confirmed the day before; they check in, get two cards, a copy
  for the kids, the desk reads one back, and they leave the next morning (COMPLETED).
- P14 (Pitch 14): the Müllers, confirmed the day before, move their departure (revision 2);
  revision 1 arrives again late and must be ignored (stale). Their card is cut at the second
  encoder, addressed by its Space name; the PMS re-sends that command with the same request_id
  (a retry after a lost reply), which must change nothing. They leave early (CANCELLED).
- C3 (Chalet 3): the Peeters cancel before they arrive; the chalet is sold the same day to
  Nowak, who gets a JustIN Mobile key on a phone registered with Space and leaves the next
  morning.

The same units are in ``[ks.units]``: every confirmed booking also gets two Salto KS PINs
(``[[ks.key_types]]``: "stay" for its unit and the main gate, "showers" for the shower
block), moved with the Müllers' dates (``key_updated``, the same PIN) and deleted when the
stay ends or is cancelled. ``Keypad`` steps play the guest typing a PIN at a KS lock (the KS
simulator's keypad): the Jansens' PIN is refused before their arrival, opens their pitch,
the main gate and (the shower PIN) the shower block during the stay, and is refused once
they have checked out.

Booking ids and request ids carry a run tag, so a second run against the same appliance is a
new day rather than a pile of stale revisions and repeated request ids.
"""

import dataclasses
import datetime
import unicodedata
import zoneinfo
from collections.abc import Mapping
from typing import Any

ZONE = "Europe/Amsterdam"  # the demo site's [site] timezone; the instants carry their offset
DESK_1 = "desk-1"  # [[encoders]] id in config/demo.toml
DESK_2_NAME = "Online Encoder 2"  # an encoder addressed by its Space name instead
PHONE = "+31612345678"  # registered with JustIN Mobile in config/space-sim.toml
KEY_TYPES = ("stay", "showers")  # [[ks.key_types]] names in config/demo.toml

DESK = ("accepted", "ok")  # a desk command: stored, then done
STORED = ("accepted",)  # booking state: stored, the work follows as events


@dataclasses.dataclass(frozen=True)
class Expect:
    """An event the step must cause: its type and fields it must carry (None: any type)."""

    type: str | None
    match: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def matches(self, event: Mapping[str, Any]) -> bool:
        if self.type is not None and event.get("type") != self.type:
            return False
        return all(event.get(key) == value for key, value in self.match.items())


@dataclasses.dataclass(frozen=True)
class Step:
    """One command and what must come back.

    ``replies``: the reply statuses, in order. ``stale``: the ok reply says data.stale.
    ``error``: (code, field) of the error reply. ``repeat``: the request_id was sent before;
    one reply must come, equal to one already received for it (whichever the appliance kept).
    """

    title: str
    command: str
    payload: dict[str, Any]
    replies: tuple[str, ...] = STORED
    events: tuple[Expect, ...] = ()
    stale: bool = False
    error: tuple[str, str] | None = None
    repeat: bool = False

    @property
    def request_id(self) -> str:
        return str(self.payload.get("request_id"))


@dataclasses.dataclass(frozen=True)
class Tally:
    """At the end of the day: exactly ``count`` events match ``expect``."""

    title: str
    expect: Expect
    count: int


@dataclasses.dataclass(frozen=True)
class Keypad:
    """A guest types the PIN of ``booking_id``'s ``key_type`` key at a KS lock at ``at``
    (an instant with offset); the lock must open, or refuse when ``opens`` is false."""

    title: str
    booking_id: str
    key_type: str
    lock: str
    at: str
    opens: bool


@dataclasses.dataclass(frozen=True)
class Day:
    steps: list[Step | Keypad]
    tallies: list[Tally]

    @property
    def commands(self) -> list[Step]:
        return [step for step in self.steps if isinstance(step, Step)]

    @property
    def keypads(self) -> list[Keypad]:
        return [step for step in self.steps if isinstance(step, Keypad)]


class _Clock:
    """Instants on the site's calendar: ``at(1, 11)`` is tomorrow 11:00 local, with offset."""

    def __init__(self, today: datetime.date) -> None:
        self.today = today
        self.zone = zoneinfo.ZoneInfo(ZONE)

    def at(self, days: int, hour: int, minute: int = 0) -> str:
        day = self.today + datetime.timedelta(days=days)
        moment = datetime.datetime.combine(day, datetime.time(hour, minute), self.zone)
        return moment.isoformat()


def _booking(bid: str, revision: int, status: str, units: list[str], stay: tuple[str, str],
             guest: str, **more: Any) -> dict[str, Any]:
    mailbox = unicodedata.normalize("NFKD", guest).encode("ascii", "ignore").decode().lower()
    return {"booking": {
        "id": bid, "revision": revision, "status": status, "arrival": stay[0],
        "departure": stay[1], "units": units, "type": "pitch" if units[0][0] == "P" else "chalet",
        "guest": {"name": guest, "email": "%s@example.org" % mailbox}, **more}}


def _pins(kind: str, booking: str, **match: Any) -> tuple[Expect, ...]:
    """The ``kind`` event of each of the booking's KS PINs (one per key type)."""
    return tuple(Expect(kind, {"booking_id": booking, "backend": "ks", "key_type": key_type,
                               **match}) for key_type in KEY_TYPES)


def build(tag: str, today: datetime.date) -> Day:
    """The day for run ``tag`` (a few characters), with stays around ``today``."""
    clock = _Clock(today)
    jansen, muller, peeters, nowak = ("B%s-%d" % (tag, n) for n in range(1, 5))
    stay = (clock.at(0, 14), clock.at(3, 11))
    car = {"license_plate": "NL-12-AB", "extras": ["electricity", "dog"]}
    muller_stay = (clock.at(0, 15), clock.at(2, 11))
    muller_longer = (clock.at(0, 15), clock.at(4, 11))
    nowak_stay = (clock.at(0, 16), clock.at(1, 11))
    muller_rev1 = _booking(muller, 1, "CONFIRMED", ["P14"], muller_stay, "Müller")
    encode_muller = {"booking_id": muller, "encoder": DESK_2_NAME}
    steps: list[Step | Keypad] = [
        Step("day before: the Jansens confirm Pitch 12 (two KS PINs for their mail)", "booking",
             _booking(jansen, 1, "CONFIRMED", ["P12"], stay, "Jansen", **car),
             events=_pins("key_issued", jansen)),
        Step("day before: the Müllers confirm Pitch 14", "booking", muller_rev1,
             events=_pins("key_issued", muller)),
        Step("day before: the Peeters confirm Chalet 3", "booking",
             _booking(peeters, 1, "CONFIRMED", ["C3"], stay, "Peeters"),
             events=_pins("key_issued", peeters)),
        Step("08:00 is Space there?", "test_connection", {"backend": "space"}, DESK),
        Step("08:01 is Salto KS there?", "test_connection", {"backend": "ks"}, DESK),
        Step("08:30 the Müllers stay two nights longer (revision 2): same PINs, new dates",
             "booking", _booking(muller, 2, "CONFIRMED", ["P14"], muller_longer, "Müller"),
             events=_pins("key_updated", muller, valid_until=muller_longer[1])),
        Step("08:31 revision 1 arrives late: stale, ignored", "booking", muller_rev1, ("ok",),
             stale=True),
        Step("09:15 the Peeters cancel before arrival: their PINs are deleted", "booking",
             _booking(peeters, 2, "CANCELLED", ["C3"], stay, "Peeters"),
             events=_pins("key_revoked", peeters)),
        Step("10:40 Chalet 3 sold again: Nowak, confirmed on the day", "booking",
             _booking(nowak, 1, "CONFIRMED", ["C3"], nowak_stay, "Nowak"),
             events=_pins("key_issued", nowak)),
        Keypad("13:30 the Jansens are early: Pitch 12 refuses their PIN before 14:00", jansen,
               "stay", "Pitch 12", clock.at(0, 13, 30), opens=False),
        Step("14:05 the Jansens check in", "booking",
             _booking(jansen, 2, "CHECKED_IN", ["P12"], stay, "Jansen", **car)),
        Step("14:06 two cards for the Jansens", "encode_card",
             {"booking_id": jansen, "encoder": DESK_1, "count": 2}, DESK,
             (Expect("card_encoded", {"booking_id": jansen, "count": 2, "copy": False}),)),
        Step("14:08 one more, a copy for the kids", "encode_card",
             {"booking_id": jansen, "encoder": DESK_1, "copy": True}, DESK,
             (Expect("card_encoded", {"booking_id": jansen, "count": 1, "copy": True}),)),
        Step("14:09 read the card on desk-1 back", "read_card", {"encoder": DESK_1}, DESK,
             (Expect("card_read", {"room": "Pitch 12", "booking_id": jansen}),)),
        Step("15:10 the Müllers' card, at the second encoder by its Space name", "encode_card",
             encode_muller, DESK,
             (Expect("card_encoded", {"booking_id": muller, "count": 1, "copy": False}),)),
        Step("15:11 the PMS lost that reply and sends the same request again", "encode_card",
             encode_muller, (), repeat=True),
        Step("16:05 a JustIN Mobile key for Nowak", "send_mobile_key",
             {"booking_id": nowak, "phone": PHONE}, DESK,
             (Expect("key_issued", {"booking_id": nowak, "backend": "space"}),)),
        Step("16:30 a slip of the finger: eleven cards", "encode_card",
             {"booking_id": jansen, "encoder": DESK_1, "count": 11}, ("error",),
             error=("bad_request", "count")),
        Step("19:45 the Müllers leave early", "booking",
             _booking(muller, 3, "CANCELLED", ["P14"], muller_longer, "Müller"),
             events=(Expect("key_revoked", {"booking_id": muller, "backend": "space"}),
                     *_pins("key_revoked", muller))),
        Keypad("20:15 back from the beach, the Jansens' PIN opens Pitch 12", jansen, "stay",
               "Pitch 12", clock.at(0, 20, 15), opens=True),
        Keypad("20:16 the same PIN opens the Main gate", jansen, "stay", "Main gate",
               clock.at(0, 20, 16), opens=True),
        Keypad("20:30 their shower PIN opens the Shower block", jansen, "showers",
               "Shower block", clock.at(0, 20, 30), opens=True),
        Keypad("20:31 the shower PIN does not open Pitch 12", jansen, "showers", "Pitch 12",
               clock.at(0, 20, 31), opens=False),
        Step("next morning: the Jansens depart", "booking",
             _booking(jansen, 3, "COMPLETED", ["P12"], stay, "Jansen", **car),
             events=(Expect("key_revoked", {"booking_id": jansen, "backend": "space"}),
                     *_pins("key_revoked", jansen))),
        Keypad("next morning 10:30: checked out, the Jansens' PIN no longer opens Pitch 12",
               jansen, "stay", "Pitch 12", clock.at(1, 10, 30), opens=False),
        Step("next morning: Nowak departs", "booking",
             _booking(nowak, 2, "COMPLETED", ["C3"], nowak_stay, "Nowak"),
             events=(Expect("key_revoked", {"booking_id": nowak, "backend": "space"}),
                     *_pins("key_revoked", nowak))),
        Step("night: reconcile", "reconcile", {}, DESK,
             (Expect("reconcile_report", {"backend": "space"}),
              Expect("reconcile_report", {"backend": "ks", "discrepancies": []}))),
    ]
    return Day(_numbered(steps, tag), _tallies(jansen, muller, peeters, bookings=4))


def _numbered(steps: list[Step | Keypad], tag: str) -> list[Step | Keypad]:
    """Request ids in the order sent; a repeat carries the id of the command it repeats."""
    done: list[tuple[dict[str, Any], str]] = []
    numbered: list[Step | Keypad] = []
    for step in steps:
        if isinstance(step, Keypad):
            numbered.append(step)
            continue
        if step.repeat:
            rid = next(rid for payload, rid in reversed(done) if payload == step.payload)
        else:
            rid = "r%s-%02d" % (tag, len(done) + 1)
            done.append((step.payload, rid))
        numbered.append(dataclasses.replace(step, payload={"request_id": rid, **step.payload}))
    return numbered


def _tallies(jansen: str, muller: str, peeters: str, bookings: int) -> list[Tally]:
    """What the whole day must add up to: no second effect from the repeated request, no
    second PIN for a date change, no PIN left in KS when every stay has ended."""
    per_booking = len(KEY_TYPES)
    pins = bookings * per_booking
    return [
        Tally("the Jansens: 2 card_encoded events", Expect("card_encoded", {"booking_id": jansen}),
              2),
        Tally("the Müllers: 1 card_encoded event although asked twice",
              Expect("card_encoded", {"booking_id": muller}), 1),
        Tally("the Peeters: no card cut", Expect("card_encoded", {"booking_id": peeters}), 0),
        Tally("the Peeters: no Space key issued",
              Expect("key_issued", {"booking_id": peeters, "backend": "space"}), 0),
        Tally("the Müllers: still %d KS PINs after the date change (updated, not re-issued)"
              % per_booking, Expect("key_issued", {"booking_id": muller, "backend": "ks"}),
              per_booking),
        Tally("KS: %d PINs issued all day, %d per booking" % (pins, per_booking),
              Expect("key_issued", {"backend": "ks"}), pins),
        Tally("KS: all %d revoked at departure or cancellation, none left over" % pins,
              Expect("key_revoked", {"backend": "ks"}), pins),
        Tally("no key_failed all day", Expect("key_failed"), 0),
        Tally("no command_rejected all day", Expect("command_rejected"), 0),
    ]
