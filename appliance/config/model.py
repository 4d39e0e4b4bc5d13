"""The appliance's configuration: one TOML file, validated completely before anything starts.

Every key is documented in ``config/keybridge.example.toml``. Secrets never sit in the TOML:
keys ending in ``_file`` name a file; a bare name (no ``/``) is looked up first in the systemd
credentials directory (``$CREDENTIALS_DIRECTORY``, from ``LoadCredential=``), then beside the
configuration file.
"""

import dataclasses
import os
import zoneinfo
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from appliance.config.modes import exposed
from appliance.config.schema import (
    Key,
    Problems,
    between,
    non_empty,
    one_of,
    positive,
    read_table,
    topic_word,
)
from appliance.config.sections import Context, Section
from appliance.config.times import check_wall_time
from appliance.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Site:
    id: str
    name: str
    timezone: str
    check_in_time: str = ""
    """When every backend's keys start on the arrival day, in ``timezone``; "": as sent."""
    check_out_time: str = ""
    """When they end on the departure day; "": the departure instant as sent."""

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


@dataclasses.dataclass(frozen=True)
class Mqtt:
    host: str
    port: int
    protocol: str
    client_id: str
    prefix: str
    keepalive_s: int
    session_expiry_s: int
    username: str
    password: str | None
    tls: bool
    ca_file: str
    cert_file: str
    key_file: str
    reconnect_min_s: float
    reconnect_max_s: float
    inflight_window: int
    hosts: tuple[tuple[str, int], ...] = ()
    """Every broker node to try, in order ([mqtt] hosts, else host and port)."""


@dataclasses.dataclass(frozen=True)
class Store:
    path: str
    key_file: str
    retention_days: int = 90
    """Finished jobs, answered commands and revoked keys are forgotten after this long."""


@dataclasses.dataclass(frozen=True)
class Service:
    log_level: str
    status_interval_s: float
    job_retry_min_s: float
    job_retry_max_s: float
    job_lease_s: float
    drain_timeout_s: float
    auto_repair: bool
    control_socket: str


@dataclasses.dataclass(frozen=True)
class Config:
    source: str
    site: Site
    mqtt: Mqtt
    store: Store
    service: Service
    sections: Mapping[str, object] = dataclasses.field(default_factory=dict)
    """Each plug-in's settings by its name; absent where its tables are."""
    backend_names: tuple[str, ...] = ()
    """The engine's backends, in the registry's order."""
    key_types: tuple[str, ...] = ()
    """The key types an owner key may name; () for any name."""

    @property
    def root(self) -> str:
        """The MQTT topic root, ``{prefix}/{site}``."""
        return "%s/%s" % (self.mqtt.prefix, self.site.id)

    def backends(self) -> list[str]:
        return list(self.backend_names)

    def section(self, name: str) -> object | None:
        """The settings of the plug-in called ``name``, or None if it is not configured."""
        return self.sections.get(name)


def _zone(value: Any) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return "must be an IANA time zone such as \"Europe/Amsterdam\""
    return None


SITE = {
    "id": Key(str, required=True, check=topic_word, example='"camping-de-vliet"'),
    "name": Key(str, "", example='"Camping De Vliet"'),
    "timezone": Key(str, required=True, check=_zone, example='"Europe/Amsterdam"'),
    "check_in_time": Key(str, "", check=check_wall_time("the arrival instant the PMS sends"),
                         example='"14:00"'),
    "check_out_time": Key(str, "", check=check_wall_time("the departure instant the PMS "
                                                         "sends"), example='"11:00"'),
}
MQTT = {
    "host": Key(str, "127.0.0.1", check=non_empty, example='"broker.lan"'),
    "port": Key(int, 1883, check=between(1, 65535), example="8883"),
    "protocol": Key(str, "auto", check=one_of("auto", "5", "3.1.1"), example='"auto"'),
    "client_id": Key(str, "", example='"keybridge-office"'),
    "prefix": Key(str, "keybridge", check=topic_word, example='"keybridge"'),
    "keepalive_s": Key(int, 30, check=between(5, 3600), example="30"),
    "session_expiry_s": Key(int, 7 * 86400, check=between(0, 2**32 - 1), example="604800"),
    "username": Key(str, "", example='"keybridge"'),
    "password_file": Key(str, "", secret_file=True, example='"mqtt-password"'),
    "tls": Key(bool, False, example="true"),
    "ca_file": Key(str, "", example='"/etc/keybridge/ca.crt"'),
    "cert_file": Key(str, "", example='"/etc/keybridge/client.crt"'),
    "key_file": Key(str, "", example='"mqtt-client.key"'),
    "reconnect_min_s": Key(float, 1.0, check=positive, example="1"),
    "reconnect_max_s": Key(float, 60.0, check=positive, example="60"),
    "inflight_window": Key(int, 20, check=between(1, 1000), example="20"),
    "hosts": Key(list, [], example='["nats-1.fleet.example:1883", "nats-2.fleet.example:1883"]'),
}
STORE = {
    "path": Key(str, "/var/lib/keybridge/keybridge.db", check=non_empty,
                example='"/var/lib/keybridge/keybridge.db"'),
    "key_file": Key(str, "/var/lib/keybridge/secret.keys", check=non_empty,
                    example='"/var/lib/keybridge/secret.keys"'),
    # At most ten years: any longer is "forever" on a Pi, and the cut-off stays a date.
    "retention_days": Key(int, 90, check=between(1, 3650), example="90"),
}
SERVICE = {
    "log_level": Key(str, "info", check=one_of("debug", "info", "warning", "error"),
                     example='"info"'),
    "status_interval_s": Key(float, 30.0, check=positive, example="30"),
    "job_retry_min_s": Key(float, 5.0, check=positive, example="5"),
    "job_retry_max_s": Key(float, 900.0, check=positive, example="900"),
    "job_lease_s": Key(float, 120.0, check=positive, example="120"),
    "drain_timeout_s": Key(float, 20.0, check=positive, example="20"),
    "auto_repair": Key(bool, False, example="true"),
    "control_socket": Key(str, "/run/keybridge/control.sock", check=non_empty,
                          example='"/run/keybridge/control.sock"'),
}
CORE_TABLES = ("site", "mqtt", "store", "service")


def parse(data: dict[str, Any], source: str, plugins: Sequence[Section] = (), *,
          secrets: bool = True) -> Config:
    """The configuration in ``data`` (read from ``source``), with the plug-ins' tables.

    ``secrets=False``: secret files are not read (each set one is ""), for commands that only
    read the store and must work from a shell that cannot read systemd's credentials.
    """
    problems = Problems(source)
    known = CORE_TABLES + tuple(table for plugin in plugins for table in plugin.tables)
    for name in data:
        if name not in known:
            problems.add("[%s]" % name, "unknown section; the sections are %s"
                         % ", ".join(known))
    site = read_table(data.get("site", {}), SITE, "[site]", problems)
    mqtt = read_table(data.get("mqtt", {}), MQTT, "[mqtt]", problems,
                      inline_secrets=("password",))
    store = read_table(data.get("store", {}), STORE, "[store]", problems)
    service = read_table(data.get("service", {}), SERVICE, "[service]", problems)
    base = Path(source).parent
    def secret(value: str, where: str) -> str | None:
        if not secrets:
            return "" if value else None
        return _secret(value, base, where, problems)

    mqtt["password"] = secret(mqtt.pop("password_file"), "[mqtt] password_file")
    for key in ("ca_file", "cert_file", "key_file"):  # beside the config, not the cwd
        mqtt[key] = _path(mqtt[key], base)
    _hosts(mqtt, problems)
    _check_mqtt(mqtt, problems)
    if not mqtt["client_id"] and site["id"]:
        mqtt["client_id"] = "keybridge-%s" % site["id"]
    context = Context(source, site["id"] or "", site["timezone"] or "UTC", secret)
    sections = _sections(data, plugins, context, problems)
    if problems.items:
        raise ConfigError(problems.items)
    return Config(source=source, site=Site(**site), mqtt=Mqtt(**mqtt), store=Store(**store),
                  service=Service(**service), sections=sections,
                  backend_names=tuple(name for plugin in plugins if plugin.name in sections
                                      for name in plugin.backend_names(sections[plugin.name])),
                  key_types=_key_types(plugins, sections))


def _sections(data: dict[str, Any], plugins: Sequence[Section], context: Context,
              problems: Problems) -> dict[str, object]:
    sections = {}
    for plugin in plugins:
        settings = plugin.parse(data, context, problems)
        if settings is not None:
            sections[plugin.name] = settings
    return sections


def _key_types(plugins: Sequence[Section], sections: dict[str, object]) -> tuple[str, ...]:
    """Every plug-in's key types once one of them closes the list; () for any name."""
    kinds = [plugin.key_types(sections[plugin.name]) for plugin in plugins
             if plugin.name in sections]
    if not any(kind.closed and kind.names for kind in kinds):
        return ()
    names: list[str] = []
    for kind in sorted(kinds, key=lambda kind: not kind.closed):  # the closing list first
        names += [name for name in kind.names if name not in names]
    return tuple(names)


def _hosts(mqtt: dict[str, Any], problems: Problems) -> None:
    """``hosts = ["host:port", ...]`` (a cluster's nodes), else the one ``host``/``port``;
    ``host``/``port`` then name the first, for what shows one address."""
    found = []
    for text in mqtt["hosts"]:
        host, _, port = str(text).rpartition(":")
        host = host.strip("[]")
        if not isinstance(text, str) or not host or not port.isdigit() or not (
                0 < int(port) < 65536):
            problems.add("[mqtt] hosts", "%r is not \"HOST:PORT\"; e.g. hosts = %s"
                         % (text, MQTT["hosts"].example))
            continue
        found.append((host, int(port)))
    mqtt["hosts"] = tuple(found) or ((mqtt["host"], mqtt["port"]),)
    mqtt["host"], mqtt["port"] = mqtt["hosts"][0]


def _check_mqtt(mqtt: dict[str, Any], problems: Problems) -> None:
    if mqtt["reconnect_max_s"] < mqtt["reconnect_min_s"]:
        problems.add("[mqtt] reconnect_max_s", "must be at least reconnect_min_s")
    if bool(mqtt["cert_file"]) != bool(mqtt["key_file"]):
        problems.add("[mqtt] cert_file", "a client certificate needs both cert_file and key_file")
    if (mqtt["ca_file"] or mqtt["cert_file"]) and not mqtt["tls"]:
        problems.add("[mqtt] tls", "ca_file or cert_file is set but tls = false; set tls = true")
    if mqtt["password"] is not None and not mqtt["username"]:
        problems.add("[mqtt] username", "password_file is set but username is empty")
    for key in ("ca_file", "cert_file"):
        if mqtt[key] and not os.path.isfile(mqtt[key]):
            problems.add("[mqtt] %s" % key, "no such file: %s" % mqtt[key])


def _path(value: str, base: Path) -> str:
    """A secret file's path: the credentials directory first for a bare name."""
    if not value:
        return value
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if "/" not in value and credentials and os.path.exists(os.path.join(credentials, value)):
        return os.path.join(credentials, value)
    return str(base / value)


def _secret(value: str, base: Path, where: str, problems: Problems) -> str | None:
    if not value:
        return None
    path = _path(value, base)
    if problem := exposed(path):
        problems.add(where, problem)
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().rstrip("\r\n")
    except OSError as err:
        problems.add(where, "cannot read %s (%s); create it, readable only by keybridge, or, "
                     "if it is a systemd credential, run the command the way the service "
                     "does (systemd/README.md, \"Commands that need a secret\")"
                     % (path, err.strerror))
        return None
