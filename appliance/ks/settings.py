"""What the KS client needs to reach one Salto KS site, already read and checked.

The config layer reads the TOML table and the secret files and builds this;
nothing here touches the disk. The secrets are left out of ``repr`` so a
settings object can be logged.

Defaults follow the research notes (salto-ks-connect.md): production hosts
(§1.3), the one scope a Connect client gets (§1.2), a token refreshed two
minutes before its hour is up (§1.4), and a token bucket of one request a
second with a burst of 20 (§4.3: no documented limit, so be polite).
"""

import dataclasses

PRODUCTION_IDENTITY_URL = "https://identity.eu.my-clay.com"
PRODUCTION_API_URL = "https://connect.my-clay.com"
ACCEPT_IDENTITY_URL = "https://identity-acc.eu.my-clay.com"
ACCEPT_API_URL = "https://clp-accept-user.my-clay.com"


@dataclasses.dataclass(frozen=True, kw_only=True)
class KsSettings:
    """One KS account and site.

    Attributes:
        identity_url: the OpenID identity server (``/connect/token`` is below it).
        api_url: the Connect API host; paths go below ``{api_url}/{version}/``.
        client_id, client_secret: the OAuth client Salto issued (HTTP Basic).
        username, password: the system user (password grant).
        site: the configured site: its UUID, ``site_uid`` or ``customer_reference``.
        scope: OAuth scope asked for.
        timeout_s: per HTTP request (connect, read, write, pool).
        token_margin_s: refresh the access token this long before it expires.
        rate_per_hour, burst: the token bucket every API request goes through.
        page_size: ``$top`` for paged lists.
        max_in_flight: requests under way at once, and KS jobs run at once (§4.3: "a
            handful"); the bucket stays the limit on how many per hour.
    """

    identity_url: str = PRODUCTION_IDENTITY_URL
    api_url: str = PRODUCTION_API_URL
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    username: str
    password: str = dataclasses.field(repr=False)
    site: str
    scope: str = "user_api.full_access"
    timeout_s: float = 15.0
    token_margin_s: float = 120.0
    rate_per_hour: float = 3600.0
    burst: int = 20
    page_size: int = 100
    max_in_flight: int = 4
