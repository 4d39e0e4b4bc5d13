"""The ``[ks]`` table: the Salto KS account, and which locks a booking's PINs open.

    [ks]
    identity_url = "https://identity.eu.my-clay.com"
    api_url = "https://connect.my-clay.com"
    client_id = "…"                      # from the Salto business unit
    client_secret_file = "ks-client-secret"
    username = "keybridge@camping.example"  # the KS "system user", Site Admin on the site
    password_file = "ks-password"
    site = "Camping De Vliet"            # the site's UUID, site_uid or name

    [ks.units]                           # PMS unit id = the KS locks its guests open
    P12 = ["Pitch 12"]

    [[ks.key_types]]                     # one PIN each; default: one "stay" PIN
    name = "stay"
    unit_locks = true                    # the booking's units' locks …
    locks = []                           # … and these, for everyone (e.g. "Main gate")
    start_time = ""                      # instead of [site] check_in_time ("": the site's)
    end_time = ""                        # instead of [site] check_out_time

A KS PIN opens every lock its guest may open, so a second PIN (the shower block on its own)
needs a second key type. Locks are named as KS names them (or by id) and looked up when used.
"""

import dataclasses
from typing import Any

from appliance.config import Config
from appliance.config.schema import Key, Problems, between, non_empty, positive, read_table
from appliance.config.sections import SecretReader
from appliance.config.times import check_wall_time
from appliance.ks.settings import KsSettings

PLATFORMS = ("ks",)
KS = {
    "platform": Key(str, "ks", example='"ks"'),
    "environment": Key(str, "", example='"production"'),
    "identity_url": Key(str, "", example='"https://identity.eu.my-clay.com"'),
    "api_url": Key(str, "", example='"https://connect.my-clay.com"'),
    "client_id": Key(str, required=True, check=non_empty, example='"keybridge-camping"'),
    "client_secret_file": Key(str, required=True, secret_file=True, check=non_empty,
                              example='"ks-client-secret"'),
    "username": Key(str, required=True, check=non_empty, example='"keybridge@camping.example"'),
    "password_file": Key(str, required=True, secret_file=True, check=non_empty,
                         example='"ks-password"'),
    "site": Key(str, required=True, check=non_empty, example='"Camping De Vliet"'),
    "scope": Key(str, "user_api.full_access", check=non_empty, example='"user_api.full_access"'),
    "timeout_s": Key(float, 15.0, check=positive, example="15"),
    "token_margin_s": Key(float, 120.0, check=positive, example="120"),
    "rate_per_hour": Key(float, 7200.0, check=positive, example="7200"),
    "burst": Key(int, 20, check=between(1, 1000), example="20"),
    "page_size": Key(int, 100, check=between(1, 1000), example="100"),
    "max_in_flight": Key(int, 4, check=between(1, 16), example="4"),
    "consistency_window_s": Key(float, 120.0, check=between(0, 3600), example="120"),
    "pin_length": Key(int, 0, check=between(0, 8), example="6"),
    "seats_retry_min_s": Key(float, 30.0, check=between(1, 3600), example="30"),
    "seats_retry_max_s": Key(float, 900.0, check=between(1, 86400), example="900"),
    "events_poll_s": Key(float, 60.0, check=between(0, 86400), example="60"),
    "battery_poll_s": Key(float, 3600.0, check=between(0, 86400), example="3600"),
    "units": Key(dict, {}, example='{ P12 = ["Pitch 12"] }'),
    "key_types": Key(list, [], example='[{ name = "stay", unit_locks = true }]'),
}
KEY_TYPE = {
    "name": Key(str, required=True, check=non_empty, example='"showers"'),
    "unit_locks": Key(bool, True, example="false"),
    "locks": Key(list, [], example='["Shower block"]'),
    "start_time": Key(str, "", check=check_wall_time("[site] check_in_time"),
                      example='"15:00"'),
    "end_time": Key(str, "", check=check_wall_time("[site] check_out_time"),
                    example='"10:00"'),
}
DEFAULT_KEY_TYPE = "stay"


@dataclasses.dataclass(frozen=True)
class KeyType:
    """One PIN per stay: the locks of the booking's units (``unit_locks``) plus ``locks``."""

    name: str
    unit_locks: bool
    locks: tuple[str, ...]
    start_time: str = ""
    """Instead of [site] check_in_time, in [site] timezone; "": the site's."""
    end_time: str = ""
    """Instead of [site] check_out_time; "": the site's."""


@dataclasses.dataclass(frozen=True)
class KsConfig:
    settings: KsSettings
    units: dict[str, tuple[str, ...]]
    key_types: tuple[KeyType, ...]
    consistency_window_s: float
    events_poll_s: float
    battery_poll_s: float
    seats_retry_min_s: float = 30.0
    seats_retry_max_s: float = 900.0
    pin_length: int = 0  # the doors' PIN length as set up in KS; 0: not checked

    def unit_locks(self, units: tuple[str, ...]) -> list[str]:
        """The locks of ``units`` in order, each once."""
        locks: list[str] = []
        for unit in units:
            locks.extend(lock for lock in self.units.get(unit, ()) if lock not in locks)
        return locks

    def key_type(self, name: str) -> KeyType | None:
        return next((kind for kind in self.key_types if kind.name == name), None)


def of(config: Config) -> KsConfig | None:
    """The ``[ks]`` settings of ``config``, None without KS."""
    found = config.section("ks")
    return found if isinstance(found, KsConfig) else None


def from_table(table: Any, problems: Problems, read_secret: SecretReader) -> KsConfig | None:
    if not isinstance(table, dict):
        problems.add("[ks]", "must be a table")
        return None
    if not _platform(table.get("platform", "ks"), problems):
        return None
    values = read_table(table, KS, "[ks]", problems,
                        inline_secrets=("password", "client_secret"))
    secret = read_secret(values.pop("client_secret_file"), "[ks] client_secret_file")
    password = read_secret(values.pop("password_file"), "[ks] password_file")
    units = _units(values.pop("units"), problems)
    kinds = _key_types(values.pop("key_types"), problems)
    identity_url, api_url = _urls(values, problems)
    if secret is None or password is None or problems.items:
        return None
    settings = KsSettings(
        identity_url=identity_url, api_url=api_url,
        client_id=values["client_id"], client_secret=secret, username=values["username"],
        password=password, site=values["site"], scope=values["scope"],
        timeout_s=values["timeout_s"], token_margin_s=values["token_margin_s"],
        rate_per_hour=values["rate_per_hour"], burst=values["burst"],
        page_size=values["page_size"], max_in_flight=values["max_in_flight"])
    return KsConfig(settings, units, kinds, values["consistency_window_s"],
                    values["events_poll_s"], values["battery_poll_s"],
                    values["seats_retry_min_s"], values["seats_retry_max_s"],
                    values["pin_length"])


ENVIRONMENTS = {
    "production": ("https://identity.eu.my-clay.com", "https://connect.my-clay.com"),
    "acceptance": ("https://identity-acc.eu.my-clay.com", "https://clp-accept-user.my-clay.com"),
}
"""Salto's documented URLs for each environment (../shared/docs/salto-ks-connect.md)."""


def _urls(values: dict[str, Any], problems: Problems) -> tuple[str, str]:
    """identity_url and api_url: as given, else the environment's documented ones."""
    environment = values.pop("environment")
    if environment and environment not in ENVIRONMENTS:
        problems.add("[ks] environment", 'must be "production" or "acceptance", or left out '
                     "with identity_url and api_url given")
    documented = ENVIRONMENTS.get(environment, ("", ""))
    urls = []
    for key, default in zip(("identity_url", "api_url"), documented, strict=True):
        url = values[key] or default
        if not url:
            problems.add("[ks] %s" % key, 'give environment = "production" (or "acceptance"), '
                         "or the URL, e.g. %s = %s" % (key, KS[key].example))
        elif not url.startswith(("https://", "http://")):
            problems.add("[ks] %s" % key, "must start with https://, e.g. %s = %s"
                         % (key, KS[key].example))
        urls.append(url.rstrip("/"))
    return urls[0], urls[1]


def _platform(value: Any, problems: Problems) -> bool:
    if value == "svn":
        problems.add("[ks] platform", "\"svn\" is the older Salto generation (Salto Virtual "
                     "Network, managed from ProAccess Space): keybridge speaks to it through "
                     "[space]. [ks] is for the Salto KS cloud only; remove [ks] or set "
                     "platform = \"ks\"")
        return False
    if value not in PLATFORMS:
        problems.add("[ks] platform", "must be \"ks\" (Salto KS cloud), not %r" % (value,))
        return False
    return True


def _units(table: dict[str, Any], problems: Problems) -> dict[str, tuple[str, ...]]:
    units: dict[str, tuple[str, ...]] = {}
    for unit, locks in table.items():
        if isinstance(locks, str):
            locks = [locks]
        if (not isinstance(locks, list) or not locks
                or not all(isinstance(lock, str) and lock for lock in locks)):
            problems.add("[ks.units] %s" % unit, "must list the KS lock names, e.g. "
                         "%s = [\"Pitch 12\"]" % unit)
            continue
        units[unit] = tuple(locks)
    return units


def _key_types(tables: list[Any], problems: Problems) -> tuple[KeyType, ...]:
    kinds: list[KeyType] = []
    for index, table in enumerate(tables):
        where = "[[ks.key_types]] #%d" % (index + 1)
        values = read_table(table, KEY_TYPE, where, problems)
        locks = values["locks"]
        if not all(isinstance(lock, str) and lock for lock in locks):
            problems.add("%s locks" % where, "must list KS lock names, e.g. [\"Shower block\"]")
            continue
        if not values["unit_locks"] and not locks:
            problems.add(where, "opens nothing: set unit_locks = true or list locks")
        if any(kind.name == values["name"] for kind in kinds):
            problems.add("%s name" % where, "%r is used twice; names must be unique"
                         % values["name"])
        kinds.append(KeyType(values["name"], values["unit_locks"], tuple(locks),
                             values["start_time"], values["end_time"]))
    return tuple(kinds) or (KeyType(DEFAULT_KEY_TYPE, True, ()),)
