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

Each administration has its own ``SpaceRules`` (``ruleconf.py`` reads them: the shared
tables above, or an administration's own where it has them).
"""

import dataclasses
from typing import TYPE_CHECKING

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
