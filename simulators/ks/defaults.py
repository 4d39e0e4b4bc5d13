"""The simulated tenant as constants: credentials, the site, its locks and the fixed ids.

Other engineers' tests and configuration code against these exact values, so they live
here and nowhere else. Ids that the real cloud hands out once and never changes (roles,
the system user, the locks of a commissioned site) are fixed: the locks' ids are derived
with uuid5 from their names so that a restarted simulator keeps them. Role ids of the
platform roles are the ones measured on the accept site (notes §3.1 #6).
"""

import uuid

# The OAuth client and the system user (notes §1.2: password grant, Basic client auth).
CLIENT_ID = "keybridge"
CLIENT_SECRET = "sim-client-secret"  # noqa: S105 - the simulator's published account
USERNAME = "system@keybridge.test"
PASSWORD = "sim-password"  # noqa: S105 - the simulator's published account

# The one site (notes §3.1 #2).
SITE_ID = "3f2b8c1e-5d4a-4e2b-9c7d-1a2b3c4d5e6f"
SITE_UID = "SIMSITE01"
SITE_CUSTOMER_REFERENCE = "Camping Demo"
TIME_ZONE = "Europe/Amsterdam"
COUNTRY_CODE = "NL"
SEATS = 50
PIN_ENABLED = True
INSTALLATION_STATE = "released"
FEATURES = ("events_streaming", "activity_log")

LOCK_NAMES = ("Pitch 12", "Pitch 14", "Chalet 3", "Chalet 7", "Shower block", "Main gate")
LOCK_TYPE = "escutcheon_pin"
IQ_NAME = "IQ 01"

# Every derived id hangs off this namespace, so it never collides with a random uuid4.
ID_NAMESPACE = uuid.UUID("6c1b5a9e-2f0d-4d4b-8a57-5b0e1f2a3c4d")


def derived_id(kind: str, name: str) -> str:
    """A stable UUID for ``name`` of ``kind`` ("lock", "iq", ...)."""
    return str(uuid.uuid5(ID_NAMESPACE, "%s:%s" % (kind, name)))


def lock_id(name: str) -> str:
    """The id a lock called ``name`` has in every run of the simulator."""
    return derived_id("lock", name)


IQ_ID = derived_id("iq", IQ_NAME)

# The system user: three different ids, as measured (notes §1.2, §2.2): the token's
# ``sub`` (identity subject), the platform user id and the site-user id.
SYSTEM_SUBJECT = derived_id("subject", USERNAME)
SYSTEM_USER_ID = derived_id("platform-user", USERNAME)
SYSTEM_SITE_USER_ID = derived_id("site-user", USERNAME)
SYSTEM_FIRST_NAME = "Keybridge"
SYSTEM_LAST_NAME = "System"

TENANT_ID = derived_id("tenant", "keybridge")
PRODUCT_ID = derived_id("product", "salto-ks")

# The ``user_id`` a lock reports for a PIN it does not know (notes §3.2, measured).
NO_ACCESS_USER_ID = "ee8f17b4-701b-4aa6-9f1c-22f71cc61ca6"

# Platform roles: (id, code, customer_reference, parent_id, is_hierarchical).
ROLES = (
    ("7d53b0b3-3ef7-11e8-9f1c-0050568d6e36", "site_admin", "Site Admin", None, True),
    ("8f6081a3-80fb-11e8-a892-000d3a221c5b", "site_user", "Site User",
     "76f7e578-80fb-11e8-a892-000d3a221c5b", True),
    (derived_id("role", "site_guest"), "site_guest", "Site Guest", None, False),
    ("9df437bb-80fb-11e8-a892-000d3a221c5b", "site_mobile_user", "Site Mobile User", None,
     False),
    ("1243f463-1033-11ea-ac2c-000d3a46a880", "site_pod_member", "Site Pod Member", None, False),
    ("58ebcde4-d01d-11eb-b9e0-000d3a46a880", "site_remote_office_mode_user",
     "Site Remote Office Mode User", None, False),
)
ROLE_IDS = {code: role_id for role_id, code, _, _, _ in ROLES}

# Tokens (notes §1.2) and entries (§3.2).
TOKEN_TTL_S = 3600
AUDIENCE = "user_api"
FULL_ACCESS = "user_api.full_access"
ALLOWED_SCOPES = frozenset({FULL_ACCESS, "openid", "profile", "offline_access"})
ENTRY_TTL_S = 7_776_000  # 90 days
PAGE_SIZE = 100
LISTEN = "127.0.0.1:8092"
