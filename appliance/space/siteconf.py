"""The Space site's configuration: ``[space]`` (its administrations and the rules each
uses), ``[units]`` (PMS unit → Salto room, and its administration) and ``[[encoders]]``.

``SpaceSite`` is what the Space plug-in keeps in ``Config.sections["space"]``; ``of(config)``
reads it back typed.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

from appliance.config import Config
from appliance.config.schema import Key, Problems, non_empty, read_table, strings
from appliance.space.admins import administrations, check_administrations
from appliance.space.rules import SpaceRules
from appliance.space.settings import MAIN, Administration, SpaceSettings

NAME = "space"


@dataclasses.dataclass(frozen=True)
class Encoder:
    id: str
    name: str
    location: str
    administration: str = MAIN


@dataclasses.dataclass(frozen=True)
class SpaceSite:
    administrations: tuple[Administration, ...] = ()
    admin_rules: dict[str, SpaceRules] = dataclasses.field(default_factory=dict)
    """Administration id → the rules it uses (its own tables, else ``[space]``'s)."""
    encoders: tuple[Encoder, ...] = ()
    units: dict[str, str] = dataclasses.field(default_factory=dict)
    """PMS unit id → Salto room."""
    unit_admins: dict[str, str] = dataclasses.field(default_factory=dict)
    """PMS unit id → the administration its room belongs to (``main`` unless said)."""

    @property
    def main(self) -> SpaceSettings | None:
        """``[space]`` itself, None without Space."""
        return self.administrations[0].settings if self.administrations else None

    @property
    def rules(self) -> SpaceRules:
        """``[space]``'s rules: the shared ones, and ``main``'s."""
        return self.rules_of(MAIN)

    def rules_of(self, admin: str) -> SpaceRules:
        """The authorizations, key types and products of administration ``admin``."""
        return self.admin_rules.get(admin, SpaceRules())

    def key_types(self) -> tuple[str, ...]:
        """Every administration's key type names, once each, ``main``'s first."""
        names: dict[str, None] = {}
        for admin in self.administrations:
            names.update(dict.fromkeys(self.rules_of(admin.id).key_types))
        return tuple(names)

    def administration(self, backend: str) -> Administration:
        return next(admin for admin in self.administrations if admin.backend == backend)

    def admin_units(self, admin: str) -> dict[str, str]:
        """The units (unit id → room) of one administration."""
        return {unit: room for unit, room in self.units.items()
                if self.unit_admins.get(unit, MAIN) == admin}

    def encoder(self, name: str) -> Encoder | None:
        """The encoder the PMS calls ``name``: its external id, or its Space name."""
        for encoder in self.encoders:
            if name in (encoder.id, encoder.name):
                return encoder
        return None


def of(config: Config) -> SpaceSite:
    """The Space site of ``config`` (an empty one without Space)."""
    site = config.section(NAME)
    return site if isinstance(site, SpaceSite) else SpaceSite()


ENCODER = {
    "id": Key(str, required=True, check=non_empty, example='"desk-1"'),
    "name": Key(str, required=True, check=non_empty, example='"Online Encoder 1"'),
    "location": Key(str, "", example='"reception"'),
    "administration": Key(str, MAIN, check=non_empty, example='"north"'),
}


def parse(data: Mapping[str, Any], source: str, site_zone: str,
          problems: Problems) -> SpaceSite:
    admins, rules = administrations(data.get("space"), source, site_zone, problems)
    units, unit_admins = _units(data.get("units", {}), problems)
    encoders = _encoders(data.get("encoders", []), problems)
    check_administrations(admins, {e.id: e.administration for e in encoders}, unit_admins,
                          problems)
    return SpaceSite(admins, rules, encoders, units, unit_admins)


def _encoders(tables: Any, problems: Problems) -> tuple[Encoder, ...]:
    if not isinstance(tables, list):
        problems.add("[[encoders]]", "write each encoder as its own [[encoders]] table")
        return ()
    encoders = []
    for index, table in enumerate(tables):
        values = read_table(table, ENCODER, "[[encoders]] #%d" % (index + 1), problems)
        encoders.append(Encoder(**values))
    seen: set[str] = set()
    for encoder in encoders:
        for name in {encoder.id, encoder.name}:
            if name and name in seen:
                problems.add("[[encoders]]", "%r names two encoders; names and ids must be "
                             "unique" % name)
            seen.add(name)
    return tuple(encoders)


def _units(table: Any, problems: Problems) -> tuple[dict[str, str], dict[str, str]]:
    """Unit id → room, and unit id → administration for units outside ``main``."""
    if not isinstance(table, dict):
        problems.add("[units]", "must be a table of PMS unit id = \"Salto room\"")
        return {}, {}
    units: dict[str, str] = {}
    admins: dict[str, str] = {}
    for unit, value in table.items():
        room, admin = value, MAIN
        if isinstance(value, dict) and set(value) <= {"room", "administration"}:
            room, admin = value.get("room"), value.get("administration", MAIN)
        if not isinstance(room, str) or strings([room]) is not None or not isinstance(
                admin, str):
            problems.add("[units] %s" % unit, "must be the Salto room or door name in "
                         "quotes, e.g. %s = \"Pitch 12\", or { room = \"North 4\", "
                         "administration = \"north\" }" % unit)
            continue
        units[unit] = room
        if admin != MAIN:
            admins[unit] = admin
    return units, admins
