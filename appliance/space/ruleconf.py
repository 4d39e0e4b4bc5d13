"""The Space rules as the TOML file writes them: ``[space]``'s authorizations, key types and
products, shared by every administration, and an administration's own.

An administration's own table replaces the shared one of its name, never extends it: a
holiday-home park whose Space server numbers its doors differently writes its own
``[space.administrations.park2.authorizations]`` and keeps the shared key types and products
if their names fit. What an administration keeps of the shared tables is checked against
what it replaced (a shared key type naming an authorization park2's own list lacks is a
problem of park2's), so every administration's rules are whole.

Every problem names the table (``[[space.administrations.park2.products]] "Chalet"
key_type``) and the fix.
"""

import dataclasses
from typing import Any

from appliance.config.schema import Key, Problems, between, non_empty, one_of, read_table
from appliance.config.times import check_wall_time
from appliance.space.rules import (
    MAX_CARDS,
    MOBILE_MODES,
    PLACEHOLDERS,
    KeyType,
    Product,
    SpaceRules,
)

TABLES = ("authorizations", "key_types", "products")
SHARED = "space"

KEY_TYPE = {
    "name": Key(str, required=True, check=non_empty, example='"pitch"'),
    "description": Key(str, "", example='"Pitch guests: barrier and showers"'),
    "print_info": Key(list, [], example='["{guest}", "until {departure}"]'),
    "authorizations": Key(list, [], example='["Barrier", "Shower block"]'),
    "max_cards": Key(int, MAX_CARDS, check=between(1, MAX_CARDS), example="4"),
    "mobile_message": Key(str, "", example='"Welcome, {guest}"'),
}
ADMIN_TIME = "the administration's %s ([space] or [space.administrations.NAME])"
PRODUCT = {
    "name": Key(str, required=True, check=non_empty, example='"Pitch with pool"'),
    "key_type": Key(str, required=True, check=non_empty, example='"pitch"'),
    "labels": Key(list, [], example='["pool"]'),
    "types": Key(list, [], example='["pitch"]'),
    "extras": Key(list, [], example='["pool-pass"]'),
    "costs": Key(list, [], example='["tourist-tax"]'),
    "wait_for_check_in": Key(bool, False, example="true"),
    "mobile": Key(str, "off", check=one_of(*MOBILE_MODES), example='"before_arrival"'),
    "mobile_days_before": Key(int, 0, check=between(0, 60), example="1"),
    "start_time": Key(str, "", check=check_wall_time(ADMIN_TIME % "check_in_time"),
                      example='"14:00"'),
    "end_time": Key(str, "", check=check_wall_time(ADMIN_TIME % "check_out_time"),
                    example='"11:00"'),
}


@dataclasses.dataclass(frozen=True)
class Written:
    """One section's rule tables as written, each with where it was written; None: the
    section has no such table."""

    section: str
    authorizations: dict[int, str] | None = None
    key_types: list[tuple[str, KeyType]] | None = None
    products: list[tuple[str, Product]] | None = None


def read(table: dict[str, Any], section: str, problems: Problems) -> Written:
    """The rule tables of ``[section]`` (``space`` or ``space.administrations.NAME``)."""
    return Written(
        section,
        _authorizations(table["authorizations"], section, problems)
        if "authorizations" in table else None,
        _key_types(table["key_types"], section, problems) if "key_types" in table else None,
        [(where, _product(values, where, problems)) for where, values in _tables(
            table["products"], section, "products", problems)]
        if "products" in table else None)


def rules(own: Written, shared: Written, problems: Problems, admin: str = "") -> SpaceRules:
    """The rules administration ``admin`` uses: its own tables, the shared ones where it has
    none; ``own is shared`` for ``[space]`` itself.

    Checks that its key types name its authorizations and its products its key types,
    unless both come from ``[space]`` and were checked there already.
    """
    fresh = own is shared
    auths = _pick(own, shared, "authorizations")
    kinds = _pick(own, shared, "key_types")
    products = _pick(own, shared, "products")
    if fresh or own is auths or own is kinds:
        kept = "" if fresh or kinds is own else admin  # shared key types, its own names
        for where, kind in kinds.key_types or []:
            _check_authorizations(kind, where, auths, kept, problems)
    if fresh or own is kinds or own is products:
        kept = "" if fresh or products is own else admin
        for where, product in products.products or []:
            _check_key_type(product, where, kinds, kept, problems)
    return SpaceRules(dict(auths.authorizations or {}),
                      {kind.name: kind for _, kind in kinds.key_types or []},
                      tuple(product for _, product in products.products or []))


def _pick(own: Written, shared: Written, name: str) -> Written:
    return own if getattr(own, name) is not None else shared


def _check_authorizations(kind: KeyType, where: str, auths: Written, kept: str,
                          problems: Problems) -> None:
    """``kept``: the administration that keeps this shared key type beside its own
    authorizations, or "" where both are written together."""
    table = "[%s.authorizations]" % auths.section
    for name in kind.authorizations:
        if name in (auths.authorizations or {}).values():
            continue
        if kept:
            problems.add(where + " authorizations", "administration %r uses this key type, "
                         "and its own %s (in place of [space.authorizations]) has no %r; "
                         "add it there with its number, or give %s its own "
                         "[[space.administrations.%s.key_types]]"
                         % (kept, table, name, kept, kept))
        else:
            problems.add(where + " authorizations", "%r is not in %s; add it there with its "
                         "number, or fix the name" % (name, table))


def _check_key_type(product: Product, where: str, kinds: Written, kept: str,
                    problems: Problems) -> None:
    names = [kind.name for _, kind in kinds.key_types or []]
    if not product.key_type or product.key_type in names:
        return
    table = "[[%s.key_types]]" % kinds.section
    known = ", ".join(names) or "none yet"
    if kept:
        problems.add(where + " key_type", "administration %r uses this product, and its own "
                     "%s (in place of [[space.key_types]]) has no %r; its key types are "
                     "%s. Add that key type there, or give %s its own "
                     "[[space.administrations.%s.products]]"
                     % (kept, table, product.key_type, known, kept, kept))
    else:
        problems.add(where + " key_type", "no %s is named %r; the key types are %s"
                     % (table, product.key_type, known))


def _key_types(tables: Any, section: str, problems: Problems) -> list[tuple[str, KeyType]]:
    found: list[tuple[str, KeyType]] = []
    for where, values in _tables(tables, section, "key_types", problems):
        kind = _key_type(values, where, problems)
        if any(kind.name == other.name for _, other in found):
            problems.add(where + " name", "%r names two key types; names must be unique"
                         % kind.name)
            continue
        found.append((where, kind))
    return found


def _tables(tables: Any, section: str, name: str,
            problems: Problems) -> list[tuple[str, dict[str, Any]]]:
    keys = KEY_TYPE if name == "key_types" else PRODUCT
    if not isinstance(tables, list):
        problems.add("[[%s.%s]]" % (section, name), "write each one as its own [[%s.%s]] "
                     "table" % (section, name))
        return []
    found = []
    for index, table in enumerate(tables):
        where = "[[%s.%s]] %s" % (section, name, _label(table, index))
        found.append((where, read_table(table, keys, where, problems)))
    return found


def _label(table: Any, index: int) -> str:
    """A table by its name where it has one ("Chalet"), else by its place (#2)."""
    name = table.get("name") if isinstance(table, dict) else None
    if isinstance(name, str) and name and name.isprintable():
        return '"%s"' % name
    return "#%d" % (index + 1)


def _authorizations(table: Any, section: str, problems: Problems) -> dict[int, str]:
    where = "[%s.authorizations]" % section
    if not isinstance(table, dict):
        problems.add(where, 'must be a table of number = "place", e.g. 3 = "Swimming pool"')
        return {}
    auths: dict[int, str] = {}
    for number, name in table.items():
        if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= 62:
            problems.add("%s %s" % (where, number), "Space has PMS authorizations 1 to 62; "
                         "write the number Space shows, e.g. 3 = \"Swimming pool\"")
        elif not isinstance(name, str) or not name:
            problems.add("%s %s" % (where, number), "must be the place it opens, in quotes")
        elif name in auths.values():
            problems.add("%s %s" % (where, number), "%r names two authorizations; give "
                         "each its own name" % name)
        else:
            auths[int(number)] = name
    return auths


def _key_type(values: dict[str, Any], where: str, problems: Problems) -> KeyType:
    lines = _texts(values["print_info"], where + " print_info", problems)
    if len(lines) > 3:
        problems.add(where + " print_info", "Space prints at most 3 lines; remove %d"
                     % (len(lines) - 3))
    for line in [*lines, values["mobile_message"]]:
        _placeholders(line, where, problems)
    names = _texts(values["authorizations"], where + " authorizations", problems)
    return KeyType(values["name"], values["description"], tuple(lines[:3]), tuple(names),
                   values["max_cards"], values["mobile_message"])


def _product(values: dict[str, Any], where: str, problems: Problems) -> Product:
    if values["mobile"] != "before_arrival" and values["mobile_days_before"]:
        problems.add(where + " mobile_days_before", 'only counts with mobile = '
                     '"before_arrival"; set that, or remove mobile_days_before')
    filters = {key: tuple(_texts(values[key], "%s %s" % (where, key), problems))
               for key in ("labels", "types", "extras", "costs")}
    return Product(values["name"], values["key_type"], **filters,
                   wait_for_check_in=values["wait_for_check_in"], mobile=values["mobile"],
                   mobile_days_before=values["mobile_days_before"],
                   start_time=values["start_time"], end_time=values["end_time"])


def _texts(value: list[Any], where: str, problems: Problems) -> list[str]:
    if all(isinstance(item, str) and item for item in value):
        return list(value)
    problems.add(where, 'must list texts in quotes, e.g. ["pool"]')
    return []


def _placeholders(text: str, where: str, problems: Problems) -> None:
    try:
        text.format_map({name: "" for name in PLACEHOLDERS})
    except (KeyError, ValueError, IndexError, AttributeError) as err:
        problems.add(where, "%r: the placeholders are {%s} (%s)"
                     % (text, "}, {".join(PLACEHOLDERS), err))
