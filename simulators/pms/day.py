"""A campsite's day at the front desk, as data: what the PMS sends and what it must get back.

Three rooms of ``config/space-sim.toml`` carry the day (the units of ``config/demo.toml``).
Each booking's Space key comes from the first ``[[space.products]]`` it matches. Every key,
Space card and KS PIN alike, starts at 14:00 on the arrival day and ends at 11:00 on the
departure day (``[site] check_in_time`` and ``check_out_time``), whatever instants the PMS
sends:

- P12 (Pitch 12): the Jansens, confirmed the day before with the extra "pool-pass" (product
  "Pitch with pool pass": barrier, shower block and swimming pool, cards only). They check in,
  get two new cards (their car's licence plate printed as the last line) and a copy for the
  kids, the desk reads the copy back (the appliance names
  their booking), the copy opens the swimming pool; they leave the next morning (COMPLETED:
  Space checks the room out) and the copy handed back reads as checked out (CO) and no longer
  opens the barrier.
- P14 (Pitch 14): the Müllers, confirmed the day before with the label "phone-key" (product
  "Pitch, key on the phone": barrier and shower block, a JustIN Mobile key one day before the
  key starts, so at once). They move their departure (revision 2): the phone key goes again
  with the new dates; revision 1 arrives again late and must be ignored (stale). Their card is
  a copy (the phone key keeps working), cut at the second encoder addressed by its Space name;
  the PMS re-sends that command with the same request_id (a retry after a lost reply), which
  must change nothing. The card opens the barrier but not the swimming pool. A new phone: the
  desk sends the key again. They leave early (CANCELLED).
- C3 (Chalet 3): the Peeters cancel before they arrive (product "Chalet" waits for check-in:
  they never had a Space key); the chalet is sold the same day to Nowak, whose key goes to a
  phone registered with JustIN Mobile by itself at check-in; Nowak leaves the next morning.

The Space doors are the simulator's (``--space-control``): a card of the booking, by the
serial ``card_encoded`` gave, is held to a door with the simulator's clock set to the step's
time; the lock decides as Space would, and the appliance, walking the Barrier's and the
Swimming pool's audit trails, tells the PMS (``door_event``, the booking named, at that
minute). The card handed back is laid on the encoder the same way before the desk reads it.

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
from typing import Any

from simulators.pms.actions import (
    DESK,
    Action,
    CardFace,
    Day,
    Door,
    Expect,
    HandBack,
    Keypad,
    Step,
    Tally,
)

ZONE = "Europe/Amsterdam"  # the demo site's [site] timezone; the instants carry their offset
DESK_1 = "desk-1"  # [[encoders]] id in config/demo.toml
DESK_1_NAME = "Online Encoder 1"  # its Space name, where the simulator lays a card
DESK_2_NAME = "Online Encoder 2"  # an encoder addressed by its Space name instead
PHONE = "+31612345678"  # Nowak's; registered with JustIN Mobile in config/space-sim.toml
MULLER_PHONE = "+34619123456"  # the Müllers'; registered there too
KEY_TYPES = ("stay", "showers")  # [[ks.key_types]] names in config/demo.toml
# [[space.key_types]] of config/demo.toml: what each opens ([space.authorizations] names)
POOL = ["Barrier", "Shower block", "Swimming pool"]  # "pitch-pool"
PITCH = ["Barrier", "Shower block"]  # "pitch"
CHALET = ["Barrier", "Swimming pool"]  # "chalet"
PLATE = "NL-12-AB"  # the Jansens' car



class _Clock:
    """Instants on the site's calendar: ``at(1, 11)`` is tomorrow 11:00 local, with offset."""

    def __init__(self, today: datetime.date) -> None:
        self.today = today
        self.zone = zoneinfo.ZoneInfo(ZONE)

    def at(self, days: int, hour: int, minute: int = 0) -> str:
        day = self.today + datetime.timedelta(days=days)
        moment = datetime.datetime.combine(day, datetime.time(hour, minute), self.zone)
        return moment.isoformat()

    def wall(self, days: int, hour: int, minute: int = 0) -> str:
        """Space's local wall time, as ``space_valid_from`` carries it (``2026-07-01T14:00``)."""
        return self.at(days, hour, minute)[:16]


def _booking(bid: str, revision: int, status: str, units: list[str], stay: tuple[str, str],
             guest: str, *, phone: str = "", **more: Any) -> dict[str, Any]:
    mailbox = unicodedata.normalize("NFKD", guest).encode("ascii", "ignore").decode().lower()
    person = {"name": guest, "email": "%s@example.org" % mailbox}
    if phone:
        person["phone"] = phone
    return {"booking": {
        "id": bid, "revision": revision, "status": status, "arrival": stay[0],
        "departure": stay[1], "units": units, "type": "pitch" if units[0][0] == "P" else "chalet",
        "guest": person, **more}}


def _pins(kind: str, booking: str, **match: Any) -> tuple[Expect, ...]:
    """The ``kind`` event of each of the booking's KS PINs (one per key type)."""
    return tuple(Expect(kind, {"booking_id": booking, "backend": "ks", "key_type": key_type,
                               **match}) for key_type in KEY_TYPES)


def _space(kind: str, booking: str, **match: Any) -> Expect:
    """The ``kind`` event of the booking's Space key."""
    return Expect(kind, {"booking_id": booking, "backend": "space", **match})


def build(tag: str, today: datetime.date) -> Day:
    """The day for run ``tag`` (a few characters), with stays around ``today``."""
    clock = _Clock(today)
    jansen, muller, peeters, nowak = ("B%s-%d" % (tag, n) for n in range(1, 5))
    stay = (clock.at(0, 14), clock.at(3, 11))
    car: dict[str, Any] = {"license_plate": PLATE,
                           "extras": ["electricity", "dog", "pool-pass"]}
    phone_key = {"labels": ["phone-key"]}
    muller_stay = (clock.at(0, 15), clock.at(2, 11))
    muller_longer = (clock.at(0, 15), clock.at(4, 11))
    nowak_stay = (clock.at(0, 16), clock.at(1, 11))
    # Keys run from [site] check_in_time on the arrival day to check_out_time on departure.
    jansen_space = {"space_valid_from": clock.wall(0, 14), "space_valid_until": clock.wall(3, 11)}
    muller_rev1 = _booking(muller, 1, "CONFIRMED", ["P14"], muller_stay, "Müller",
                           phone=MULLER_PHONE, **phone_key)
    muller_rev2 = _booking(muller, 2, "CONFIRMED", ["P14"], muller_longer, "Müller",
                           phone=MULLER_PHONE, **phone_key)
    encode_muller = {"booking_id": muller, "encoder": DESK_2_NAME, "copy": True}
    steps: list[Action] = [
        Step("day before: the Jansens confirm Pitch 12 with a pool pass (two KS PINs for "
             "their mail; their Space key waits for the desk)", "booking",
             _booking(jansen, 1, "CONFIRMED", ["P12"], stay, "Jansen", **car),
             events=_pins("key_issued", jansen)),
        Step("day before: the Müllers confirm Pitch 14 with a phone key: due a day before "
             "14:00 today, so it goes at once (card and PINs from 14:00, though they said "
             "15:00)", "booking", muller_rev1,
             events=(*_pins("key_issued", muller, valid_from=clock.at(0, 14)),
                     _space("key_issued", muller, key_type="pitch", mobile=True,
                            automatic=True, copy=False, phone=MULLER_PHONE,
                            authorizations=PITCH, valid_from=clock.at(0, 14),
                            space_valid_from=clock.wall(0, 14),
                            space_valid_until=clock.wall(2, 11)))),
        Step("day before: the Peeters confirm Chalet 3 (a chalet's Space key waits for "
             "check-in)", "booking",
             _booking(peeters, 1, "CONFIRMED", ["C3"], stay, "Peeters"),
             events=_pins("key_issued", peeters)),
        Step("08:00 is Space there?", "test_connection", {"backend": "space"}, DESK),
        Step("08:01 is Salto KS there?", "test_connection", {"backend": "ks"}, DESK),
        Step("08:30 the Müllers stay two nights longer (revision 2): same PINs, new dates; "
             "the phone key goes again with the new departure", "booking", muller_rev2,
             events=(*_pins("key_updated", muller, valid_until=muller_longer[1]),
                     _space("key_updated", muller, reencode_required=True, modified=False,
                            space_valid_until=clock.wall(4, 11)),
                     _space("key_issued", muller, mobile=True, automatic=True, copy=True,
                            space_valid_until=clock.wall(4, 11)))),
        Step("08:31 revision 1 arrives late: stale, ignored", "booking", muller_rev1, ("ok",),
             stale=True),
        Step("09:15 the Peeters cancel before arrival: their PINs are deleted", "booking",
             _booking(peeters, 2, "CANCELLED", ["C3"], stay, "Peeters"),
             events=_pins("key_revoked", peeters)),
        Step("10:40 Chalet 3 sold again: Nowak, confirmed on the day (PINs now, the Space key "
             "at check-in)", "booking",
             _booking(nowak, 1, "CONFIRMED", ["C3"], nowak_stay, "Nowak", phone=PHONE),
             events=_pins("key_issued", nowak)),
        Keypad("13:30 the Jansens are early: Pitch 12 refuses their PIN before 14:00", jansen,
               "stay", "Pitch 12", clock.at(0, 13, 30), opens=False),
        Step("14:05 the Jansens check in", "booking",
             _booking(jansen, 2, "CHECKED_IN", ["P12"], stay, "Jansen", **car)),
        Step("14:06 two new cards for the Jansens: barrier, showers and pool", "encode_card",
             {"booking_id": jansen, "encoder": DESK_1, "count": 2}, DESK,
             (Expect("card_encoded", {"booking_id": jansen, "count": 2, "copy": False,
                                      "key_type": "pitch-pool", "authorizations": POOL,
                                      **jansen_space}),)),
        CardFace("14:07 the cards carry the car's plate as their last line (license_plate = "
                 "\"print_info\": Space 1.20 prints what the booking sent)", jansen, PLATE,
                 card=0),
        Step("14:08 one more, a copy for the kids", "encode_card",
             {"booking_id": jansen, "encoder": DESK_1, "copy": True}, DESK,
             (Expect("card_encoded", {"booking_id": jansen, "count": 1, "copy": True}),)),
        Step("14:09 read the copy on desk-1 back: the appliance names the booking", "read_card",
             {"encoder": DESK_1}, DESK,
             (Expect("card_read", {"room": "Pitch 12", "booking_id": jansen, "valid": True,
                                   "copy": True, "authorizations": POOL}),)),
        Step("15:10 the Müllers' card, a copy so their phone key keeps working, at the second "
             "encoder by its Space name", "encode_card", encode_muller, DESK,
             (Expect("card_encoded", {"booking_id": muller, "count": 1, "copy": True,
                                      "key_type": "pitch", "authorizations": PITCH}),)),
        Step("15:11 the PMS lost that reply and sends the same request again", "encode_card",
             encode_muller, (), repeat=True),
        Step("16:05 Nowak checks in: the chalet's key goes to the phone by itself", "booking",
             _booking(nowak, 2, "CHECKED_IN", ["C3"], nowak_stay, "Nowak", phone=PHONE),
             events=(_space("key_issued", nowak, key_type="chalet", mobile=True,
                            automatic=True, copy=False, phone=PHONE, authorizations=CHALET),)),
        Step("16:20 the Müllers have a new phone: the desk sends their key again",
             "send_mobile_key", {"booking_id": muller, "phone": MULLER_PHONE}, DESK,
             (_space("key_issued", muller, mobile=True, automatic=False, copy=True,
                     phone=MULLER_PHONE),)),
        Step("16:30 a slip of the finger: eleven cards", "encode_card",
             {"booking_id": jansen, "encoder": DESK_1, "count": 11}, ("error",),
             error=("bad_request", "count")),
        Door("17:30 the kids' copy opens the Swimming pool (pool pass)", jansen,
             "Swimming pool", clock.at(0, 17, 30), opens=True),
        Door("17:32 the Müllers' card does not: no pool pass", muller, "Swimming pool",
             clock.at(0, 17, 32), opens=False),
        Door("17:33 it opens the Barrier", muller, "Barrier", clock.at(0, 17, 33), opens=True),
        Step("19:45 the Müllers leave early: Space checks Pitch 14 out", "booking",
             _booking(muller, 3, "CANCELLED", ["P14"], muller_longer, "Müller",
                      phone=MULLER_PHONE, **phone_key),
             events=(_space("key_revoked", muller, checked_out=True, cards_unusable=True),
                     *_pins("key_revoked", muller))),
        Keypad("20:15 back from the beach, the Jansens' PIN opens Pitch 12", jansen, "stay",
               "Pitch 12", clock.at(0, 20, 15), opens=True),
        Keypad("20:16 the same PIN opens the Main gate", jansen, "stay", "Main gate",
               clock.at(0, 20, 16), opens=True),
        Keypad("20:30 their shower PIN opens the Shower block", jansen, "showers",
               "Shower block", clock.at(0, 20, 30), opens=True),
        Keypad("20:31 the shower PIN does not open Pitch 12", jansen, "showers", "Pitch 12",
               clock.at(0, 20, 31), opens=False),
        Step("next morning the Jansens depart: Space checks Pitch 12 out", "booking",
             _booking(jansen, 3, "COMPLETED", ["P12"], stay, "Jansen", **car),
             events=(_space("key_revoked", jansen, checked_out=True, cards_unusable=True),
                     *_pins("key_revoked", jansen))),
        Keypad("next morning 10:30: checked out, the Jansens' PIN no longer opens Pitch 12",
               jansen, "stay", "Pitch 12", clock.at(1, 10, 30), opens=False),
        HandBack("10:35 the kids hand their copy in at the desk: on Online Encoder 1", jansen,
                 DESK_1_NAME),
        Step("10:36 read it: still the Jansens' card, now checked out (CO)", "read_card",
             {"encoder": DESK_1}, DESK,
             (Expect("card_read", {"room": "Pitch 12", "booking_id": jansen, "valid": False}),)),
        Door("10:40 the first card, kept as a souvenir, no longer opens the Barrier "
             "(checked out, although its 11:00 end has not come)", jansen, "Barrier",
             clock.at(1, 10, 40), opens=False, card=0),
        Step("next morning: Nowak departs", "booking",
             _booking(nowak, 3, "COMPLETED", ["C3"], nowak_stay, "Nowak", phone=PHONE),
             events=(_space("key_revoked", nowak, checked_out=True, cards_unusable=True),
                     *_pins("key_revoked", nowak))),
        Step("night: reconcile", "reconcile", {}, DESK,
             (Expect("reconcile_report", {"backend": "space"}),
              Expect("reconcile_report", {"backend": "ks", "discrepancies": []}))),
    ]
    doors = sum(1 for step in steps if isinstance(step, Door))
    return Day(_numbered(steps, tag), _tallies(jansen, muller, peeters, nowak, bookings=4,
                                               doors=doors))


def _numbered(steps: list[Action], tag: str) -> list[Action]:
    """Request ids in the order sent; a repeat carries the id of the command it repeats."""
    done: list[tuple[dict[str, Any], str]] = []
    numbered: list[Action] = []
    for step in steps:
        if not isinstance(step, Step):
            numbered.append(step)
            continue
        if step.repeat:
            rid = next(rid for payload, rid in reversed(done) if payload == step.payload)
        else:
            rid = "r%s-%02d" % (tag, len(done) + 1)
            done.append((step.payload, rid))
        numbered.append(dataclasses.replace(step, payload={"request_id": rid, **step.payload}))
    return numbered


def _tallies(jansen: str, muller: str, peeters: str, nowak: str, bookings: int,
             doors: int) -> list[Tally]:
    """What the whole day must add up to: no second effect from the repeated request, no
    second PIN for a date change, phone keys exactly where the products send them, no PIN
    left in KS when every stay has ended, one Space door event per card held to a door."""
    per_booking = len(KEY_TYPES)
    pins = bookings * per_booking
    return [
        Tally("the Jansens: 2 card_encoded events", Expect("card_encoded", {"booking_id": jansen}),
              2),
        Tally("the Jansens: no phone key (their product sends none)",
              _space("key_issued", jansen), 0),
        Tally("the Müllers: 1 card_encoded event although asked twice",
              Expect("card_encoded", {"booking_id": muller}), 1),
        Tally("the Müllers: 2 automatic phone keys (before arrival, after the date change)",
              _space("key_issued", muller, automatic=True), 2),
        Tally("the Müllers: 1 phone key from the desk",
              _space("key_issued", muller, automatic=False), 1),
        Tally("Nowak: 1 phone key, at check-in, none before", _space("key_issued", nowak), 1),
        Tally("the Peeters: no card cut", Expect("card_encoded", {"booking_id": peeters}), 0),
        Tally("the Peeters: no Space key issued", _space("key_issued", peeters), 0),
        Tally("the Müllers: still %d KS PINs after the date change (updated, not re-issued)"
              % per_booking, Expect("key_issued", {"booking_id": muller, "backend": "ks"}),
              per_booking),
        Tally("KS: %d PINs issued all day, %d per booking" % (pins, per_booking),
              Expect("key_issued", {"backend": "ks"}), pins),
        Tally("KS: all %d revoked at departure or cancellation, none left over" % pins,
              Expect("key_revoked", {"backend": "ks"}), pins),
        Tally("Space: %d door_event, one per card held to a door, none twice" % doors,
              Expect("door_event", {"backend": "space"}), doors),
        Tally("no key_failed all day", Expect("key_failed"), 0),
        Tally("no command_rejected all day", Expect("command_rejected"), 0),
    ]
