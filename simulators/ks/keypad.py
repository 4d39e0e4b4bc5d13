"""The door: a PIN typed at a lock's keypad, decided as a lock decides, and incidents.

What the lock knows is what has reached it (notes §2.4, §2.7, §6.3): a user's PIN is known
at a lock only through a group that holds the lock, of which the user has been a member
for ``member_propagation_s``, and that carries a schedule whose current (or previous)
version has had ``schedule_propagation_s`` to arrive. A PIN the lock does not know — an
unknown PIN, a user in no such group, a group without a schedule — is ``lock_rejected`` /
``no_access`` with the sentinel ``user_id`` (measured). A known user is then refused for
``suspended``, and with ``event_detail: null`` for ``use_pin: false``, ``blocked``, a passed
``expires_at`` (knob ``enforce_expires_at``) or a time outside every schedule window.
A lock or IQ offline decides nothing and writes no entry.

The answer also carries ``reason``, a simulator-only word saying which rule decided.
"""

import datetime
from typing import TYPE_CHECKING, Any

from simulators.ks import defaults
from simulators.ks.clock import parse_instant
from simulators.ks.events import INCIDENT_TYPES, make_entry, make_incident
from simulators.ks.model import AccessGroup, Lock, Schedule, ScheduleVersion, SiteUser
from simulators.ks.schedules import allows

if TYPE_CHECKING:
    from simulators.ks.cloud import KsCloud

_S = datetime.timedelta(seconds=1)


def _when(cloud: "KsCloud", at: str | datetime.datetime | None) -> datetime.datetime:
    """``at`` as an aware instant; a naive value is site-local wall time."""
    if at is None:
        return cloud.now()
    if isinstance(at, str):
        return parse_instant(at, cloud.zone)
    return at if at.tzinfo else at.replace(tzinfo=cloud.zone)


def _arrived(since: datetime.datetime, delay_s: float, at: datetime.datetime) -> bool:
    return delay_s <= 0 or at >= since + delay_s * _S


def _version_at_lock(schedule: Schedule, lock_added: datetime.datetime, delay_s: float,
                     at: datetime.datetime) -> ScheduleVersion | None:
    """The version of ``schedule`` the lock holds at ``at``, if any has reached it."""
    if _arrived(max(schedule.changed_at, lock_added), delay_s, at):
        return schedule.current
    if schedule.previous is not None and _arrived(lock_added, delay_s, at):
        return schedule.previous
    return None


def known_versions(cloud: "KsCloud", lock: Lock, user: SiteUser, at: datetime.datetime
                   ) -> list[ScheduleVersion]:
    """The schedule versions through which ``lock`` knows ``user`` at ``at``."""
    knobs = cloud.knobs
    versions = []
    for group in cloud.groups.values():
        if lock.id not in group.locks or not _is_member(group, user, knobs.member_propagation_s,
                                                         at):
            continue
        for schedule in group.schedules.values():
            version = _version_at_lock(schedule, group.locks[lock.id],
                                       knobs.schedule_propagation_s, at)
            if version is not None:
                versions.append(version)
    return versions


def _is_member(group: AccessGroup, user: SiteUser, delay_s: float, at: datetime.datetime
               ) -> bool:
    added = group.members.get(user.user_id)
    return added is not None and _arrived(added, delay_s, at)


def _decide(cloud: "KsCloud", lock: Lock, user: SiteUser | None, at: datetime.datetime
            ) -> tuple[str, str | None, str]:
    """(event_category, event_detail, reason) for a PIN of ``user`` (None: unknown)."""
    versions = known_versions(cloud, lock, user, at) if user is not None else []
    if user is None or not versions:
        return "lock_rejected", "no_access", "unknown_pin" if user is None else "not_at_lock"
    if user.subscription_state != "subscribed":
        return "lock_rejected", "suspended", "suspended"
    if not user.use_pin:
        return "lock_rejected", None, "use_pin_false"
    if user.blocked:
        return "lock_rejected", None, "blocked"
    if cloud.knobs.enforce_expires_at and user.expires_at and at >= user.expires_at:
        return "lock_rejected", None, "expired"
    local = at.astimezone(cloud.zone).replace(tzinfo=None)
    if not any(allows(version, local) for version in versions):
        return "lock_rejected", None, "outside_schedule"
    return "lock_opened", None, "opened"


def press(cloud: "KsCloud", lock_ref: str, pin: str, at: str | datetime.datetime | None
          ) -> dict[str, Any]:
    """PIN ``pin`` entered at ``lock_ref`` at ``at``; writes the entry (the caller locks)."""
    lock = cloud.find_lock(lock_ref)
    iq = cloud.iqs[lock.iq_id]
    when = _when(cloud, at).replace(microsecond=0)
    if not (lock.online and iq.online):
        reason = "lock_offline" if not lock.online else "iq_offline"
        return {"opened": False, "event_detail": "offline", "reason": reason, "entry": None}
    user = cloud.user_by_pin(pin)
    category, detail, reason = _decide(cloud, lock, user, when)
    entry = make_entry(category, detail, lock, iq, when, cloud.site.time_zone,
                       *_who(user, reason, detail))
    cloud.entries.append(when, entry)
    return {"opened": category == "lock_opened", "event_detail": detail, "reason": reason,
            "entry": entry}


def _who(user: SiteUser | None, reason: str, detail: str | None
         ) -> tuple[str, tuple[str | None, str | None, str | None]]:
    """The entry's user_id and (first, last, alias): the sentinel for a PIN the lock does
    not know; a suspended user's name is not shown (measured: alias null)."""
    if user is None or reason in ("unknown_pin", "not_at_lock"):
        return defaults.NO_ACCESS_USER_ID, (None, None, None)
    if detail == "suspended":
        return user.user_id, (None, None, None)
    return user.user_id, (user.first_name, user.last_name, user.alias)


# -- incidents -----------------------------------------------------------------------------

_EFFECTS: dict[str, tuple[str, bool]] = {
    "door_left_open_alarm": ("left_open_alarm", True),
    "end_of_door_left_open_alarm": ("left_open_alarm", False),
    "intrusion_alarm": ("intrusion_alarm", True),
    "end_of_intrusion_alarm": ("intrusion_alarm", False),
    "lock_connection_lost": ("online", False), "lock_connection_restored": ("online", True),
}


def incident(cloud: "KsCloud", lock_ref: str, kind: str, battery_level: str | None,
             at: str | datetime.datetime | None) -> dict[str, Any]:
    """Record incident ``kind`` at a lock and let it change the lock as it would."""
    if kind not in INCIDENT_TYPES:
        raise ValueError("unknown incident type %r; types: %s" % (
            kind, ", ".join(sorted(INCIDENT_TYPES))))
    lock = cloud.find_lock(lock_ref)
    iq = cloud.iqs[lock.iq_id]
    if kind in _EFFECTS:
        setattr(lock, *_EFFECTS[kind])
    if kind.startswith("iq_connection_"):
        iq.online = kind == "iq_connection_restored"
    if battery_level is not None or kind == "low_battery_warning":
        lock.battery_level = battery_level or "low"
    when = _when(cloud, at).replace(microsecond=0)
    record = make_incident(kind, lock, iq, when, cloud.site.time_zone)
    cloud.incidents.append(when, record)
    return record
