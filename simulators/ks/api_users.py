"""Connect endpoints for site users: guests, users, subscription, PINs and keys
(notes §3.1 #7-13). Paths take the SITE-USER id; a platform id there is 404/2202."""

from simulators.ks import odata, pins
from simulators.ks.model import SiteUser, site_user_json
from simulators.ks.wire import Call, Response

USER_FILTER: odata.Allowed = {"alias": ("text", odata.EQ)}


def _view(call: Call, user: SiteUser) -> dict[str, object]:
    """A site user as the API shows it: no roles yet while the cloud settles (§2.7)."""
    return site_user_json(user, [] if call.cloud.settling(user) else call.cloud.roles_of(user))


def _user(call: Call) -> SiteUser:
    return call.cloud.get_user(call.params["site_user"])


def create_guest(call: Call) -> Response:
    return call.ok(_view(call, call.cloud.create_guest(call.body())), 201)


def create_user(call: Call) -> Response:
    return call.ok(_view(call, call.cloud.create_user(call.body())), 201)


def list_users(call: Call) -> Response:
    return call.page(list(call.cloud.users.values()), USER_FILTER,
                     lambda user: _view(call, user))


def get_user(call: Call) -> Response:
    return call.ok(_view(call, _user(call)))


def patch_user(call: Call) -> Response:
    user = _user(call)
    call.cloud.patch_user(user, call.body())
    return call.ok(_view(call, user))


def delete_user(call: Call) -> Response:
    """202 and gone: the seat is free in the same instant (§2.6)."""
    call.cloud.delete_user(_user(call))
    return Response(202)


def patch_subscription(call: Call) -> Response:
    user = _user(call)
    call.cloud.set_subscription(user, call.body())
    return call.ok(_view(call, user))


def put_pin(call: Call) -> Response:
    """200 with the PIN as a bare JSON string; every call rotates it."""
    user = _user(call)
    return call.ok(pins.issue(call.cloud, user, call.body()))


def put_custom_pin(call: Call) -> Response:
    user = _user(call)
    return call.ok(pins.custom(call.cloud, user, call.body()))


def list_keys(call: Call) -> Response:
    return call.page(pins.keys(_user(call)))


ROUTES = [
    ("POST", "sites/{site}/guests", create_guest),
    ("GET", "sites/{site}/users", list_users),
    ("POST", "sites/{site}/users", create_user),
    ("GET", "sites/{site}/users/{site_user}", get_user),
    ("PATCH", "sites/{site}/users/{site_user}", patch_user),
    ("DELETE", "sites/{site}/users/{site_user}", delete_user),
    ("PATCH", "sites/{site}/users/{site_user}/subscription", patch_subscription),
    ("PUT", "sites/{site}/users/{site_user}/pin", put_pin),
    ("PUT", "sites/{site}/users/{site_user}/pin/custom", put_custom_pin),
    ("GET", "sites/{site}/users/{site_user}/keys", list_keys),
]
