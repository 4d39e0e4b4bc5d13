"""The records the simulated cloud keeps, and the JSON the Connect API shows of them.

Shapes follow the raw responses measured on the accept site (notes §3.1, §3.2): a site
user carries two ids (``id`` for the membership, ``user.id`` for the person), locks carry
no site id, lists of platform users (access-group members) show the platform id only.
Records are mutable dataclasses owned by ``cloud.KsCloud``; nothing here does I/O.
"""

import dataclasses
import datetime
from typing import Any

from simulators.ks import defaults
from simulators.ks.clock import iso_utc

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclasses.dataclass
class Site:
    id: str
    site_uid: str
    customer_reference: str
    time_zone: str
    subscribed_user_amount: int
    pin_enabled: bool
    installation_state: str
    features: list[str]
    country_code: str = defaults.COUNTRY_CODE


@dataclasses.dataclass
class Iq:
    id: str
    name: str
    mac: str
    online: bool = True


@dataclasses.dataclass
class Lock:
    id: str
    name: str
    mac: str
    iq_id: str
    lock_type: str = defaults.LOCK_TYPE
    online: bool = True
    battery_level: str = "fresh"
    locked_state: str = "locked"
    left_open_alarm: bool = False
    intrusion_alarm: bool = False


@dataclasses.dataclass
class SiteUser:
    id: str  # the site-user id (membership)
    user_id: str  # the platform user id (the person)
    created_at: datetime.datetime  # simulated time, for the consistency window
    roles: list[str]  # role codes
    alias: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    subscription_state: str = "subscribed"
    use_pin: bool = False
    blocked: bool = False
    expires_at: datetime.datetime | None = None
    pin: str | None = None  # the current PIN value: never shown by the Connect API
    pin_expiry: str | None = None
    system: bool = False
    flags: dict[str, bool] = dataclasses.field(default_factory=lambda: {
        "remote_access": False, "override_privacy_mode": False,
        "toggle_easy_office_mode": False, "toggle_manual_office_mode": False})


@dataclasses.dataclass(frozen=True)
class ScheduleVersion:
    """One version of a time schedule, as the lock evaluates it (site-local wall time)."""

    days: tuple[bool, ...]  # monday .. sunday
    start_time: str  # "HH:MM:SS"
    end_time: str  # "HH:MM:59"
    start_date: str | None  # "YYYY-MM-DDTHH:MM:SS", naive site-local
    end_date: str | None


@dataclasses.dataclass
class Schedule:
    id: str
    current: ScheduleVersion
    changed_at: datetime.datetime
    previous: ScheduleVersion | None = None  # what the locks keep until the change arrives


@dataclasses.dataclass
class AccessGroup:
    id: str
    customer_reference: str
    created_at: datetime.datetime
    locks: dict[str, datetime.datetime] = dataclasses.field(default_factory=dict)
    members: dict[str, datetime.datetime] = dataclasses.field(default_factory=dict)
    schedules: dict[str, Schedule] = dataclasses.field(default_factory=dict)


def role_json(code: str) -> dict[str, Any]:
    for role_id, role_code, reference, parent, hierarchical in defaults.ROLES:
        if role_code == code:
            return {"id": role_id, "customer_reference": reference, "code": code,
                    "parent_id": parent, "is_hierarchical": hierarchical}
    return {"id": defaults.derived_id("role", code), "customer_reference": code,
            "code": code, "parent_id": None, "is_hierarchical": False}


def platform_user_json(user: SiteUser) -> dict[str, Any]:
    return {"email": user.email, "image_url": None, "tag_number": None,
            "is_managed_by_current_site": not user.system, "has_profile": user.email is not None,
            "id": user.user_id, "first_name": user.first_name, "last_name": user.last_name}


def site_user_json(user: SiteUser, roles: list[str] | None = None) -> dict[str, Any]:
    """A site user with ``roles`` (codes; default: its own). The API shows [] while the
    cloud has not settled (notes §2.7)."""
    return {"id": user.id, "user": platform_user_json(user),
            "roles": [role_json(code) for code in (user.roles if roles is None else roles)],
            "alias": user.alias,
            "toggle_easy_office_mode": user.flags["toggle_easy_office_mode"],
            "toggle_manual_office_mode": user.flags["toggle_manual_office_mode"],
            "remote_access": user.flags["remote_access"], "blocked": user.blocked,
            "tag_owned_by_this_site": False, "subscription_state": user.subscription_state,
            "override_privacy_mode": user.flags["override_privacy_mode"],
            "use_pin": user.use_pin, "data_removal_expires_at": None,
            "expires_at": iso_utc(user.expires_at) if user.expires_at else None}


def iq_json(iq: Iq, time_zone: str) -> dict[str, Any]:
    return {"id": iq.id, "customer_reference": iq.name, "time_zone": time_zone, "mac": iq.mac,
            "operator": "Simulated GSM", "state": "active", "restore_required": False,
            "reset_date": None, "online": iq.online, "led_enabled": True,
            "data_sync_state": "synced", "signal_strength": 21, "revision": "2.0",
            "otp_enabled": True}


def lock_json(lock: Lock, iq: Iq) -> dict[str, Any]:
    always = dict.fromkeys(WEEKDAYS, True)
    return {
        "offline_access_keys_limit": 360, "offline_access_keys_count": 0, "mac": lock.mac,
        "floor": None, "locked_state": lock.locked_state, "lock_type": lock.lock_type,
        "online": lock.online, "iq_link_state": "attached",
        "tag_registration_state": "not_started", "battery_level": lock.battery_level,
        "left_open_alarm": lock.left_open_alarm, "intrusion_alarm": lock.intrusion_alarm,
        "easy_office_mode_schedule": {"eom_auto_start": False, **always,
                                      "start_time": "00:00:00", "end_time": "23:59:59",
                                      "start_date": None, "end_date": None},
        "iq": {"mac_address": iq.mac, "is_online": iq.online, "revision": "2.0",
               "otp_enabled": True, "id": iq.id, "customer_reference": iq.name},
        "repeater": None, "privacy_mode": False, "communication_type": "blue_net",
        "vendor": {"id": defaults.derived_id("vendor", "sallis"), "reference": "sallis",
                   "display_name": "SALTO Sallis"},
        "id": lock.id, "customer_reference": lock.name}


def schedule_json(schedule: Schedule, group_id: str) -> dict[str, Any]:
    version = schedule.current
    return {"id": schedule.id, "access_group_id": group_id,
            **dict(zip(WEEKDAYS, version.days, strict=True)),
            "start_time": version.start_time, "end_time": version.end_time,
            "start_date": version.start_date, "end_date": version.end_date}


def group_json(group: AccessGroup) -> dict[str, Any]:
    return {"id": group.id, "customer_reference": group.customer_reference}


def site_json(site: Site, active_users: int, active_iqs: int, owner: SiteUser
              ) -> dict[str, Any]:
    return {"active_user_amount": active_users, "active_iq_amount": active_iqs,
            "pin_enabled": site.pin_enabled, "site_uid": site.site_uid, "id": site.id,
            "customer_reference": site.customer_reference,
            "subscribed_user_amount": site.subscribed_user_amount,
            "subscription_valid": True, "country_code": site.country_code,
            "time_zone": site.time_zone, "owner": platform_user_json(owner),
            "installation_state": site.installation_state, "mkey_compatible": True,
            "store_events_ttl": "90.00:00:00"}
