"""``GET /_sim/state``: the cloud as a test sees it, secrets included.

Unlike the Connect API this shows the current PIN of every user, both ids side by side,
seat counts and every group's locks, platform members and schedules, so an end-to-end
test can assert on what the appliance did without re-deriving it through the API.
"""

from typing import TYPE_CHECKING, Any

from simulators.ks.clock import iso_utc
from simulators.ks.model import AccessGroup, Lock, SiteUser, schedule_json

if TYPE_CHECKING:
    from simulators.ks.cloud import KsCloud


def snapshot(cloud: "KsCloud") -> dict[str, Any]:
    """The whole state (the caller holds ``cloud.lock``)."""
    used = cloud.seats_used()
    site = {**cloud.site_json(), "features": list(cloud.site.features), "seats_used": used,
            "seats_free": max(0, cloud.site.subscribed_user_amount - used)}
    return {"now": iso_utc(cloud.now()), "clock": cloud.clock.as_dict(), "site": site,
            "locks": [lock_state(cloud, lock) for lock in cloud.locks.values()],
            "iqs": [{"id": iq.id, "name": iq.name, "online": iq.online}
                    for iq in cloud.iqs.values()],
            "users": [user_state(cloud, user) for user in cloud.users.values()],
            "access_groups": [group_state(cloud, g) for g in cloud.groups.values()],
            "entries": len(cloud.entries), "incidents": cloud.incidents.all(),
            "knobs": cloud.knobs.as_dict()}


def lock_state(cloud: "KsCloud", lock: Lock) -> dict[str, Any]:
    return {"id": lock.id, "name": lock.name, "online": lock.online, "iq_id": lock.iq_id,
            "iq_online": cloud.iqs[lock.iq_id].online, "battery_level": lock.battery_level,
            "left_open_alarm": lock.left_open_alarm, "intrusion_alarm": lock.intrusion_alarm}


def user_state(cloud: "KsCloud", user: SiteUser) -> dict[str, Any]:
    return {"id": user.id, "user_id": user.user_id, "alias": user.alias,
            "first_name": user.first_name, "last_name": user.last_name, "email": user.email,
            "roles": cloud.roles_of(user), "subscription_state": user.subscription_state,
            "use_pin": user.use_pin, "blocked": user.blocked,
            "expires_at": iso_utc(user.expires_at) if user.expires_at else None,
            "pin": user.pin, "pin_expiry": user.pin_expiry,
            "created_at": iso_utc(user.created_at), "system": user.system,
            "access_groups": [g.id for g in cloud.groups.values() if user.user_id in g.members]}


def group_state(cloud: "KsCloud", group: AccessGroup) -> dict[str, Any]:
    return {"id": group.id, "customer_reference": group.customer_reference,
            "locks": list(group.locks),
            "lock_names": [cloud.locks[lock_id].name for lock_id in group.locks],
            "users": list(group.members),
            "schedules": [{**schedule_json(s, group.id), "changed_at": iso_utc(s.changed_at)}
                          for s in group.schedules.values()]}
