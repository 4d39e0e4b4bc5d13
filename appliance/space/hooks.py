"""What a Space job needs of the store, asked through the engine's job hooks: the rooms a
newer key has checked in since (so a check-out leaves them alone), and the booking or owner
key a card read at the desk belongs to, and whose card a door's audit record names."""

import datetime
from typing import Any

from appliance.engine.backend import Outcome
from appliance.space.data import SpaceIds, SpaceKeyData
from appliance.store import KeyRow, Tx


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
    candidates = []
    for key in store.keys.of_backend(backend, newest_first=True):
        data, ids = SpaceKeyData.from_json(key.plan), SpaceIds.from_json(key.external_ids)
        rooms = data.rooms or ids.rooms
        if room is not None and rooms[:1] == (room,) and ids.in_space:
            candidates.append((key, data))
    exact = [key for key, data in candidates
             if until and data.space_valid_until == until[:16]]
    if exact or candidates:
        key = (exact or [key for key, _data in candidates])[0]
        found |= key.holder() | {"key_id": key.id}
    outcome.data.update(found)
    for _kind, fields in outcome.events:
        fields.update(found)



MINUTE = datetime.timedelta(minutes=1)


def opens_at(key: KeyRow, room: str, moment: datetime.datetime) -> bool:
    """Whether a card of ``key`` is the one a door's record of ``room`` at ``moment`` names:
    its cards name ``room`` first (a card names its main room), Space knows the key, and
    its stay covers that minute (an audit record has no seconds)."""
    data, ids = SpaceKeyData.from_json(key.plan), SpaceIds.from_json(key.external_ids)
    if (data.rooms or ids.rooms)[:1] != (room,) or not ids.in_space:
        return False
    return key.valid_from - MINUTE < moment <= key.valid_until


def key_type(key: KeyRow) -> str:
    """The key's Space key type ("" for none): a booking's comes with its key data."""
    return key.key_type or SpaceKeyData.from_json(key.plan).key_type
