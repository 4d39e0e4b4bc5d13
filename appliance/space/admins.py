"""``[space]`` as administrations: the first is ``[space]`` itself ("main"), each
``[space.administrations.NAME]`` adds a Space server that inherits what it leaves out, but
``audit_doors`` (its own doors, none by default). The
rules (authorizations, key types, products) in ``[space]`` are shared; an administration's
own rule table replaces the shared one of its name (``ruleconf.py``).

Every problem goes to the caller's ``Problems``, naming the table, the key and the fix.
"""

import zoneinfo
from typing import Any

from appliance.config.schema import Problems
from appliance.space import ruleconf
from appliance.space.errors import SpaceConfigError
from appliance.space.rules import SpaceRules
from appliance.space.settings import MAIN, Administration, SpaceSettings, config_table, from_table


def _zone_problem(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return True
    return False


RULE_KEYS = ("administrations", *ruleconf.TABLES)
Rules = dict[str, SpaceRules]
"""Administration id → the rules it uses."""


def administrations(table: Any, source: str, site_zone: str,
           problems: Problems) -> tuple[tuple[Administration, ...], Rules]:
    """The administrations, ``[space]`` first, and the rules each uses."""
    if table is None:
        return (), {}
    if not isinstance(table, dict):
        problems.add("[space]", "must be a table")
        return (), {}
    link = {key: value for key, value in table.items() if key not in RULE_KEYS}
    # A bad [space] key must not hide the other tables' problems: go on with defaults.
    main = _settings(link, source, "space", None, problems) or SpaceSettings()
    admins = [_administration(MAIN, main, site_zone, problems)]
    shared = ruleconf.read(table, ruleconf.SHARED, problems)
    rules = {MAIN: ruleconf.rules(shared, shared, problems)}
    extra = table.get("administrations", {})
    if not isinstance(extra, dict):
        problems.add("[space.administrations]", "write each as [space.administrations.NAME]")
        extra = {}
    for name, sub in extra.items():
        where = "[space.administrations.%s]" % name
        if name == MAIN:
            problems.add(where, "%r is [space] itself; give this administration another "
                         "name" % MAIN)
            continue
        if not isinstance(sub, dict) or "server" not in sub:
            problems.add(where, "needs its own server = \"HOST:PORT\" (other keys but "
                         "audit_doors default to [space]'s)")
            continue
        section = "space.administrations.%s" % name
        link = {key: value for key, value in sub.items() if key not in ruleconf.TABLES}
        settings = _settings(link, source, section, _inherited(main), problems)
        own = ruleconf.read(sub, section, problems)
        rules[name] = ruleconf.rules(own, shared, problems, name)
        if settings is not None:
            admins.append(_administration(name, settings, site_zone, problems))
    return tuple(admins), rules


def _inherited(main: SpaceSettings) -> SpaceSettings:
    """What an administration takes from ``[space]``: not its doors, which another server
    need not have (a poller asking for them would warn every poll)."""
    return main.replace(audit_doors=())


def _settings(table: dict[str, Any], source: str, section: str,
              defaults: SpaceSettings | None, problems: Problems) -> SpaceSettings | None:
    try:
        return from_table(table, source, section, defaults)
    except SpaceConfigError as err:
        problems.items.extend(err.problems or [str(err)])
        return None


def _administration(name: str, settings: SpaceSettings, site_zone: str,
                    problems: Problems) -> Administration:
    where = config_table(name)
    if settings.timezone and _zone_problem(settings.timezone):
        problems.add(where + " timezone", "must be an IANA time zone such as "
                     "\"Europe/Amsterdam\", or \"\" for [site] timezone")
        return Administration(name, settings, site_zone)
    return Administration(name, settings, settings.timezone or site_zone)


def check_administrations(admins: tuple[Administration, ...], encoders: dict[str, str],
                          unit_admins: dict[str, str], problems: Problems) -> None:
    """Encoders (id → administration) and units name administrations that exist; two
    administrations never share a server."""
    names = {admin.id for admin in admins}
    servers: dict[str, str] = {}
    for admin in admins:
        if admin.settings.server in servers:
            problems.add("[space.administrations.%s] server" % admin.id, "%s is already "
                         "administration %r's; each administration is its own Space server"
                         % (admin.settings.server, servers[admin.settings.server]))
        servers[admin.settings.server] = admin.id
    if not admins:
        return
    for encoder, admin_id in encoders.items():
        if admin_id not in names:
            problems.add("[[encoders]] %s administration" % encoder, "no administration "
                         "%r; the administrations are %s" % (admin_id,
                                                              ", ".join(sorted(names))))
    for unit, admin_id in unit_admins.items():
        if admin_id not in names:
            problems.add("[units] %s" % unit, "no administration %r; the administrations "
                         "are %s" % (admin_id, ", ".join(sorted(names))))
