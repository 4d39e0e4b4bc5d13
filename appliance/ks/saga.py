"""One KS key, step by step: guest, seat, PIN use, access group, schedule, locks, member, PIN.

KS has no transactions and no idempotency keys (§3.4), and the appliance may die between any
two steps. So every step first looks at what is already there, by the ids committed after the
step that created them (``checkpoint``) or, if the crash came before that commit, by our
reference in the guest's alias and the group's customer_reference. Running ``ensure`` again
therefore never makes a second guest or group; it finishes what is missing and corrects what
differs, which is also how a date or unit change is applied (the PIN stays).

The PIN is the one step that cannot be looked up: PUT rotates it and KS never shows it again.
It is PUT only while we hold no PIN for the key. A PIN whose PUT timed out, or whose answer
died with the process, was never stored and so never published: nobody has it, and rotating
it away is exactly right. A stored PIN is never PUT again.
"""

import asyncio
import dataclasses
import datetime
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from appliance.engine.backend import BackendFailure, KeyRow
from appliance.ks import seats, stay
from appliance.ks.client import KsClient
from appliance.ks.config import KsConfig
from appliance.ks.errors import KsForbidden, KsNotFound, KsRateLimited, KsRefused
from appliance.ks.ids import KsIds
from appliance.ks.site import KsSite

log = logging.getLogger("keybridge.ks")
T = TypeVar("T")
Save = Callable[[KsIds], None]
"""Commits the ids at once, before the job ends (the engine's checkpoint)."""
RATE_LIMITED_TRIES = 30
"""429s waited out in a row before the job gives up for now (the bucket holds every request)."""
SETTLE_MAX_S = 10.0
"""Longest pause between tries while KS settles after a guest was created."""


class Saga:
    def __init__(self, client: KsClient, config: KsConfig, site: KsSite, *,
                 clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        self.client = client
        self.config = config
        self.site = site
        self.clock = clock or (lambda: datetime.datetime.now(datetime.UTC).timestamp())
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets

    async def ensure(self, key: KeyRow, ids: KsIds, has_pin: bool, checkpoint: Save,
                     first_try: bool = False) -> tuple[KsIds, str | None]:
        """Bring the key's guest and group to what the key says; returns (ids, new PIN).

        ``first_try``: no earlier attempt can have created anything, so nothing is looked up
        by reference (two list requests saved per PIN at the evening peak).
        """
        ids = dataclasses.replace(ids, site_id=await self.site.id(),
                                  reference=stay.reference(self.site.name, key.id))
        look_up = not first_try or bool(ids.site_user_id or ids.access_group_id)
        known = ids.site_user_id
        guest = await self._guest(key, ids, checkpoint, look_up)
        if known and guest["id"] != known:
            # The guest was deleted behind our back: the PIN we published died with it.
            has_pin = False
            ids.pin_stored = False
        await self._seat(guest, ids)
        await self._pin_use(key, guest, ids)
        fresh = await self._group(ids, checkpoint, look_up)
        try:
            await self._converge_group(key, ids, fresh)
        except KsNotFound:
            # The group vanished under us (deleted in the KS app): make it again, once.
            ids.access_group_id = None
            fresh = await self._group(ids, checkpoint, look_up)
            await self._converge_group(key, ids, fresh)
        pin = None if has_pin else await self._pin(ids)
        return ids, pin

    async def remove(self, key: KeyRow | None, ids: KsIds) -> dict[str, bool]:
        """Delete the guest (its seat is free at once, its PIN dead) and the group."""
        site_id = await self.site.id()
        reference = ids.reference or (stay.reference(self.site.name, key.id)
                                      if key is not None else None)
        guest_id = ids.site_user_id
        if guest_id is None and reference:
            found = await self.call(self.client.find_guest, site_id, reference)
            guest_id = None if found is None else found["id"]
        group_id = ids.access_group_id
        if group_id is None and reference:
            group = await self.call(self.client.find_access_group, site_id, reference)
            group_id = None if group is None else group["id"]
        removed = {"guest": False, "group": False}
        if guest_id is not None:
            removed["guest"] = await self.call(self.client.delete_user, site_id, guest_id)
        if group_id is not None:
            removed["group"] = await self.call(self.client.delete_access_group, site_id,
                                               group_id)
        return removed

    async def call(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """One request, waiting out 429s (the client paused the bucket for Retry-After)."""
        for _ in range(RATE_LIMITED_TRIES - 1):
            try:
                return await function(*args)
            except KsRateLimited as err:
                log.info("KS asks to slow down: %.1f s", err.retry_after_s)
        return await function(*args)

    # The steps.

    async def _guest(self, key: KeyRow, ids: KsIds, checkpoint: Save,
                     look_up: bool) -> dict[str, Any]:
        site_id, reference = ids.site_id, ids.reference
        guest = None
        if ids.site_user_id:
            guest = await self.call(self.client.user, site_id, ids.site_user_id)
        if guest is None and look_up:
            guest = await self.call(self.client.find_guest, site_id, reference)
            if guest is not None and not ids.guest_created_at:
                ids.guest_created_at = self.clock()  # made just before a crash, maybe
        if guest is None:
            expires = key.valid_until
            guest = await self.call(self.client.create_guest, site_id, reference, expires)
            ids.guest_created_at = self.clock()
            log.info("KS guest created", extra={"ctx": {"key_id": key.id,
                                                        "site_user_id": guest["id"]}})
        ids.site_user_id, ids.platform_user_id = guest["id"], guest["user"]["id"]
        checkpoint(ids)
        return guest

    async def _seat(self, guest: dict[str, Any], ids: KsIds) -> None:
        """KS creates a guest past the seat limit "successfully", suspended (§2.6)."""
        if guest.get("subscription_state") == "subscribed":
            return
        try:
            await self.settle(ids, self.client.set_subscription, ids.site_id,
                              ids.site_user_id, "subscribed")
        except KsForbidden as err:
            if str(err.error_code) != "2212":
                raise  # e.g. 2203: the system user lacks a role; the hint says so
            raise BackendFailure(
                seats.NO_SEATS, "every seat of the KS subscription is taken; the guest was "
                "created suspended and its PIN would open nothing", retry=True,
                hint=seats.HINT) from err

    async def _pin_use(self, key: KeyRow, guest: dict[str, Any], ids: KsIds) -> None:
        expires = stay.utc_text(key.valid_until)
        if guest.get("use_pin") is True and _same_instant(guest.get("expires_at"), expires):
            return
        await self.settle(ids, self.client.patch_user, ids.site_id, ids.site_user_id,
                          {"use_pin": True, "expires_at": expires})

    async def _group(self, ids: KsIds, checkpoint: Save, look_up: bool) -> bool:
        """The key's access group; True when it was made just now, and so is empty."""
        if ids.access_group_id:
            return False
        site_id, reference = ids.site_id, ids.reference
        group = None
        if look_up:
            group = await self.call(self.client.find_access_group, site_id, reference)
        if group is None:
            group = await self.call(self.client.create_access_group, site_id, reference)
            ids.access_group_id = group["id"]
            checkpoint(ids)
            return True
        ids.access_group_id = group["id"]
        checkpoint(ids)
        return False

    async def _converge_group(self, key: KeyRow, ids: KsIds, fresh: bool) -> None:
        """Schedule, locks and member as the key says. A group made in this run holds none
        of them, so reading them back (three GETs per PIN) is skipped; after a crash the
        group is found, not made, and everything is read again. The ids are committed with
        the job's outcome: a retry reads the parts back rather than trusting a checkpoint."""
        await self._schedule(key, ids, fresh)
        await self._locks(key, ids, fresh)
        await self._member(ids, fresh)

    async def _schedule(self, key: KeyRow, ids: KsIds, fresh: bool) -> None:
        site_id, group_id = ids.site_id, ids.access_group_id
        wanted = stay.schedule_body(key, await self.site.zone())
        found = [] if fresh else await self.call(self.client.schedules, site_id, group_id)
        for extra in found[1:]:  # one window per key; a second would widen it
            await self.call(self.client.delete_schedule, site_id, group_id, extra["id"])
        if not found:
            made = await self.call(self.client.create_schedule, site_id, group_id, wanted)
            ids.schedule_id = made["id"]
        elif not stay.schedule_matches(found[0], wanted):
            await self.call(self.client.patch_schedule, site_id, group_id, found[0]["id"],
                            wanted)
            ids.schedule_id = found[0]["id"]
        ids.schedule = [wanted["start_date"], wanted["end_date"]]

    async def _locks(self, key: KeyRow, ids: KsIds, fresh: bool) -> None:
        site_id, group_id = ids.site_id, ids.access_group_id
        wanted = await self.site.lock_ids(self.locks_of(key))
        present = set() if fresh else {lock["id"] for lock in await self.call(
            self.client.group_locks, site_id, group_id)}
        for lock_id in wanted:
            if lock_id not in present:
                await self.call(self.client.add_group_lock, site_id, group_id, lock_id)
        for lock_id in present - set(wanted):  # a unit change: the old pitch is closed
            await self.call(self.client.remove_group_lock, site_id, group_id, lock_id)
        ids.locks = wanted

    def locks_of(self, key: KeyRow) -> list[str]:
        kind = self.config.key_type(key.key_type)
        if kind is None:
            raise BackendFailure("ks_unknown_key_type", "key type %r is no longer in "
                                 "[[ks.key_types]]" % key.key_type, hint="put it back in the "
                                 "configuration, or delete the booking's keys", retry=True)
        locks = self.config.unit_locks(key.units) if kind.unit_locks else []
        return locks + [lock for lock in kind.locks if lock not in locks]

    async def _member(self, ids: KsIds, fresh: bool) -> None:
        site_id, group_id, person = ids.site_id, ids.access_group_id, ids.platform_user_id
        members = [] if fresh else await self.call(self.client.group_users, site_id, group_id)
        if any(platform_id(member) == person for member in members):
            return
        await self.settle(ids, self.client.add_group_user, site_id, group_id, person)

    async def _pin(self, ids: KsIds) -> str:
        site_id, guest_id = ids.site_id, ids.site_user_id
        if ids.pin_put:
            log.info("a PIN was set before but its value never reached us; setting a new one",
                     extra={"ctx": {"site_user_id": guest_id}})
        ids.pin_put = True
        pin = await self.settle(ids, self.client.put_pin, site_id, guest_id)
        return pin

    async def settle(self, ids: KsIds, function: Callable[..., Awaitable[T]],
                     *args: Any) -> T:
        """Retry the answers KS gives while a new guest propagates (403/2203, 404/2202 for
        up to a minute, §2.7) until ``consistency_window_s`` after the guest's creation."""
        # Wall time, as the creation is remembered across restarts; never later than a
        # window from now, so a clock stepped back an hour does not stretch it to one.
        created = min(float(ids.guest_created_at or 0.0), self.clock())
        deadline = created + self.config.consistency_window_s
        pause = 0.5
        while True:
            try:
                return await self.call(function, *args)
            except KsRefused as err:
                if not _settling(err) or self.clock() + pause > deadline:
                    raise
            await self.sleep(pause * self.rng.uniform(0.5, 1.0))
            pause = min(SETTLE_MAX_S, pause * 2)


def _settling(err: KsRefused) -> bool:
    return str(err.error_code) in ("2202", "2203") and isinstance(err, KsForbidden | KsNotFound)


def platform_id(member: dict[str, Any]) -> Any:
    """Group members come as platform users: ``id``, or ``user.id`` in some shapes."""
    user = member.get("user")
    return user.get("id") if isinstance(user, dict) else member.get("id")


def _same_instant(found: Any, wanted: str) -> bool:
    moment = stay.parse_instant(found) if found else None
    return moment is not None and moment == stay.parse_instant(wanted)
