"""What KS holds, compared with the keys the store knows (the nightly reconciliation).

Only what carries our reference is ours: guests whose alias and access groups whose
customer_reference start with ``kb:{site}:`` (stay.py). Staff and other integrations on the
same KS site are never reported nor touched. Kinds, each with the fix reconciliation queues
when asked to repair:

- ``missing_in_ks``  a key we believe active has no guest or no PIN in KS → mint it again;
- ``unknown_in_ks``  KS holds a guest or group of ours that no live key explains (a revoked
  key whose deletion was lost, a key deleted from the store) → remove it;
- ``suspended``      the guest lost its seat → converge (subscribe again);
- ``pin_disabled``   the guest may not use its PIN → converge;
- ``wrong_schedule`` / ``wrong_locks`` / ``not_member`` → converge the group.

PIN values cannot be compared: KS never shows them (§2.5).

Requests: the guests and the groups are paged once; each group comes with its members,
locks and schedule when KS expands them (``$expand``, which no source documents: §3.3 [U]),
else each is looked up as before. KS shows whether a guest holds a PIN only per guest
(``/users/{id}/keys``; no listing of keys and no expand is known), so that request stays
one per key. A guest absent from the listing is asked for by id before it is called gone.
"""

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from appliance import lifecycle
from appliance.engine.backend import (
    FIX_REISSUE,
    FIX_REMOVE,
    FIX_UPDATE,
    BackendFailure,
    KeyRow,
    holder_fields,
)
from appliance.ks import stay
from appliance.ks.errors import KsInvalid
from appliance.ks.ids import KsIds
from appliance.ks.saga import Saga, platform_id

log = logging.getLogger("keybridge.ks")
GROUP_PARTS = ("users", "locks", "time_schedules")
Parts = list[dict[str, Any]]


async def compare(saga: Saga, keys: list[KeyRow]) -> list[dict[str, Any]]:
    site_id = await saga.site.id()
    name = saga.site.name
    guests = {guest["alias"]: guest for guest in await saga.call(saga.client.users, site_id)
              if stay.ours(name, guest.get("alias"))}
    groups = {group["customer_reference"]: group for group in await _groups(saga, site_id)
              if stay.ours(name, group.get("customer_reference"))}
    found: list[dict[str, Any]] = []
    live = {stay.reference(name, key.id): key for key in keys if key.state == lifecycle.ACTIVE}
    for reference, key in live.items():
        try:
            found.extend(await _check(saga, key, guests.get(reference), groups.get(reference)))
        except BackendFailure as failure:
            if failure.retry and failure.code == "backend_unavailable":
                raise
            # One key's problem (a lock renamed in KS) must not hide all the others.
            found.append(_item(key, "cannot_check", None, "%s: %s" % (failure.code,
                                                                     failure.message)))
    settled = {stay.reference(name, key.id) for key in keys if key.state != lifecycle.REVOKED}
    for reference in (set(guests) | set(groups)) - settled:
        found.append(_stray(reference, guests.get(reference), groups.get(reference), keys))
    return found


async def _groups(saga: Saga, site_id: str) -> list[dict[str, Any]]:
    """The access groups, expanded if KS will; asked again each time (KS may learn it)."""
    try:
        return await saga.call(functools.partial(saga.client.access_groups, site_id,
                                                 expand=GROUP_PARTS))
    except KsInvalid as refused:
        log.info("KS refused to expand access groups (%s); asking for each group's members, "
                 "locks and schedule instead", refused)
        return await saga.call(saga.client.access_groups, site_id)


async def _part(saga: Saga, group: dict[str, Any], part: str,
                look_up: Callable[[str, str], Awaitable[Parts]],
                fits: Callable[[Parts], bool]) -> Parts:
    """A group's ``part`` as its listing nested it if that fits the key; else as KS answers
    for the group itself. An expansion is undocumented (§3.3 [U]): what it shows may find
    nothing wrong, but only a direct answer may report a discrepancy."""
    nested = group.get(part)
    if isinstance(nested, list) and all(isinstance(item, dict) for item in nested) and fits(
            nested):
        return nested
    return await saga.call(look_up, await saga.site.id(), group["id"])


async def _check(saga: Saga, key: KeyRow, guest: dict[str, Any] | None,
                 group: dict[str, Any] | None) -> list[dict[str, Any]]:
    site_id = await saga.site.id()
    known = KsIds.from_json(key.external_ids).site_user_id
    if guest is None and known:
        # The listing pages by offset while guests come and go: ask for this one itself
        # before calling it gone (a reissue rotates a PIN the guest may well hold).
        guest = await saga.call(saga.client.user, site_id, known)
    if guest is None:
        return [_item(key, "missing_in_ks", FIX_REISSUE, "KS has no guest for this key; its "
                      "PIN opens nothing")]
    if not any(item.get("type") == "pin" for item in await saga.call(
            saga.client.keys, site_id, guest["id"])):
        return [_item(key, "missing_in_ks", FIX_REISSUE, "the guest has no PIN in KS")]
    found = []
    if guest.get("subscription_state") != "subscribed":
        found.append(_item(key, "suspended", FIX_UPDATE, "the guest is %s: no seat, the PIN "
                           "opens nothing" % guest.get("subscription_state")))
    if guest.get("use_pin") is not True:
        found.append(_item(key, "pin_disabled", FIX_UPDATE, "the guest may not use a PIN"))
    if group is None:
        return [*found, _item(key, "missing_in_ks", FIX_UPDATE, "KS has no access group for "
                              "this key")]
    return found + await _check_group(saga, key, guest, group)


async def _check_group(saga: Saga, key: KeyRow, guest: dict[str, Any],
                       group: dict[str, Any]) -> list[dict[str, Any]]:
    wanted = stay.schedule_body(key, await saga.site.zone())
    locks = set(await saga.site.lock_ids(saga.locks_of(key)))
    person = guest["user"]["id"]

    def schedule_fits(found: Parts) -> bool:
        return len(found) == 1 and stay.schedule_matches(found[0], wanted)

    def locks_fit(found: Parts) -> bool:
        return {lock.get("id") for lock in found} == locks

    def member_fits(found: Parts) -> bool:
        return any(platform_id(member) == person for member in found)

    found = []
    schedules = await _part(saga, group, "time_schedules", saga.client.schedules,
                            schedule_fits)
    if not schedule_fits(schedules):
        found.append(_item(key, "wrong_schedule", FIX_UPDATE, "the access group's schedule is "
                           "not the stay %s to %s" % (wanted["start_date"], wanted["end_date"]),
                           found=[[s.get("start_date"), s.get("end_date")] for s in schedules]))
    if not locks_fit(await _part(saga, group, "locks", saga.client.group_locks, locks_fit)):
        found.append(_item(key, "wrong_locks", FIX_UPDATE, "the access group opens other locks "
                           "than the booking's units"))
    if not member_fits(await _part(saga, group, "users", saga.client.group_users,
                                   member_fits)):
        found.append(_item(key, "not_member", FIX_UPDATE, "the guest is not in its access "
                           "group"))
    return found


def _item(key: KeyRow, kind: str, fix: str | None, message: str,
          **more: Any) -> dict[str, Any]:
    return {"kind": kind, "fix": fix, "key_id": key.id, **holder_fields(key),
            "key_type": key.key_type, "message": message,
            "site_user_id": KsIds.from_json(key.external_ids).site_user_id, **more}


def _stray(reference: str, guest: dict[str, Any] | None, group: dict[str, Any] | None,
           keys: list[KeyRow]) -> dict[str, Any]:
    key_id = stay.key_id_of(reference)
    key = next((key for key in keys if key.id == key_id), None)  # revoked, if any
    remote = {"reference": reference,
              "site_user_id": None if guest is None else guest["id"],
              "access_group_id": None if group is None else group["id"]}
    why = "unknown to keybridge" if key is None else "its key was revoked"
    item: dict[str, Any] = {
        "kind": "unknown_in_ks", "fix": FIX_REMOVE, "key_id": key_id,
        "message": "KS holds %s %s: %s" % ("a guest" if guest else "an access group",
                                            reference, why), "remote": remote,
        "site_user_id": remote["site_user_id"]}
    if key is not None:
        item.update(holder_fields(key))
    return item
