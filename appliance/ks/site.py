"""The KS site as keybridge needs it: its UUID, its time zone and its locks by name.

Every ``/sites/{site}`` path needs the site's UUID; technicians know the site by its name or
``site_uid`` (§2.1), so it is resolved once and kept. Locks are configured by their KS names
(what the KS app shows) and resolved to ids through one cached listing, refreshed when a name
is missing (a lock added since) and otherwise every ``LOCKS_TTL_S``.
"""

import datetime
import time
import zoneinfo
from collections.abc import Callable
from typing import Any

from appliance.engine.backend import BackendFailure
from appliance.ks.client import KsClient

LOCKS_TTL_S = 600.0


class KsSite:
    def __init__(self, client: KsClient, name: str, fallback_zone: datetime.tzinfo,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.name = name  # the appliance's site id: our references carry it
        self.fallback_zone = fallback_zone
        self.clock = clock
        self.record: dict[str, Any] | None = None
        self._locks: list[dict[str, Any]] = []
        self._locks_at = float("-inf")

    async def id(self) -> str:
        return str((await self.resolve())["id"])

    async def resolve(self) -> dict[str, Any]:
        if self.record is None:
            self.record = await self.client.resolve_site()
        return self.record

    async def zone(self) -> datetime.tzinfo:
        """The site's own zone: the IQs enforce schedules in it (§2.9)."""
        name = (await self.resolve()).get("time_zone")
        try:
            return zoneinfo.ZoneInfo(str(name)) if name else self.fallback_zone
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return self.fallback_zone

    async def locks(self, fresh: bool = False) -> list[dict[str, Any]]:
        if fresh or self.clock() - self._locks_at > LOCKS_TTL_S:
            self._locks = await self.client.locks(await self.id())
            self._locks_at = self.clock()
        return self._locks

    async def lock_ids(self, names: list[str]) -> list[str]:
        """Ids of the locks named (by KS name or id); refreshed once if one is missing."""
        found = _match(await self.locks(), names)
        if len(found) < len(names):
            found = _match(await self.locks(fresh=True), names)
        missing = [name for name in names if name not in found]
        if missing:
            known = ", ".join(sorted(str(lock.get("customer_reference")) for lock in
                                     self._locks)) or "none"
            raise BackendFailure(
                "ks_unknown_lock", "the KS site has no lock %s" % ", ".join(map(repr, missing)),
                hint="fix [ks.units] or [[ks.key_types]] locks in the configuration; the site's "
                "locks are: %s" % known, retry=True)
        return [found[name] for name in names]

    def lock_names(self) -> dict[str, str]:
        """Lock id → KS name, from the last listing."""
        return {str(lock["id"]): str(lock.get("customer_reference", "")) for lock in self._locks}


def _match(locks: list[dict[str, Any]], names: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for lock in locks:
        for name in names:
            if name in (lock.get("id"), lock.get("customer_reference")):
                found[name] = str(lock["id"])
    return found
