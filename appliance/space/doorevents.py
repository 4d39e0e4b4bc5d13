"""Door events from ProAccess Space: each ``[space] audit_doors`` door's audit trail, walked
every ``door_events_poll_s`` (WF, then WN), becomes ``door_event``s.

Space takes one PMS connection and the desk shares it, so every audit request goes in the
background (``SpaceClient``): a card cut at the desk is sent before the walk's next record.
The trail is newest first and has no record ids; the walk stops where the records delivered
last time show up again (``trail.Top``). The new records' events and the door's cursor are
committed in one transaction, so a restart or a kill -9 neither loses nor repeats one; each
event's ``event_id`` derives from the store, the door, the record and its number at that
door, so a repeat from the outbox (at least once) dedupes at the PMS.
"""

import contextlib
import dataclasses
import datetime
import json
import logging
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

from appliance.space import hooks
from appliance.space.backend import SpaceBackend
from appliance.space.errors import AuditUnavailable, SpaceError, SpaceUnavailable
from appliance.space.trail import Line, Top, describe, new_lines, top_of, wall_time, without
from appliance.store import Store, Tx
from appliance.store.messages import EVENT_NAMESPACE
from appliance.store.retry import persist
from appliance.wakeup import Wakeup

log = logging.getLogger("keybridge.space.events")
FIRST_LOOK_BACK = datetime.timedelta(hours=1)
"""A door polled for the first time: its records of the last hour, not its whole history."""
LOST_MARGIN = datetime.timedelta(hours=2)
"""The last top not found (Space's trail was cleared): the records walked back to this long
before it are reported, all but the top's own, so a clock set back an hour (summer time ends)
loses nothing."""
MAX_WALK = 2000
"""Records walked at one door in one poll at most: the older ones are skipped."""
KEPT_CARDS = datetime.timedelta(days=7)
"""A key revoked longer ago than this is not looked at for a card at a door."""


@dataclasses.dataclass(frozen=True)
class Cursor:
    """Where a door's trail was left: its top, the top's newest instant, records delivered."""

    top: Top
    at: datetime.datetime
    count: int

    def to_json(self) -> str:
        return json.dumps({"top": self.top.to_json(), "at": self.at.isoformat(),
                           "count": self.count})

    @classmethod
    def from_json(cls, text: str) -> "Cursor":
        data = json.loads(text)
        return cls(Top.from_json(data["top"]), datetime.datetime.fromisoformat(data["at"]),
                   int(data["count"]))


@dataclasses.dataclass(frozen=True)
class Walk:
    fresh: list[Line]  # newest first
    top: Top


@dataclasses.dataclass
class Walking:
    """A walk under way: the records so far and where it has to stop."""

    door: str
    cursor: Cursor | None
    bound: datetime.datetime
    now: datetime.datetime
    lines: list[Line] = dataclasses.field(default_factory=list)
    cut: bool = False  # stopped at ``max_walk``, the last top not reached


class SpaceDoorEvents:
    """One administration's poller (a plug-in task); ``now`` is injected in tests."""

    def __init__(self, backend: SpaceBackend, store: Store, root: str,
                 wake: Callable[[], None],
                 now: Callable[[], datetime.datetime] | None = None) -> None:
        self.backend = backend
        self.settings = backend.admin.settings
        self.zone = zoneinfo.ZoneInfo(backend.admin.timezone)
        self.store = store
        self.root = root
        self.wake = wake
        self.now = now or (lambda: datetime.datetime.now(datetime.UTC))
        self.max_walk = MAX_WALK
        self._wakeup = Wakeup()

    def stop(self) -> None:
        self._wakeup.stop()

    async def run(self) -> None:
        while not self._wakeup.stopping:
            self._wakeup.clear()
            for door in self.settings.audit_doors:
                await self.poll_or_log(door)
            await self._wakeup.wait(self.settings.door_events_poll_s)

    async def poll_or_log(self, door: str) -> None:
        """Each door on its own: one unknown door must not silence the others."""
        try:
            await self.poll(door)
        except SpaceUnavailable as err:  # the link status already says Space is away
            log.info("Space %s: door %r not polled, Space is not reachable: %s",
                     self.backend.name, door, err)
        except AuditUnavailable as err:
            log.warning("Space %s: Space refused the audit trail of door %r (%s); check its "
                        "spelling in %s audit_doors against Space's door names, or remove "
                        "it; trying again in %g s", self.backend.name, door, err,
                        self.backend.admin.table, self.settings.door_events_poll_s)
        except SpaceError as err:
            log.warning("Space %s: the audit trail of door %r: %s; trying again in %g s",
                        self.backend.name, door, err, self.settings.door_events_poll_s)
        except Exception:  # one bad record must not stop the service
            log.exception("Space %s: polling door %r failed; trying again later",
                          self.backend.name, door)

    async def poll(self, door: str) -> int:
        """Walk one door's trail; the number of new door events."""
        key = "space_audit/%s/%s" % (self.backend.name, door)
        found = self.store.read.meta.get(key)
        cursor = None if found is None else Cursor.from_json(found)
        now = self.now().astimezone(self.zone)
        walk = await self._walk(door, cursor, now)
        fresh = await persist(lambda: self._publish(key, door, cursor, walk, now),
                              "recording Space door events", self.store.health)
        if fresh:
            self.wake()
        return fresh

    async def _walk(self, door: str, cursor: Cursor | None, now: datetime.datetime) -> Walk:
        bound = now - FIRST_LOOK_BACK if cursor is None else cursor.at - LOST_MARGIN
        walking = Walking(door, cursor, bound, now)
        ended = True
        records = self.backend.desk.walk(door, background=True)
        async with contextlib.aclosing(records):
            async for record in records:
                walking.lines.append(Line.of(record))
                if self._enough(walking):
                    ended = False
                    break
        walked = walking.lines
        fresh = None if cursor is None else new_lines(walked, cursor.top, ended)
        if fresh is None:
            fresh = self._since(walking)
        top = top_of(walked, ended) or (cursor.top if cursor else Top((), True))
        return Walk(fresh, top)

    def _enough(self, walking: Walking) -> bool:
        walked, cursor = walking.lines, walking.cursor
        if cursor is not None and new_lines(walked, cursor.top, False) is not None:
            return True
        if len(walked) >= self.max_walk:
            log.warning("Space %s: door %r has more than %d new records since the last walk; "
                        "the older ones are skipped (poll more often: %s door_events_poll_s)",
                        self.backend.name, walking.door, self.max_walk, self.backend.admin.table)
            walking.cut = True
            return True
        moment = wall_time(walked[-1], self.settings.audit_date_order, walking.now)
        return (moment is not None and moment < walking.bound
                and top_of(walked, False) is not None)

    def _since(self, walking: Walking) -> list[Line]:
        """Without the last top to go by: the records of the last hour on a first walk;
        else those back to ``LOST_MARGIN`` before it, all but the top's own."""
        cursor, now = walking.cursor, walking.now
        if cursor is not None and not walking.cut:
            log.warning("Space %s: the audit trail of door %r no longer holds the records "
                        "last seen (cleared in Space?); reporting those since %s not "
                        "reported before", self.backend.name, walking.door,
                        walking.bound.isoformat())
        order = self.settings.audit_date_order
        fresh = [line for line in walking.lines
                 if (moment := wall_time(line, order, now)) is not None
                 and moment >= walking.bound]
        return fresh if cursor is None else without(fresh, cursor.top.lines)

    def _publish(self, key: str, door: str, cursor: Cursor | None, walk: Walk,
                 now: datetime.datetime) -> int:
        count = cursor.count if cursor else 0
        with self.store.transaction() as tx:
            keys = self._keys(tx, walk.fresh, now)  # one query for the whole walk
            for line in reversed(walk.fresh):
                count += 1
                event_id = uuid.uuid5(EVENT_NAMESPACE, "space-audit/%s/%s/%s/%d/%s" % (
                    self.store.id, self.backend.name, door, count, "|".join(line.to_json())))
                tx.outbox.event(self.root, "door_event", self._event(keys, door, line, now),
                                str(event_id))
            newest = (wall_time(walk.top.lines[0], self.settings.audit_date_order, now)
                      if walk.top.lines else None)
            at = newest or (cursor.at if cursor else now)
            tx.meta.set(key, Cursor(walk.top, at, count).to_json())
        return len(walk.fresh)

    def _keys(self, tx: Tx, lines: list[Line], now: datetime.datetime) -> hooks.RoomKeys:
        """The keys a card in ``lines`` may be of: live ones, and those revoked within
        KEPT_CARDS of the oldest record (a card kept after check-out)."""
        order = self.settings.audit_date_order
        oldest = min((moment for line in lines
                      if (moment := wall_time(line, order, now)) is not None), default=now)
        since = (oldest - KEPT_CARDS).astimezone(datetime.UTC).isoformat(timespec="seconds")
        return hooks.RoomKeys(tx.keys.at_doors(self.backend.name, since))

    def _event(self, keys: hooks.RoomKeys, door: str, line: Line,
               now: datetime.datetime) -> dict[str, Any]:
        moment = wall_time(line, self.settings.audit_date_order, now)
        if moment is None:
            log.warning("Space %s: door %r wrote the date %r, which is no %s date; reported "
                        "as now (check [space] audit_date_order)", self.backend.name, door,
                        line.date, self.settings.audit_date_order)
            moment = now
        fields: dict[str, Any] = {
            "backend": self.backend.name, "door": door, "at": moment.isoformat(),
            "key_id": None, "booking_id": None, "administration": self.backend.admin.id,
            "units": sorted(unit for unit, room in self.backend.units.items() if room == door),
            **describe(line)}
        key = None if line.room is None else keys.at(line.room, moment)
        if key is not None:
            kind = hooks.key_type(key)
            fields.update(key.holder(), key_id=key.id, **({"key_type": kind} if kind else {}))
        return fields
