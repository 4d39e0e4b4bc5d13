"""PIN keys (notes §2.5, §3.1 #12-13): Salto picks the PIN, the API shows it once.

``PUT .../pin`` answers a bare JSON string of 6 random digits, unique on the site, and
every call ROTATES it (same key, new value) — never retry it blindly. The value is never
readable again through the API: ``GET .../keys`` lists the key without it (the simulator's
``/_sim/state`` does show it). ``PUT .../pin/custom`` needs the ``custom_pin`` feature.
Inside the consistency window after creation both are 403/2203 (§2.7).
"""

import secrets
from typing import TYPE_CHECKING, Any

from simulators.ks import fields
from simulators.ks.clock import iso_utc
from simulators.ks.errors import forbidden, invalid_value, no_subscription
from simulators.ks.model import SiteUser

if TYPE_CHECKING:
    from simulators.ks.cloud import KsCloud


def issue(cloud: "KsCloud", user: SiteUser, body: dict[str, Any]) -> str:
    """A new random 6-digit PIN for ``user``, unique on the site."""
    _check_allowed(cloud, user)
    expiry = fields.instant(body, "expiry_date")
    while True:
        pin = "%06d" % secrets.randbelow(1_000_000)
        if cloud.user_by_pin(pin) is None and pin != user.pin:
            break
    user.pin, user.pin_expiry = pin, iso_utc(expiry) if expiry else None
    return pin


def custom(cloud: "KsCloud", user: SiteUser, body: dict[str, Any]) -> str:
    """``{pin, expiry_date?}`` ([U] body: 4 to 8 digits, not another user's)."""
    if "custom_pin" not in cloud.site.features:
        raise no_subscription()
    _check_allowed(cloud, user)
    pin = body.get("pin")
    if not isinstance(pin, str) or not pin.isdigit() or not 4 <= len(pin) <= 8:
        raise invalid_value("The value of 'pin' is not valid: 4 to 8 digits.")
    owner = cloud.user_by_pin(pin)
    if owner is not None and owner is not user:
        raise invalid_value("The PIN is already in use.")
    expiry = fields.instant(body, "expiry_date")
    user.pin, user.pin_expiry = pin, iso_utc(expiry) if expiry else None
    return pin


def _check_allowed(cloud: "KsCloud", user: SiteUser) -> None:
    if cloud.settling(user):
        raise forbidden()
    if not cloud.site.pin_enabled:
        raise no_subscription("PIN codes are not enabled on this site")


def keys(user: SiteUser) -> list[dict[str, Any]]:
    """The user's keys, without their values."""
    if user.pin is None:
        return []
    return [{"type": "pin", "key_identifier": "pin", "expiry_date": user.pin_expiry,
             "offline_access": False}]
