"""Access groups: locks x platform members x time schedules (notes §2.3-2.4, §3.1 #14-19).

Membership is keyed by the PLATFORM user id (``user.id``): a site-user id is 404/2202
"User not found", as measured. There is no natural-key uniqueness: two POSTs with the same
``customer_reference`` make two groups. Deleting what is not there is 404/2202.

Propagation (``member_propagation_s``, ``schedule_propagation_s``) is bookkeeping only:
each member, lock and schedule remembers when (simulated time) it was added or changed,
and ``keypad.py`` decides what a lock knows at a given instant. A changed schedule keeps
its previous version, which the locks go on using until the change has reached them.
"""

import datetime
import uuid
from typing import TYPE_CHECKING, Any

from simulators.ks import fields
from simulators.ks.errors import invalid_value, not_found
from simulators.ks.model import AccessGroup, Schedule
from simulators.ks.schedules import parse_schedule

if TYPE_CHECKING:
    from simulators.ks.cloud import KsCloud


def create_group(cloud: "KsCloud", body: dict[str, Any]) -> AccessGroup:
    reference = fields.text(body, "customer_reference")
    if not reference:
        raise invalid_value("The customer_reference field is required.")
    group = AccessGroup(str(uuid.uuid4()), reference, cloud.now())
    cloud.groups[group.id] = group
    return group


def delete_group(cloud: "KsCloud", group: AccessGroup) -> None:
    del cloud.groups[group.id]


# -- locks ---------------------------------------------------------------------------------

def add_lock(cloud: "KsCloud", group: AccessGroup, body: dict[str, Any]) -> str:
    lock_id = fields.text(body, "lock_id")
    if not lock_id:
        raise invalid_value("The lock_id field is required.")
    lock = cloud.get_lock(lock_id)
    group.locks.setdefault(lock.id, cloud.now())
    return lock.id


def patch_locks(cloud: "KsCloud", group: AccessGroup, body: dict[str, Any]) -> None:
    """``{add_ids, remove_ids}``: every id must be a lock of the site, or nothing changes."""
    add, remove = fields.ids(body, "add_ids"), fields.ids(body, "remove_ids")
    for lock_id in add + remove:
        cloud.get_lock(lock_id)
    for lock_id in remove:
        group.locks.pop(lock_id, None)
    for lock_id in add:
        group.locks.setdefault(lock_id, cloud.now())


def remove_lock(group: AccessGroup, lock_id: str) -> None:
    if group.locks.pop(lock_id.lower(), None) is None:
        raise not_found("Lock")


# -- members (platform user ids) -----------------------------------------------------------

def _member(cloud: "KsCloud", user_id: str) -> str:
    """The platform id of a user the cloud is ready to put in a group; 404/2202 otherwise."""
    user = cloud.user_by_platform(user_id)
    if user is None or cloud.settling(user):
        raise not_found("User")
    return user.user_id


def add_member(cloud: "KsCloud", group: AccessGroup, body: dict[str, Any]) -> str:
    user_id = fields.text(body, "user_id")
    if not user_id:
        raise invalid_value("The user_id field is required.")
    member = _member(cloud, user_id)
    group.members.setdefault(member, cloud.now())
    return member


def patch_members(cloud: "KsCloud", group: AccessGroup, body: dict[str, Any]) -> None:
    add, remove = fields.ids(body, "add_ids"), fields.ids(body, "remove_ids")
    members = [_member(cloud, user_id) for user_id in add]
    for user_id in remove:
        group.members.pop(user_id, None)
    for member in members:
        group.members.setdefault(member, cloud.now())


def remove_member(group: AccessGroup, user_id: str) -> None:
    if group.members.pop(user_id.lower(), None) is None:
        raise not_found("User")


# -- time schedules ------------------------------------------------------------------------

def get_schedule(group: AccessGroup, schedule_id: str) -> Schedule:
    schedule = group.schedules.get(schedule_id.lower())
    if schedule is None:
        raise not_found("Time schedule")
    return schedule


def add_schedule(cloud: "KsCloud", group: AccessGroup, body: dict[str, Any]) -> Schedule:
    schedule = Schedule(str(uuid.uuid4()), parse_schedule(body), cloud.now())
    group.schedules[schedule.id] = schedule
    return schedule


def patch_schedule(cloud: "KsCloud", schedule: Schedule, body: dict[str, Any]) -> None:
    """Change a schedule; the locks keep the version they have until the change arrives."""
    version = parse_schedule(body, schedule.current)
    now = cloud.now()
    delay = cloud.knobs.schedule_propagation_s
    if delay <= 0 or now >= schedule.changed_at + datetime.timedelta(seconds=delay):
        schedule.previous = schedule.current
    schedule.current, schedule.changed_at = version, now


def delete_schedule(group: AccessGroup, schedule_id: str) -> None:
    del group.schedules[get_schedule(group, schedule_id).id]
