"""Door events from KS: entries polled with continuation become ``door_event``; a lock whose
battery runs low becomes ``battery_low``.

KS pushes events only over SignalR, with no replay (§5.2); the entries endpoint is the record
(90 days). Polling it is what a consumer of the stream must do after every disconnect
anyway, so keybridge polls only: every ``events_poll_s``, everything since the newest entry
seen (minus an overlap, since entries may land late), newest first, page by page. Each entry
is published once: its id is remembered in the same transaction as its event, whose
``event_id`` derives from the entry id, so even a repeat after a crash dedupes at the PMS.

Battery: the incidents API is unmeasured on Connect (§3.2 [U]); every lock's
``battery_level`` is measured, so the locks are polled every ``battery_poll_s`` and a change
into a low level is reported once.
"""

import asyncio
import datetime
import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from appliance.engine.backend import BackendFailure, KeyRow
from appliance.ks import stay
from appliance.ks.backend import KsBackend
from appliance.store import Store, Tx, now_iso
from appliance.store.messages import EVENT_NAMESPACE
from appliance.store.retry import persist
from appliance.wakeup import Wakeup

log = logging.getLogger("keybridge.ks.events")
OVERLAP_S = 2 * 3600.0
"""Entries are asked for from this long before the last poll: an IQ back online delivers
entries it held (offline detection alone takes up to 30 min)."""
FIRST_LOOK_BACK_S = 3600.0
MAX_PAGES = 50
KEEP_SEEN_S = 7 * 86400.0
FINE_LEVELS = ("fresh", "normal", "good", "ok", "full", "", "None")


class DoorEvents:
    def __init__(self, backend: KsBackend, store: Store, root: str,
                 wake: Callable[[], None]) -> None:
        self.backend = backend
        self.store = store
        self.root = root
        self.wake = wake
        self.ks = backend.ks
        self._wakeup = Wakeup()
        self._battery_at = float("-inf")

    def stop(self) -> None:
        self._wakeup.stop()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._wakeup.stopping:
            self._wakeup.clear()
            await self._guarded(self.poll_entries)
            if loop.time() - self._battery_at >= self.ks.battery_poll_s > 0:
                await self._guarded(self.poll_batteries)
                self._battery_at = loop.time()
            await self._wakeup.wait(self.ks.events_poll_s)

    async def _guarded(self, poll: Callable[[], Awaitable[int]]) -> None:
        """Each poll on its own: door events failing must not silence battery alerts."""
        try:
            await poll()
        except BackendFailure as failure:
            log.warning("KS polling: %s", failure.message)
        except Exception:  # one bad entry must not stop the service
            log.exception("KS polling failed; trying again later")

    async def poll_entries(self) -> int:
        site_id = await self.backend.guarded(self.backend.site.id())
        started = datetime.datetime.now(datetime.UTC)
        since = self._since(started)
        entries: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            page, token = await self.backend.guarded(self.backend.saga.call(functools.partial(
                self.backend.client.entries, site_id, since=since, continuation=token)))
            entries.extend(page)
            if not token:
                break
        if token:
            log.warning("more than %d pages of door events since %s: the oldest are skipped",
                        MAX_PAGES, since.isoformat())
        fresh = await persist(lambda: self._publish(entries, started), "recording door events",
                              self.store.health)
        if fresh:
            self.wake()
        return fresh

    def _since(self, now: datetime.datetime) -> datetime.datetime:
        """From the last poll, less the time an offline IQ may hold entries back (§2.8).

        Not from the newest entry seen: one lock's late entries or clock would move that
        past other locks' entries. The ids seen make the overlap harmless.
        """
        last = self.store.read.meta.get("ks_entries_polled_at")
        if last is None:
            return now - datetime.timedelta(seconds=FIRST_LOOK_BACK_S)
        return min(now, datetime.datetime.fromisoformat(last)) - datetime.timedelta(
            seconds=OVERLAP_S)

    def _publish(self, entries: list[dict[str, Any]], started: datetime.datetime) -> int:
        fresh = 0
        with self.store.transaction() as tx:
            for entry in sorted(entries, key=lambda item: str(item.get("utc_date_time"))):
                entry_id = str(entry.get("id"))
                if tx.entries.seen(entry_id):
                    continue
                tx.entries.remember(entry_id, _instant(entry.get("utc_date_time")))
                tx.outbox.event(self.root, "door_event", self._door_event(tx, entry),
                                str(uuid.uuid5(EVENT_NAMESPACE, "ks-entry/" + entry_id)))
                fresh += 1
            cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(
                seconds=KEEP_SEEN_S)
            tx.entries.forget_before(cutoff.isoformat())
            tx.meta.set("ks_entries_polled_at", started.isoformat())
        return fresh

    def _door_event(self, tx: Tx, entry: dict[str, Any]) -> dict[str, Any]:
        """What the PMS needs, without the personal data KS attaches (names, images)."""
        lock = str(entry.get("lock_customer_reference") or entry.get("lock_id") or "?")
        fields: dict[str, Any] = {
            "backend": "ks", "door": lock, "at": _instant(entry.get("utc_date_time")),
            "granted": entry.get("event_category") == "lock_opened",
            "key_id": None, "booking_id": None, "units": self._units(lock),
            "lock_id": entry.get("lock_id"), "category": entry.get("event_category"),
            "detail": entry.get("event_detail"), "access_by": entry.get("access_by"),
            "entry_id": str(entry.get("id"))}
        key = self._key_of(tx, entry.get("user_id"))
        if key is not None:
            fields.update(key.holder(), key_id=key.id, key_type=key.key_type)
        return fields

    def _units(self, lock: str) -> list[str]:
        return [unit for unit, locks in self.ks.units.items() if lock in locks]

    def _key_of(self, tx: Tx, platform_user_id: Any) -> KeyRow | None:
        if not platform_user_id:
            return None
        return tx.keys.by_external_id(self.backend.name, "platform_user_id",
                                      str(platform_user_id))

    async def poll_batteries(self) -> int:
        locks = await self.backend.guarded(self.backend.site.locks(fresh=True))
        return await persist(lambda: self._batteries(locks), "recording battery levels",
                             self.store.health)

    def _batteries(self, locks: list[dict[str, Any]]) -> int:
        known = json.loads(self.store.read.meta.get("ks_battery") or "{}")
        reported = 0
        with self.store.transaction() as tx:
            for lock in locks:
                level = str(lock.get("battery_level"))
                lock_id = str(lock.get("id"))
                if level not in FINE_LEVELS and known.get(lock_id) == level:
                    continue
                if level not in FINE_LEVELS:
                    name = str(lock.get("customer_reference") or "")
                    tx.outbox.event(self.root, "battery_low", {
                        "backend": "ks", "door": name or lock_id, "level": level,
                        "lock_id": lock_id, "units": self._units(name)})
                    reported += 1
                known[lock_id] = level
            tx.meta.set("ks_battery", json.dumps(known))
        if reported:
            self.wake()
        return reported


def _instant(text: Any) -> str:
    """KS's ``utc_date_time`` as an ISO 8601 instant with its offset."""
    moment = stay.parse_instant(text)
    return now_iso() if moment is None else moment.isoformat()
