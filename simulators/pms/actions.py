"""What a campsite day is made of, as data: the PMS's commands with the replies and events
each must cause, the guests' tries at KS keypads and Space doors, cards handed back or
looked at, and the tallies the whole day must add up to (``day.py`` builds one day of them,
``__main__.py`` plays it)."""

import dataclasses
from collections.abc import Mapping
from typing import Any

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
class Door:
    """A guest holds a card of ``booking_id`` to the Space door ``door`` at ``at`` (an instant
    with offset; the Space simulator's clock is set to its wall time first); the door must
    open, or refuse when ``opens`` is false. ``card``: which of the booking's cards, in the
    order ``card_encoded`` named them (-1: the last one cut)."""

    title: str
    booking_id: str
    door: str
    at: str
    opens: bool
    card: int = -1


@dataclasses.dataclass(frozen=True)
class HandBack:
    """The guest hands a card of ``booking_id`` in: the desk lays it on the encoder
    ``encoder`` (its Space name), where the next read_card finds it. ``card`` as for Door."""

    title: str
    booking_id: str
    encoder: str
    card: int = -1


@dataclasses.dataclass(frozen=True)
class CardFace:
    """The desk looks at a card of ``booking_id`` as Space's card printer left it: its last
    printed line must read ``last_line`` (``card`` as for Door)."""

    title: str
    booking_id: str
    last_line: str
    card: int = -1


Action = Step | Keypad | Door | HandBack | CardFace


@dataclasses.dataclass(frozen=True)
class Day:
    steps: list[Action]
    tallies: list[Tally]

    @property
    def commands(self) -> list[Step]:
        return [step for step in self.steps if isinstance(step, Step)]

    @property
    def keypads(self) -> list[Keypad]:
        return [step for step in self.steps if isinstance(step, Keypad)]

    @property
    def doors(self) -> list[Door]:
        return [step for step in self.steps if isinstance(step, Door)]

    @property
    def hand_backs(self) -> list[HandBack]:
        return [step for step in self.steps if isinstance(step, HandBack)]
