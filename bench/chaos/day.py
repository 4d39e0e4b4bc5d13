"""The chaos day as data: each booking's script of commands, seeded, repeatable.

Every booking is on one of ``UNITS`` pitches (a KS PIN and a Space key each), confirmed,
sometimes moved (revision 2), sometimes given a card at the desk or a phone key, and then
checked out, cancelled or left running. Stays follow each other on a pitch, three days
apart, so no two bookings share a pitch at once. What the PMS expects at the end follows
from the scripts alone: a booking whose last status is CONFIRMED has live keys.
"""

import dataclasses
import datetime
import random
from typing import Any

UNITS = 40
PHONES = ("+31612345678", "+34619123456", "+4915112345678")  # registered with JustIN
SHARE_MOVED = 0.2
SHARE_CARD = 0.15
SHARE_PHONE = 0.05
SHARE_COMPLETED = 0.4
SHARE_CANCELLED = 0.1


@dataclasses.dataclass(frozen=True)
class Step:
    command: str
    payload: dict[str, Any]
    desk: bool = False  # a desk command: a second, final reply follows "accepted"

    @property
    def request_id(self) -> str:
        return str(self.payload["request_id"])


@dataclasses.dataclass(frozen=True)
class Script:
    booking_id: str
    unit: str
    steps: tuple[Step, ...]
    active: bool  # its last status is CONFIRMED: its keys must exist at the end


def unit_name(number: int) -> str:
    return "P%d" % number


def room_name(number: int) -> str:
    return "Pitch %d" % number


def build(seed: int, bookings: int, today: datetime.date) -> list[Script]:
    rng = random.Random(seed)  # noqa: S311 - a day repeated from its seed, not a secret
    return [_script(rng, seed, number, today) for number in range(bookings)]


def _script(rng: random.Random, seed: int, number: int, today: datetime.date) -> Script:
    booking_id = "S%d-B%d" % (seed, number)
    unit = unit_name(1 + number % UNITS)
    arrival = today + datetime.timedelta(days=2 + 3 * (number // UNITS))
    stay = [arrival, arrival + datetime.timedelta(days=2)]
    steps = [_booking(booking_id, 1, "CONFIRMED", unit, stay, number)]
    if rng.random() < SHARE_MOVED:  # a day shorter: never into the next guest's stay
        stay = [arrival, arrival + datetime.timedelta(days=1)]
        steps.append(_booking(booking_id, 2, "CONFIRMED", unit, stay, number))
    if rng.random() < SHARE_CARD:
        steps.append(Step("encode_card", {"request_id": booking_id + "-card",
                                          "booking_id": booking_id, "encoder": "desk-1"},
                          desk=True))
    if rng.random() < SHARE_PHONE:
        steps.append(Step("send_mobile_key", {"request_id": booking_id + "-phone",
                                              "booking_id": booking_id,
                                              "phone": rng.choice(PHONES)}, desk=True))
    end = rng.random()
    status = ("COMPLETED" if end < SHARE_COMPLETED else "CANCELLED"
              if end < SHARE_COMPLETED + SHARE_CANCELLED else "")
    if status:
        steps.append(_booking(booking_id, len(steps) + 1, status, unit, stay, number))
    return Script(booking_id, unit, tuple(steps), not status)


def _booking(booking_id: str, revision: int, status: str, unit: str,
             stay: list[datetime.date], number: int) -> Step:
    instant = "%sT%s:00+02:00"
    return Step("booking", {
        "request_id": "%s-r%d" % (booking_id, revision), "booking": {
            "id": booking_id, "revision": revision, "status": status, "units": [unit],
            "type": "pitch", "arrival": instant % (stay[0], "14:00"),
            "departure": instant % (stay[1], "11:00"),
            "guest": {"name": "Guest %d" % number}}})
