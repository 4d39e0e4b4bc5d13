"""Connect endpoints for the site and its hardware: sites, subscription, locks, IQs, roles,
the caller's own records, entries and incidents (notes §3.1 #1-6, #20, #22-23)."""

from simulators.ks import defaults, odata
from simulators.ks.errors import KsError, not_found
from simulators.ks.events import ENTRY_FILTER, INCIDENT_FILTER, EventLog
from simulators.ks.model import iq_json, lock_json, role_json, site_user_json
from simulators.ks.wire import Call, Response, json_response

SITE_FILTER: odata.Allowed = {"site_uid": ("text", odata.EQ),
                              "customer_reference": ("text", odata.EQ), "id": ("id", odata.EQ)}
LOCK_FILTER: odata.Allowed = {"customer_reference": ("text", odata.EQ), "id": ("id", odata.EQ)}


def list_sites(call: Call) -> Response:
    """Sites of the caller; a bare array when ``sites_bare_array`` (sources disagree)."""
    if not call.cloud.knobs.sites_bare_array:
        return call.page([call.cloud.site_json()], SITE_FILTER)
    clauses = odata.parse_filter(call.request.query.get("$filter"), SITE_FILTER)
    rows = [call.cloud.site_json()]
    return json_response(200, [row for row in rows if odata.matches(row, clauses, SITE_FILTER)])


def get_site(call: Call) -> Response:
    return call.ok(call.cloud.site_json())


def get_subscription(call: Call) -> Response:
    site = call.cloud.site
    return call.ok({"user_amount": site.subscribed_user_amount, "type": "default",
                    "features": list(site.features)})


def list_locks(call: Call) -> Response:
    cloud = call.cloud
    return call.page([lock_json(lock, cloud.iqs[lock.iq_id]) for lock in cloud.locks.values()],
                     LOCK_FILTER)


def get_lock(call: Call) -> Response:
    lock = call.cloud.get_lock(call.params["lock"])
    return call.ok(lock_json(lock, call.cloud.iqs[lock.iq_id]))


def lock_locking(call: Call) -> Response:
    """Remote opening is out of scope (§6.5): without an OTP 404/2202 as measured, with one
    400/3102 ``otp_invalid`` (no IQ is ever activated here)."""
    call.cloud.get_lock(call.params["lock"])
    if not call.body().get("otp"):
        raise not_found("Otp is invalid")
    raise KsError(400, 3102, "otp_invalid")


def list_iqs(call: Call) -> Response:
    zone = call.cloud.site.time_zone
    return call.page([iq_json(iq, zone) for iq in call.cloud.iqs.values()])


def get_iq(call: Call) -> Response:
    iq = call.cloud.iqs.get(call.params["iq"].lower())
    if iq is None:
        raise not_found("Iq")
    return call.ok(iq_json(iq, call.cloud.site.time_zone))


def list_roles(call: Call) -> Response:
    return call.page([role_json(code) for _, code, _, _, _ in defaults.ROLES])


def get_me(call: Call) -> Response:
    """The system user's platform profile."""
    return call.ok({"id": defaults.SYSTEM_USER_ID, "first_name": defaults.SYSTEM_FIRST_NAME,
                    "last_name": defaults.SYSTEM_LAST_NAME, "phone": None,
                    "email": defaults.USERNAME, "language": "en-US", "tag_number": None,
                    "tag_rf_id_uid": None, "image_url": None})


def get_site_me(call: Call) -> Response:
    """The system user's own site-user record."""
    system = call.cloud.users[defaults.SYSTEM_SITE_USER_ID]
    return call.ok(site_user_json(system, call.cloud.roles_of(system)))


def _read(call: Call, log: EventLog, allowed: odata.Allowed) -> Response:
    request = call.request
    token = request.header("CLP-Continuation-Token") or request.query.get("continuation_token")
    return call.ok(log.read(request.query, token, call.cloud.knobs.page_size, allowed))


def list_entries(call: Call) -> Response:
    return _read(call, call.cloud.entries, ENTRY_FILTER)


def list_incidents(call: Call) -> Response:
    return _read(call, call.cloud.incidents, INCIDENT_FILTER)


ROUTES = [
    ("GET", "sites", list_sites),
    ("GET", "sites/{site}", get_site),
    ("GET", "sites/{site}/subscription", get_subscription),
    ("GET", "sites/{site}/locks", list_locks),
    ("GET", "sites/{site}/locks/{lock}", get_lock),
    ("PATCH", "sites/{site}/locks/{lock}/locking", lock_locking),
    ("GET", "sites/{site}/iqs", list_iqs),
    ("GET", "sites/{site}/iqs/{iq}", get_iq),
    ("GET", "sites/{site}/roles", list_roles),
    ("GET", "me", get_me),
    ("GET", "sites/{site}/me", get_site_me),
    ("GET", "sites/{site}/entries", list_entries),
    ("GET", "sites/{site}/incidents", list_incidents),
]
