"""How to reach one Space server, read from a TOML table.

::

    [space]
    server = "192.168.1.20:8090"        # or "serial:/dev/ttyUSB0"
    baud_rate = 9600                    # serial only; always 8-N-1
    connection = "persistent"           # or "per_request" (open, ask, close)
    connect_timeout_s = 10
    ack_timeout_s = 5
    card_wait_s = 30                    # how long a person may take to place a card
    reply_margin_s = 5                  # on top of card_wait_s, for Space itself
    probe_interval_s = 60               # ENQ health probe while idle; 0: never
    reconnect_min_s = 1                 # backoff between connection attempts,
    reconnect_max_s = 60                # doubling with jitter up to this
    connect_budget_s = 30               # a request fails after this long without a link
    busy_retries = 5                    # OV (encoder busy): try again this often...
    busy_retry_s = 2                    # ...this long apart, serving other encoders between
    lrc_skip = false                    # send 0x0D instead of the LRC
    timezone = ""                       # Space's wall time; "" = [site] timezone
    check_in_time = "14:00"             # keys start on the arrival day at this time
    check_out_time = "11:00"            # ... and end then on departure; "": [site]'s
    software_version = "1.16"           # the PMS interface version Space speaks
    license_plate = "off"               # "auth_code" or "print_info" (1.20 and later)
    checkout_disables_cards = true      # Space's "remove access on check-out" option
    modify_check_in = false             # Space accepts MC (a later departure, no re-encode)
    operator = "keybridge"              # the operator Space logs for our requests
    audit_doors = ["Barrier"]           # doors whose audit trail becomes door_event
    door_events_poll_s = 60             # how often those trails are walked; 0: never
    audit_date_order = "dd/mm"          # the trail's dates as Space writes them, or "mm/dd"

An administration is one Space server with these settings; ``[space]`` is the first
("main"), ``[space.administrations.NAME]`` tables add more and inherit what they leave out,
but ``audit_doors`` (``admins.py``).

Errors name the file and the key, and say how to fix it.
"""

import dataclasses
from typing import Any

from appliance.config.times import check_wall_time, digits
from appliance.space.errors import SpaceConfigError
from appliance.space.transport import SerialTransport, TcpTransport, Transport

PERSISTENT = "persistent"
PER_REQUEST = "per_request"


@dataclasses.dataclass(frozen=True)
class SpaceSettings:
    server: str = "127.0.0.1:8090"
    baud_rate: int = 9600
    connection: str = PERSISTENT
    connect_timeout_s: float = 10.0
    ack_timeout_s: float = 5.0
    card_wait_s: float = 30.0
    reply_margin_s: float = 5.0
    probe_interval_s: float = 60.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    connect_budget_s: float = 30.0
    busy_retries: int = 5
    busy_retry_s: float = 2.0
    lrc_skip: bool = False
    timezone: str = ""
    check_in_time: str = ""
    check_out_time: str = ""
    software_version: str = "1.16"
    license_plate: str = "off"
    checkout_disables_cards: bool = True
    modify_check_in: bool = False
    operator: str = "keybridge"
    audit_doors: tuple[str, ...] = ()
    door_events_poll_s: float = 60.0
    audit_date_order: str = "dd/mm"

    @property
    def reply_timeout_s(self) -> float:
        """How long to wait for a reply after the ACK: the card, plus Space's margin."""
        return self.card_wait_s + self.reply_margin_s

    def transport(self) -> Transport:
        """The transport ``server`` names: ``HOST:PORT`` or ``serial:PATH``."""
        if self.server.startswith("serial:"):
            return SerialTransport(self.server[len("serial:"):], self.baud_rate)
        host, port = split_host_port(self.server)
        return TcpTransport(host, port, self.connect_timeout_s)

    def replace(self, **changes: Any) -> "SpaceSettings":
        return dataclasses.replace(self, **changes)


MAIN = "main"
"""The administration ``[space]`` itself describes."""


@dataclasses.dataclass(frozen=True)
class Administration:
    """One Space server and its settings; each has its own engine backend and link."""

    id: str
    settings: SpaceSettings
    timezone: str  # the administration's, or the site's

    @property
    def backend(self) -> str:
        return "space" if self.id == MAIN else "space:%s" % self.id

    @property
    def table(self) -> str:
        return config_table(self.id)


def config_table(administration: str) -> str:
    """Where an administration is configured, as a technician's message names it."""
    return "[space]" if administration == MAIN else "[space.administrations.%s]" % administration


def split_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8090`` for IPv6); raises ValueError with the fix."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("%r is not HOST:PORT (e.g. 192.168.1.20:8090) or serial:PATH "
                         "(e.g. serial:/dev/ttyUSB0)" % text)
    return host, int(port)


def from_table(table: dict[str, Any], source: str, section: str = "space",
               defaults: SpaceSettings | None = None) -> SpaceSettings:
    """Settings from a parsed TOML table; unknown keys and bad values are errors.

    Keys the table leaves out come from ``defaults``. Raises SpaceConfigError listing every
    problem, one per line.
    """
    defaults = defaults or SpaceSettings()
    fields = {f.name: f for f in dataclasses.fields(SpaceSettings)}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in table.items():
        where = "%s: [%s] %s" % (source, section, key)
        if key not in fields:
            problems.append("%s: unknown key; the keys are %s" % (where, ", ".join(fields)))
            continue
        try:
            values[key] = _check(where, value, getattr(defaults, key))
        except SpaceConfigError as err:
            problems.append(str(err))
    settings = defaults.replace(**values)
    problems += _check_choices(settings, source, section)
    if problems:
        error = SpaceConfigError("\n".join(problems))
        error.problems = problems
        raise error
    return settings


def _check(where: str, value: Any, default: Any) -> Any:
    kind = type(default)
    if kind is tuple:
        return _names(where, value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:
        raise SpaceConfigError("%s: must be %s, not %r" % (where, _KIND_WORDS[kind], value))
    if kind in (int, float) and value < 0:
        raise SpaceConfigError("%s: cannot be negative; give 0 or more" % where)
    return value


def _names(where: str, value: Any) -> tuple[str, ...]:
    """A list of names as Space spells them (a door is at most 64 characters, §5.9)."""
    if not isinstance(value, list) or not all(
            isinstance(item, str) and 0 < len(item) <= 64 and "|" not in item
            for item in value):
        raise SpaceConfigError("%s: must be a list of names as Space spells them, e.g. "
                               "[\"Barrier\", \"Swimming pool\"] (1 to 64 characters, no "
                               "|), not %r" % (where, value))
    return tuple(value)


_KIND_WORDS = {str: "a string in quotes", int: "a whole number", float: "a number of seconds",
               bool: "true or false"}


def _check_choices(settings: SpaceSettings, source: str, section: str) -> list[str]:
    """Every problem of values that are each of the right type but wrong together."""
    where = "%s: [%s] " % (source, section)
    problems = []
    if settings.connection not in (PERSISTENT, PER_REQUEST):
        problems.append(where + "connection: write \"persistent\" or \"per_request\"")
    if not settings.server.startswith("serial:"):
        try:
            split_host_port(settings.server)
        except ValueError as err:
            problems.append(where + "server: %s" % err)
    elif len(settings.server) == len("serial:"):
        problems.append(where + "server: name the line, e.g. serial:/dev/ttyUSB0")
    if settings.baud_rate not in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200):
        problems.append(where + "baud_rate: use a standard rate such as 9600")
    if settings.reconnect_min_s <= 0 or settings.reconnect_max_s < settings.reconnect_min_s:
        problems.append(where + "reconnect_min_s/reconnect_max_s: need "
                        "0 < reconnect_min_s <= reconnect_max_s")
    if settings.ack_timeout_s <= 0 or settings.connect_timeout_s <= 0:
        problems.append(where + "ack_timeout_s and connect_timeout_s must be above 0")
    return problems + [where + problem for problem in _site_problems(settings)]


LICENSE_PLATE = ("off", "auth_code", "print_info")
AUDIT_DATE_ORDERS = ("dd/mm", "mm/dd")
PLATE_VERSION = (1, 20)  # the first interface version said to carry a licence plate


def version(text: str) -> tuple[int, ...] | None:
    """``"1.20"`` as (1, 20); None if it is no dotted version."""
    parts = text.split(".")
    return tuple(int(p) for p in parts) if all(digits(p) for p in parts) else None


def _site_problems(settings: SpaceSettings) -> list[str]:
    problems = []
    for key in ("check_in_time", "check_out_time"):
        value = getattr(settings, key)
        wrong = check_wall_time("[site] %s" % key)(value)
        if wrong is not None:
            problems.append("%s: %s, not %r" % (key, wrong, value))
    found = version(settings.software_version)
    if found is None:
        problems.append("software_version: write the version as Space shows it, e.g. \"1.16\"")
    if settings.license_plate not in LICENSE_PLATE:
        problems.append("license_plate: write \"off\", \"auth_code\" or \"print_info\"")
    elif settings.license_plate != "off" and found is not None and found < PLATE_VERSION:
        problems.append("license_plate: needs software_version 1.20 or later (this Space is "
                        "%s); set license_plate = \"off\"" % settings.software_version)
    if not settings.operator or len(settings.operator) > 24 or not settings.operator.isascii():
        problems.append("operator: 1 to 24 ASCII characters, e.g. \"keybridge\"")
    if settings.audit_date_order not in AUDIT_DATE_ORDERS:
        problems.append("audit_date_order: write \"dd/mm\" or \"mm/dd\", as Space's PMS "
                        "interface writes audit-trail dates")
    return problems
