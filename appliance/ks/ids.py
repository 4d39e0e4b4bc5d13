"""What KS holds a key under, as one typed record: the guest's two ids, its access group and
schedule, and how far the saga got (a PIN set, a PIN stored).

It is JSON only where it is stored, the key's ``external_ids``: ``from_json`` reads it when a
job begins, ``to_json`` writes it at each checkpoint and at the job's end. Keys this version
does not know (written by a newer one) are carried through unchanged in ``other``.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass
class KsIds:
    site_id: str = ""
    reference: str = ""
    """Our reference for the key in KS: the guest's alias, the group's customer reference."""
    site_user_id: str | None = None
    """The guest as the site knows it (users, PINs, subscription)."""
    platform_user_id: str | None = None
    """The same guest as the platform knows it (group membership, door events)."""
    access_group_id: str | None = None
    schedule_id: str | None = None
    schedule: list[str] = dataclasses.field(default_factory=list)
    """[start, end] of the schedule last set, in the site's wall time."""
    locks: list[str] = dataclasses.field(default_factory=list)
    """The lock ids the group opens."""
    guest_created_at: float | None = None
    """Epoch seconds; KS answers 403/404 for a new guest while it propagates."""
    pin_put: bool = False
    """A PIN was asked for: its value may have been lost in a crash."""
    pin_stored: bool = False
    """The PIN is stored (encrypted) with the key and was published."""
    other: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "KsIds":
        names = {field.name for field in dataclasses.fields(cls)} - {"other"}
        known = {name: value for name, value in data.items() if name in names}
        for name in ("schedule", "locks"):
            known[name] = list(known.get(name) or [])
        return cls(**known, other={name: value for name, value in data.items()
                                   if name not in names})

    def to_json(self) -> dict[str, Any]:
        """Only what is set, as earlier versions wrote it."""
        found = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                 if field.name != "other"}
        return self.other | {name: value for name, value in found.items()
                             if value not in (None, False, "", [])}

    def audit_text(self) -> str:
        """The ids an audit row carries, so a person can find them in the KS app."""
        parts = (("site_user_id", self.site_user_id),
                 ("platform_user_id", self.platform_user_id),
                 ("access_group_id", self.access_group_id), ("schedule_id", self.schedule_id))
        return " ".join("%s=%s" % (name, value) for name, value in parts if value)
