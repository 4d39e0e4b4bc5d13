"""A Space key's two records: the data prepared for it (``SpaceKeyData``: rooms,
authorizations, card lines, local times) and what Space holds of it (``SpaceIds``: cards cut,
a mobile key sent, since when it holds the room's check-in).

Both are JSON only where the key is stored (``plan`` and ``external_ids``): ``from_json``
when a job begins, ``to_json`` when the key is planned and when a job records its outcome.
``SpaceKeyData.to_json`` writes every field, as earlier versions did, because the engine
compares stored and planned data to tell a changed key; keys a newer version wrote are
carried through in ``other``.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

from appliance.space.rules import MAX_CARDS


def _split(cls: type, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    names = {field.name for field in dataclasses.fields(cls)} - {"other"}
    return ({name: value for name, value in data.items() if name in names},
            {name: value for name, value in data.items() if name not in names})


@dataclasses.dataclass(frozen=True)
class SpaceKeyData:
    administration: str = ""
    rooms: tuple[str, ...] = ()
    """The main room first, then up to three more (CN fields 3-6)."""
    authorizations: tuple[str, ...] = ()
    granted: tuple[int, ...] = ()
    """The authorizations as Space numbers them."""
    print_info: tuple[str, ...] = ()
    space_valid_from: str = ""
    """The administration's wall time, to the minute (``keydata.WIRE_FORMAT``)."""
    space_valid_until: str = ""
    rounded: tuple[str, ...] = ()
    """valid_from / valid_until where seconds were dropped."""
    max_cards: int = MAX_CARDS
    mobile_message: str = ""
    phone: str = ""
    auth_code: str = ""
    product: str = ""
    key_type: str = ""
    other: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SpaceKeyData":
        known, other = _split(cls, data)
        for name in ("rooms", "authorizations", "granted", "print_info", "rounded"):
            known[name] = tuple(known.get(name) or ())
        return cls(**known, other=other)

    def to_json(self) -> dict[str, Any]:
        found = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                 if field.name != "other"}
        return self.other | {name: list(value) if isinstance(value, tuple) else value
                             for name, value in found.items()}

    @property
    def prepared(self) -> bool:
        """Keys made before key data was prepared have no rooms."""
        return bool(self.rooms)


@dataclasses.dataclass
class SpaceIds:
    encoded: bool = False
    """A card was cut for the key."""
    mobile: bool = False
    """A mobile key works for it (a new card stops it)."""
    cards: int = 0
    """Cards cut since the last new card (copies count against max_cards)."""
    checked_in_ns: int = 0
    """Since when Space holds the room's check-in for this key (CN, CNM)."""
    delivered: dict[str, Any] | None = None
    """What the last mobile key was sent for (``cards.delivered``)."""
    rooms: tuple[str, ...] = ()
    """The rooms of a key made before key data was prepared."""
    other: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SpaceIds":
        known, other = _split(cls, data)
        known["rooms"] = tuple(known.get("rooms") or ())
        return cls(**known, other=other)

    def to_json(self) -> dict[str, Any]:
        found = {"encoded": self.encoded, "mobile": self.mobile, "cards": self.cards,
                 "checked_in_ns": self.checked_in_ns, "delivered": self.delivered,
                 "rooms": list(self.rooms)}
        return self.other | {name: value for name, value in found.items()
                             if value not in (None, 0, [])}

    @property
    def in_space(self) -> bool:
        """Whether Space has been told of the key: a card cut or a mobile key sent."""
        return self.encoded or self.mobile
