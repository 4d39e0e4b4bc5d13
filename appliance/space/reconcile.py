"""What reconciliation can check on ProAccess Space, which cannot list the keys it holds.

The PMS interface has no request that lists keys or rooms, so Space cannot be compared with
the store key by key as KS is. What it does answer is checked:

- **Space answers** (ENQ): a Space that cannot be asked makes the run INCOMPLETE, never
  "0 discrepancies".
- **The audit trails** of the ``[space] audit_doors`` doors, the last ``LOOK_BACK``, against
  the keys the store holds live: a guest's card refused *during its stay* as no longer
  valid (incident 2: a newer key for the room, or the room checked out in Space) or as
  expired (incident 4: a longer stay that never reached the cards) is
  ``refused_during_stay``, one per key, naming the door, the moment and what the desk can
  do. The store cannot tell a card replaced at the desk from one Space stopped behind its
  back, so the message says both; no repair is queued (a card is cut with the guest there).
  A door Space has no trail for (misnamed in the configuration) is
  ``audit_trail_unreadable``, naming the door and the table to fix, and the other doors are
  still read.

A card read at the desk is checked as it is read: ``card_read`` says ``valid`` and names
the booking, so the desk sees a checked-out stay's card that still reads valid there.
"""

import contextlib
import datetime
import zoneinfo
from typing import Any

from appliance import lifecycle
from appliance.engine.backend import BackendFailure
from appliance.space import hooks
from appliance.space.commands import SpaceCommands
from appliance.space.errors import AuditUnavailable, SpaceRefused
from appliance.space.settings import Administration
from appliance.space.trail import Line, describe, wall_time
from appliance.store import KeyRow

LOOK_BACK = datetime.timedelta(days=1)
"""How far back each audit trail is read: the day since the last nightly run."""
REFUSED_DETAILS = {"invalid_key": "no longer valid (a newer key for the room, or the room "
                                  "checked out in Space)",
                   "expired_key": "expired (a longer stay that did not reach the card)"}
KIND = "refused_during_stay"
UNREADABLE = "audit_trail_unreadable"


async def check(desk: SpaceCommands, admin: Administration, keys: list[KeyRow],
                now: datetime.datetime) -> list[dict[str, Any]]:
    """The discrepancies Space shows (``keys`` oldest first, as the engine gives them);
    raises BackendFailure when Space cannot be asked at all."""
    if not await desk.ping():
        raise BackendFailure("backend_unavailable", "Space at %s did not answer ENQ"
                             % admin.settings.server, retry=True,
                             hint="check that ProAccess Space is running and reachable")
    rooms = hooks.RoomKeys(reversed(keys))  # newest first, as the door events name them
    found: dict[str, dict[str, Any]] = {}
    for door in admin.settings.audit_doors:
        try:
            for item in await _door(desk, admin, door, rooms, now):
                found.setdefault(item["key_id"], item)
        except AuditUnavailable as err:  # one door misnamed hides nothing of the others
            found["door:" + door] = _unreadable(admin, door, err)
    return list(found.values())


async def _door(desk: SpaceCommands, admin: Administration, door: str, rooms: hooks.RoomKeys,
                now: datetime.datetime) -> list[dict[str, Any]]:
    """The refusals of the last LOOK_BACK at ``door``, newest first."""
    zone = zoneinfo.ZoneInfo(admin.timezone)
    found = []
    records = desk.walk(door, background=True)  # the desk's requests go first
    async with contextlib.aclosing(records):
        async for record in records:
            line = Line.of(record)
            moment = wall_time(line, admin.settings.audit_date_order, now.astimezone(zone))
            if moment is not None and moment < now - LOOK_BACK:
                break  # newest first: the rest is older still
            refusal = _refusal(door, line, moment, rooms)
            if refusal is not None:
                found.append(refusal)
    return found


def _refusal(door: str, line: Line, moment: datetime.datetime | None,
             rooms: hooks.RoomKeys) -> dict[str, Any] | None:
    """A refusal of one of our live keys' cards inside the key's stay, as a discrepancy."""
    detail = describe(line)["detail"]
    if moment is None or line.room is None or detail not in REFUSED_DETAILS:
        return None
    key = rooms.at(line.room, moment)  # the key the door_event named
    if key is None or key.state not in lifecycle.LIVE or moment >= key.valid_until:
        return None  # revoked: refused as it should be; at its very end: no news
    return _item(door, line, moment, key, str(detail))


def _unreadable(admin: Administration, door: str, err: SpaceRefused) -> dict[str, Any]:
    return {"kind": UNREADABLE, "fix": None, "door": door,
            "message": "Space could not give the audit trail of %r (%s); check %s audit_doors "
                       "against the door names in Space" % (door, err, admin.table)}


def _item(door: str, line: Line, moment: datetime.datetime, key: KeyRow,
          detail: str) -> dict[str, Any]:
    at = moment.isoformat(timespec="seconds")
    kind = hooks.key_type(key)
    return {
        "kind": KIND, "fix": None, "key_id": key.id, **key.holder(),
        **({"key_type": kind} if kind else {}), "door": door, "room": line.room, "at": at,
        "refused_as": detail,
        "message": "%s refused a card of %s at %s during the stay: %s. If the guest was "
                   "given new cards since, that was an old one; otherwise cut a new card at "
                   "the desk (encode_card)" % (door, line.room, at, REFUSED_DETAILS[detail])}
