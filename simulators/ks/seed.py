"""Guests with PIN access put straight into the cloud's state, for tests and benchmarks
that need thousands of them.

Through the Connect API one guest takes about ten requests (notes §3.5, model B: guest,
PIN use, group, schedule, lock, member, PIN); a reconciliation benchmark of 10,000 keys
would spend most of its time making them. Here each guest ends exactly as that recipe
leaves it: subscribed while seats last (suspended after, as §2.6 measured), ``use_pin``
on, a PIN unique on the site, and one access group of its own named like its alias, with
the locks named and one time schedule parsed by the same code the API uses. Created an
hour ago, so no consistency window or propagation delay is still running.
"""

import dataclasses
import datetime
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from simulators.ks.groups import add_schedule
from simulators.ks.model import AccessGroup, SiteUser

if TYPE_CHECKING:
    from simulators.ks.cloud import KsCloud

SETTLED = datetime.timedelta(hours=1)


@dataclasses.dataclass(frozen=True)
class PinStay:
    """One guest to seed: what a client would have sent for it."""

    alias: str  # the guest's alias and its group's customer_reference
    locks: tuple[str, ...]  # lock names (or ids) the group opens
    schedule: dict[str, Any]  # the time schedule's body (weekday booleans, times, dates)


@dataclasses.dataclass(frozen=True)
class Seeded:
    """The ids KS gave a seeded guest, as a client would have stored them."""

    site_user_id: str
    platform_user_id: str
    access_group_id: str
    schedule_id: str


def pin_guests(cloud: "KsCloud", stays: Sequence[PinStay]) -> list[Seeded]:
    """Seed one guest per stay; raises KeyError for a lock the site does not have."""
    with cloud.lock:
        seats = cloud.site.subscribed_user_amount - cloud.seats_used()
        pins = _free_pins({user.pin for user in cloud.users.values() if user.pin})
        return [_seed(cloud, stay, next(pins), subscribed=n < seats)
                for n, stay in enumerate(stays)]


def _seed(cloud: "KsCloud", stay: PinStay, pin: str, subscribed: bool) -> Seeded:
    then = cloud.now() - SETTLED
    user = SiteUser(str(uuid.uuid4()), str(uuid.uuid4()), then, ["site_guest"],
                    alias=stay.alias, use_pin=True, pin=pin,
                    subscription_state="subscribed" if subscribed else "suspended")
    group = AccessGroup(str(uuid.uuid4()), stay.alias, then)
    group.locks.update((cloud.find_lock(name).id, then) for name in stay.locks)
    group.members[user.user_id] = then
    schedule = add_schedule(cloud, group, stay.schedule)
    schedule.changed_at = then
    cloud.users[user.id] = user
    cloud.groups[group.id] = group
    return Seeded(user.id, user.user_id, group.id, schedule.id)


def _free_pins(taken: set[str | None]) -> Iterator[str]:
    for number in range(1_000_000):
        pin = "%06d" % number
        if pin not in taken:
            yield pin
    raise ValueError("every 6-digit PIN of the site is taken")
