"""What a booking gets on ProAccess Space: authorizations, key types and products.

::

    [space.authorizations]               # the 62 PMS authorizations of Space, named
    1 = "Barrier"
    3 = "Swimming pool"

    [[space.key_types]]
    name = "pitch"
    description = "Pitch guests"
    print_info = ["{guest}", "{rooms}", "until {departure}"]
    authorizations = ["Barrier"]
    max_cards = 4                        # cards per key, the original included
    mobile_message = "Welcome, {guest}"

    [[space.products]]                   # the first that matches gives the key type
    name = "Pitch with pool"
    key_type = "pitch"
    labels = ["pool"]                    # any of; [] matches every booking
    types = []                           # the unit type
    extras = []
    costs = []                           # mandatory costs
    wait_for_check_in = false            # no key before the booking is CHECKED_IN
    mobile = "before_arrival"            # "off", "before_arrival" or "check_in"
    mobile_days_before = 1
    start_time = "12:00"                 # instead of the administration's check_in_time
    end_time = ""

First match, not every match: one Space key per booking and administration, because a new
key for a room (CN) makes that room's earlier keys stop working.
"""

import dataclasses
from typing import TYPE_CHECKING, Any

from appliance.config.schema import Key, Problems, between, non_empty, one_of, read_table
from appliance.space.settings import wall_time

if TYPE_CHECKING:  # the engine imports the configuration, which imports these rules
    from appliance.engine.backend import Holder

PLACEHOLDERS = ("guest", "booking", "rooms", "arrival", "departure", "holder", "plate")
MOBILE_MODES = ("off", "before_arrival", "check_in")
MAX_CARDS = 10  # the contract's count limit, and Space's default copy limit


@dataclasses.dataclass(frozen=True)
class KeyType:
    name: str
    description: str = ""
    print_info: tuple[str, ...] = ()
    authorizations: tuple[str, ...] = ()
    max_cards: int = MAX_CARDS
    mobile_message: str = ""


@dataclasses.dataclass(frozen=True)
class Product:
    name: str
    key_type: str
    labels: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    costs: tuple[str, ...] = ()
    wait_for_check_in: bool = False
    mobile: str = "off"
    mobile_days_before: int = 0
    start_time: str = ""
    end_time: str = ""

    def matches(self, holder: "Holder") -> bool:
        """Every filter given must find one of its values in the booking."""
        return (_any(self.labels, holder.labels) and _any(self.types, (holder.type,))
                and _any(self.extras, holder.extras) and _any(self.costs, holder.costs))


def _any(wanted: tuple[str, ...], present: tuple[str, ...]) -> bool:
    return not wanted or any(value in present for value in wanted)


@dataclasses.dataclass(frozen=True)
class SpaceRules:
    authorizations: dict[int, str] = dataclasses.field(default_factory=dict)
    key_types: dict[str, KeyType] = dataclasses.field(default_factory=dict)
    products: tuple[Product, ...] = ()

    def numbers(self, names: tuple[str, ...]) -> tuple[int, ...]:
        by_name = {name: number for number, name in self.authorizations.items()}
        return tuple(sorted(by_name[name] for name in names))

    def names(self, numbers: tuple[int, ...]) -> list[str]:
        return [self.authorizations.get(number, str(number)) for number in numbers]

    def choose(self, holder: "Holder") -> tuple[KeyType | None, Product | None] | None:
        """The key type and product for ``holder``; None: no Space key at all.

        Without products every holder gets a key of no key type (rooms only); an owner key
        names its key type itself.
        """
        if holder.owner_key_id is not None:
            if not self.key_types:
                return None, None
            kind = self.key_types.get(holder.key_type)
            return None if kind is None else (kind, None)
        if not self.products:
            return None, None
        for product in self.products:
            if product.matches(holder):
                if product.wait_for_check_in and holder.status != "CHECKED_IN":
                    return None
                return self.key_types[product.key_type], product
        return None


AUTH_NAME = Key(str, check=non_empty, example='"Swimming pool"')
KEY_TYPE = {
    "name": Key(str, required=True, check=non_empty, example='"pitch"'),
    "description": Key(str, "", example='"Pitch guests: barrier and showers"'),
    "print_info": Key(list, [], example='["{guest}", "until {departure}"]'),
    "authorizations": Key(list, [], example='["Barrier", "Shower block"]'),
    "max_cards": Key(int, MAX_CARDS, check=between(1, MAX_CARDS), example="4"),
    "mobile_message": Key(str, "", example='"Welcome, {guest}"'),
}
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
    "start_time": Key(str, "", example='"14:00"'),
    "end_time": Key(str, "", example='"11:00"'),
}


def from_table(table: dict[str, Any], problems: Problems) -> SpaceRules:
    """The rules in ``[space]``'s authorizations, key_types and products."""
    auths = _authorizations(table.get("authorizations", {}), problems)
    kinds: dict[str, KeyType] = {}
    for where, values in _tables(table.get("key_types", []), "key_types", problems):
        kind = _key_type(values, where, set(auths.values()), problems)
        if kind.name in kinds:
            problems.add(where + " name", "%r names two key types; names must be unique"
                         % kind.name)
        kinds[kind.name] = kind
    products = []
    for where, values in _tables(table.get("products", []), "products", problems):
        products.append(_product(values, where, kinds, problems))
    return SpaceRules(auths, kinds, tuple(products))


def _tables(tables: Any, name: str, problems: Problems) -> list[tuple[str, dict[str, Any]]]:
    keys = KEY_TYPE if name == "key_types" else PRODUCT
    if not isinstance(tables, list):
        problems.add("[[space.%s]]" % name, "write each one as its own [[space.%s]] table"
                     % name)
        return []
    found = []
    for index, table in enumerate(tables):
        where = "[[space.%s]] #%d" % (name, index + 1)
        found.append((where, read_table(table, keys, where, problems)))
    return found


def _authorizations(table: Any, problems: Problems) -> dict[int, str]:
    where = "[space.authorizations]"
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


def _key_type(values: dict[str, Any], where: str, auths: set[str],
              problems: Problems) -> KeyType:
    lines = _texts(values["print_info"], where + " print_info", problems)
    if len(lines) > 3:
        problems.add(where + " print_info", "Space prints at most 3 lines; remove %d"
                     % (len(lines) - 3))
    for line in [*lines, values["mobile_message"]]:
        _placeholders(line, where, problems)
    names = _texts(values["authorizations"], where + " authorizations", problems)
    for name in names:
        if name not in auths:
            problems.add(where + " authorizations", "%r is not in [space.authorizations]; "
                         "add it there with its number, or fix the name" % name)
    return KeyType(values["name"], values["description"], tuple(lines[:3]), tuple(names),
                   values["max_cards"], values["mobile_message"])


def _product(values: dict[str, Any], where: str, kinds: dict[str, KeyType],
             problems: Problems) -> Product:
    if values["key_type"] and values["key_type"] not in kinds:
        problems.add(where + " key_type", "no [[space.key_types]] is named %r; the key types "
                     "are %s" % (values["key_type"], ", ".join(kinds) or "none yet"))
    for key in ("start_time", "end_time"):
        if values[key] and wall_time(values[key]) is None:
            problems.add("%s %s" % (where, key), 'write a time of day such as "14:00"')
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
