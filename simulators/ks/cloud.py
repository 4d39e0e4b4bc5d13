"""The simulated KS cloud's state: one site, its locks and IQ, site users, groups, events.

``KsCloud`` is the state machine behind the Connect API (notes §6.2) and the object tests
hold in-process (``server.cloud``). It owns one re-entrant lock: the HTTP router takes it
around every request and the public methods here take it too, so a test thread and the
server threads see consistent state.

Site users follow the two-id model (§2.2): ``id`` is the membership, ``user_id`` the
person; seats are counted exactly as measured (§2.6): every *subscribed* user holds one
(the system user too), ``expires_at`` passing frees nothing, delete and suspend free one,
and creating a user on a full site still succeeds, suspended. The consistency window
(§2.7) makes a fresh user invisible to PIN and group calls for ``consistency_window_s``.
Groups, members and schedules live in ``groups.py``, PINs in ``pins.py``, the door in
``keypad.py``.
"""

import datetime
import re
import threading
import uuid
import zoneinfo
from collections.abc import Sequence
from typing import Any

from simulators.ks import defaults, fields, keypad, snapshot
from simulators.ks.clock import SimClock
from simulators.ks.errors import (
    forbidden,
    invalid_request,
    invalid_value,
    no_subscription,
    not_found,
)
from simulators.ks.events import EventLog, incident_flat
from simulators.ks.knobs import Knobs
from simulators.ks.model import AccessGroup, Iq, Lock, Site, SiteUser, site_json

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PATCHABLE = {"use_pin", "alias", "blocked", "expires_at", "first_name", "last_name",
             "override_privacy_mode", "toggle_easy_office_mode", "toggle_manual_office_mode"}
FLAGS = ("override_privacy_mode", "toggle_easy_office_mode", "toggle_manual_office_mode")


def _mac(seed: str, length: int) -> str:
    return uuid.uuid5(defaults.ID_NAMESPACE, "mac:" + seed).hex.upper()[:length]


class KsCloud:
    """The tenant as the cloud sees it.

    Args:
        locks: names of the site's locks (their ids are derived from the names).
        seats: the site's ``subscribed_user_amount``.
        time_zone: the site's IANA time zone.
        knobs: behaviour and fault knobs (fresh defaults if None).
        clock: the simulated now (real time if None).
    """

    def __init__(self, *, locks: Sequence[str] = defaults.LOCK_NAMES,
                 seats: int = defaults.SEATS, time_zone: str = defaults.TIME_ZONE,
                 knobs: Knobs | None = None, clock: SimClock | None = None) -> None:
        zoneinfo.ZoneInfo(time_zone)  # fail early on a zone that does not exist
        if len(set(locks)) != len(locks) or not all(locks):
            raise ValueError("lock names must be non-empty and unique: %r" % (locks,))
        self.lock = threading.RLock()
        self.knobs = knobs if knobs is not None else Knobs()
        self.clock = clock if clock is not None else SimClock()
        self._initial = (tuple(locks), seats, time_zone)
        self._build()

    def _build(self) -> None:
        names, seats, time_zone = self._initial
        self.site = Site(defaults.SITE_ID, defaults.SITE_UID, defaults.SITE_CUSTOMER_REFERENCE,
                         time_zone, seats, defaults.PIN_ENABLED, defaults.INSTALLATION_STATE,
                         list(defaults.FEATURES))
        self.iqs = {defaults.IQ_ID: Iq(defaults.IQ_ID, defaults.IQ_NAME, "%s.%s.%s" % tuple(
            _mac(defaults.IQ_NAME, 6)[i:i + 2] for i in (0, 2, 4)))}
        self.locks = {defaults.lock_id(name): Lock(defaults.lock_id(name), name,
                                                   _mac(name, 14), defaults.IQ_ID)
                      for name in names}
        system = SiteUser(defaults.SYSTEM_SITE_USER_ID, defaults.SYSTEM_USER_ID,
                          self.clock.now() - datetime.timedelta(days=365), ["site_admin"],
                          first_name=defaults.SYSTEM_FIRST_NAME,
                          last_name=defaults.SYSTEM_LAST_NAME, email=defaults.USERNAME,
                          use_pin=True, system=True)
        self.users: dict[str, SiteUser] = {system.id: system}
        self.groups: dict[str, AccessGroup] = {}
        self.entries = EventLog()
        self.incidents = EventLog(flat=incident_flat)

    def reset(self) -> None:
        """Back to the initial state: knobs, clock, users, groups, events."""
        with self.lock:
            self.knobs.reset()
            self.clock.real()
            self._build()

    # -- lookups -------------------------------------------------------------------------

    def now(self) -> datetime.datetime:
        return self.clock.now()

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.site.time_zone)

    def check_site(self, site_id: str) -> None:
        """Only the site UUID addresses the site: anything else (the site_uid) is 400/1100."""
        if site_id.lower() != self.site.id:
            raise invalid_request("The site id '%s' is not valid." % site_id)

    def get_lock(self, lock_id: str) -> Lock:
        lock = self.locks.get(lock_id.lower())
        if lock is None:
            raise not_found("Lock")
        return lock

    def find_lock(self, ref: str) -> Lock:
        """A lock by name or id (for the simulator's own endpoints); KeyError if none."""
        for lock in self.locks.values():
            if ref in (lock.name, lock.id):
                return lock
        raise KeyError("no lock %r; locks: %s" % (ref, ", ".join(
            lock.name for lock in self.locks.values())))

    def get_user(self, site_user_id: str) -> SiteUser:
        """A site user by its site-user id; a platform id is 404/2202, as measured."""
        user = self.users.get(site_user_id.lower())
        if user is None:
            raise not_found("User")
        return user

    def user_by_platform(self, user_id: str) -> SiteUser | None:
        return next((u for u in self.users.values() if u.user_id == user_id.lower()), None)

    def user_by_pin(self, pin: str) -> SiteUser | None:
        return next((u for u in self.users.values() if u.pin is not None and u.pin == pin),
                    None)

    def get_group(self, group_id: str) -> AccessGroup:
        group = self.groups.get(group_id.lower())
        if group is None:
            raise not_found("Access group")
        return group

    def roles_of(self, user: SiteUser) -> list[str]:
        """Role codes; the system user's is the ``system_user_role`` knob."""
        return [self.knobs.system_user_role] if user.system else list(user.roles)

    def find_user(self, alias: str) -> dict[str, Any] | None:
        """The state (both ids, current PIN, ...) of the first user called ``alias``."""
        with self.lock:
            user = next((u for u in self.users.values() if u.alias == alias), None)
            return None if user is None else snapshot.user_state(self, user)

    def settling(self, user: SiteUser) -> bool:
        """Whether ``user`` is still inside the consistency window after its creation."""
        window = self.knobs.consistency_window_s
        return window > 0 and self.now() < user.created_at + datetime.timedelta(seconds=window)

    def seats_used(self) -> int:
        return sum(1 for user in self.users.values() if user.subscription_state == "subscribed")

    def site_json(self) -> dict[str, Any]:
        system = self.users[defaults.SYSTEM_SITE_USER_ID]
        return site_json(self.site, self.seats_used(),
                         sum(1 for iq in self.iqs.values() if iq.online), system)

    # -- site users ----------------------------------------------------------------------

    def _new_user(self, roles: list[str], **fields: Any) -> SiteUser:
        full = self.seats_used() >= self.site.subscribed_user_amount
        user = SiteUser(str(uuid.uuid4()), str(uuid.uuid4()), self.now(), roles,
                        subscription_state="suspended" if full else "subscribed", **fields)
        self.users[user.id] = user
        return user

    def create_guest(self, body: dict[str, Any]) -> SiteUser:
        """``POST /guests``: role site_guest, ``use_pin`` false, no e-mail, no invitation."""
        alias = fields.text(body, "alias")
        if not alias:
            raise invalid_value("The alias field is required.")
        return self._new_user(["site_guest"], alias=alias, expires_at=fields.instant(body,
                                                                               "expires_at"))

    def create_user(self, body: dict[str, Any]) -> SiteUser:
        """``POST /users``: any roles; an e-mail would send an invitation."""
        email = fields.text(body, "email")
        if email is not None and not _EMAIL.match(email):
            raise invalid_value("Email '%s' is not valid" % email)
        codes = {role_id: code for code, role_id in defaults.ROLE_IDS.items()}
        role_ids = body.get("role_ids") or [defaults.ROLE_IDS["site_user"]]
        if not isinstance(role_ids, list) or any(r not in codes for r in role_ids):
            raise invalid_value("The value of 'role_ids' is not valid.")
        fields.text(body, "tag_id")
        user = self._new_user([codes[r] for r in role_ids], alias=fields.text(body, "alias"),
                              first_name=fields.text(body, "first_name"),
                              last_name=fields.text(body, "last_name"), email=email,
                              use_pin=fields.flag(body, "use_pin", False),
                              blocked=fields.flag(body, "blocked", False),
                              expires_at=fields.instant(body, "expires_at"))
        for name in FLAGS:
            user.flags[name] = fields.flag(body, name, False)
        return user

    def patch_user(self, user: SiteUser, body: dict[str, Any]) -> None:
        unknown = sorted(set(body) - PATCHABLE)
        if unknown:
            raise invalid_value("The field '%s' is not valid." % unknown[0])
        for name in ("use_pin", "blocked"):
            setattr(user, name, fields.flag(body, name, getattr(user, name)))
        for name in ("alias", "first_name", "last_name"):
            if name in body:
                setattr(user, name, fields.text(body, name))
        if "expires_at" in body:
            user.expires_at = fields.instant(body, "expires_at")
        for name in FLAGS:
            user.flags[name] = fields.flag(body, name, user.flags[name])

    def set_subscription(self, user: SiteUser, body: dict[str, Any]) -> None:
        """``PATCH .../subscription {state}``: the field is ``state`` (§3.1 #10)."""
        unknown = sorted(set(body) - {"state"})
        if unknown:
            raise invalid_value("The field '%s' is not valid." % unknown[0])
        state = body.get("state")
        if state not in ("subscribed", "suspended"):
            raise invalid_value("The value of 'state' is not valid: subscribed or suspended.")
        if (state == "subscribed" and user.subscription_state != "subscribed"
                and self.seats_used() >= self.site.subscribed_user_amount):
            raise no_subscription("There are no free user seats on this site")
        user.subscription_state = state

    def delete_user(self, user: SiteUser) -> None:
        """Gone at once: the seat, the PIN and every group membership (202, then 404)."""
        if user.system:
            raise forbidden("Operation cannot be executed")
        for group in self.groups.values():
            group.members.pop(user.user_id, None)
        del self.users[user.id]

    # -- the door (in-process helpers; HTTP: /_sim/keypad, /_sim/incident) ---------------

    def keypad(self, lock: str, pin: str, at: str | datetime.datetime | None = None
               ) -> dict[str, Any]:
        """Enter ``pin`` at ``lock`` (name or id) at ``at`` (default: simulated now)."""
        with self.lock:
            return keypad.press(self, lock, pin, at)

    def incident(self, lock: str, kind: str, battery_level: str | None = None,
                 at: str | datetime.datetime | None = None) -> dict[str, Any]:
        with self.lock:
            return keypad.incident(self, lock, kind, battery_level, at)

    def set_lock(self, lock: str, online: bool | None = None, iq_online: bool | None = None,
                 battery_level: str | None = None) -> dict[str, Any]:
        with self.lock:
            found = self.find_lock(lock)
            if online is not None:
                found.online = online
            if iq_online is not None:
                self.iqs[found.iq_id].online = iq_online
            if battery_level is not None:
                found.battery_level = battery_level
            return snapshot.lock_state(self, found)

    def state(self) -> dict[str, Any]:
        """Everything a test asserts on, PIN values included (never shown by the API)."""
        with self.lock:
            return snapshot.snapshot(self)
