"""What a Space job needs of the store, asked through the engine's job hooks: the rooms a
newer key has checked in since (so a check-out leaves them alone), and the booking or owner
key a card read at the desk belongs to, and whose card a door's audit record names."""

import datetime
from collections.abc import Iterable
from typing import Any

from appliance.engine.backend import Outcome
from appliance.space.data import SpaceIds, SpaceKeyData
from appliance.store import KeyRow, Tx

MINUTE = datetime.timedelta(minutes=1)


def rooms_taken(store: Tx, key: KeyRow) -> list[str]:
    """Rooms a newer live key of the same backend checked in since this one did."""
    since = SpaceIds.from_json(key.external_ids).checked_in_ns
    taken: set[str] = set()
    for other in store.keys.live(key.backend):
        if other.id != key.id and SpaceIds.from_json(other.external_ids).checked_in_ns > since:
            taken.update(SpaceKeyData.from_json(other.plan).rooms)
    return sorted(taken)


def latest_check_in(store: Tx, backend: str) -> int:
    """The newest check-in of a live key of ``backend``: a new one is ordered after it even
    when the wall clock was stepped back since (a Pi's clock set by NTP mid-day)."""
    return max((SpaceIds.from_json(key.external_ids).checked_in_ns
                for key in store.keys.live(backend)), default=0)


def read_back(store: Tx, backend: str, outcome: Outcome) -> None:
    """Name the booking or owner key a card read at the desk belongs to: the newest key
    of that room, revoked ones too (a card handed back at check-out names its stay),
    one with the card's very end first."""
    room, until = outcome.data.get("room"), outcome.data.get("space_valid_until")
    found: dict[str, Any] = {"booking_id": None, "owner_key_id": None, "key_id": None}
    candidates = [key for key in store.keys.of_backend(backend, newest_first=True)
                  if room is not None and main_room(key) == room]
    exact = [key for key in candidates if until and SpaceKeyData.from_json(
        key.plan).space_valid_until == until[:16]]
    if exact or candidates:
        key = (exact or candidates)[0]
        found |= key.holder() | {"key_id": key.id}
    outcome.data.update(found)
    for _kind, fields in outcome.events:
        fields.update(found)


def main_room(key: KeyRow) -> str | None:
    """The room a card of ``key`` names (its main room; a door's audit record and a card
    read back name only that one), or None while Space does not know the key: no card cut,
    no mobile key sent."""
    data, ids = SpaceKeyData.from_json(key.plan), SpaceIds.from_json(key.external_ids)
    rooms = data.rooms or ids.rooms
    return rooms[0] if rooms and ids.in_space else None


class RoomKeys:
    """Keys by the room their cards name, in the order given (newest first): every record of
    a door's audit trail is looked up without a query, or a key's JSON read, of its own."""

    def __init__(self, keys: Iterable[KeyRow]) -> None:
        self._by_room: dict[str, list[KeyRow]] = {}
        for key in keys:
            room = main_room(key)
            if room is not None:
                self._by_room.setdefault(room, []).append(key)

    def at(self, room: str, moment: datetime.datetime) -> KeyRow | None:
        """The first key whose card a record of ``room`` at ``moment`` names: its stay covers
        that minute (an audit record has no seconds), revoked or not (a card kept after
        check-out is still the guest's)."""
        return next((key for key in self._by_room.get(room, ())
                     if key.valid_from - MINUTE < moment <= key.valid_until), None)


def key_type(key: KeyRow) -> str:
    """The key's Space key type ("" for none): a booking's comes with its key data."""
    return key.key_type or SpaceKeyData.from_json(key.plan).key_type
