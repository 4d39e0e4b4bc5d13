"""How a backend package brings its own configuration tables to the one TOML file.

The configuration root reads ``[site]``, ``[mqtt]``, ``[store]`` and ``[service]`` itself and
hands every other table to the ``Section`` that owns it (``appliance/registry.py`` lists
them). A section parses and checks its tables into its own typed settings, reporting
problems to the shared ``Problems`` so the technician sees them all at once.
"""

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from appliance.config.schema import Problems

SecretReader = Callable[[str, str], str | None]
"""(value of a *_file key, "[table] key") → the secret, or None with a problem recorded."""


@dataclasses.dataclass(frozen=True)
class Context:
    """What a section may need of the rest of the file."""

    source: str
    site_id: str
    site_timezone: str
    read_secret: SecretReader


@dataclasses.dataclass(frozen=True)
class KeyTypes:
    """The key types a section knows; ``closed``: an owner key must name one of them."""

    names: tuple[str, ...] = ()
    closed: bool = False


class Section(Protocol):
    name: str
    """The plug-in's name, also its settings' name in ``Config.sections``."""
    tables: tuple[str, ...]
    """The top-level TOML tables it owns."""

    def parse(self, data: Mapping[str, Any], context: Context,
              problems: Problems) -> object | None:
        """Its settings, or None where its tables are absent (or too broken to use)."""

    def backend_names(self, settings: object) -> list[str]:
        """The engine backends these settings make, in order."""

    def key_types(self, settings: object) -> KeyTypes:
        """The key types an owner key may name here."""
