"""The one place a backend package plugs in: a ``Plugin`` owns its configuration tables
(``config.sections.Section``), builds its engine backends from them and names the
long-running tasks it needs beside the workers (KS: door-event and battery polling).

``appliance/registry.py`` lists the plug-ins; nothing below it imports a backend package.
Adding a backend: a package with a ``PLUGIN`` object and one line in the registry.
"""

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

from appliance.config import Config
from appliance.config.sections import Section
from appliance.engine.backend import Backend
from appliance.store import Store

Task = Coroutine[Any, Any, None]


class Plugin(Section, Protocol):
    def build(self, config: Config, on_change: Callable[[], None]) -> dict[str, Backend]:
        """Its backends by name (``config.section(name)`` is set); ``on_change``: call when
        a backend's health changes, so the retained status follows at once."""

    def tasks(self, config: Config, backends: Mapping[str, Backend], store: Store,
              wake: Callable[[], None]) -> dict[str, Task]:
        """Long-running tasks by name, started beside the workers; ``wake`` after commits."""


def build_backends(plugins: tuple[Plugin, ...], config: Config,
                   on_change: Callable[[], None] = lambda: None) -> dict[str, Backend]:
    """Every configured plug-in's backends, in the registry's order."""
    backends: dict[str, Backend] = {}
    for plugin in plugins:
        if config.section(plugin.name) is not None:
            backends.update(plugin.build(config, on_change))
    return backends


def plugin_tasks(plugins: tuple[Plugin, ...], config: Config, backends: Mapping[str, Backend],
                 store: Store, wake: Callable[[], None]) -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    for plugin in plugins:
        if config.section(plugin.name) is not None:
            tasks.update(plugin.tasks(config, backends, store, wake))
    return tasks
