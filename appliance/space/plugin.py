"""ProAccess Space as a plug-in: ``[space]``, ``[units]`` and ``[[encoders]]``; one backend
per administration; a door-event poller per administration with ``audit_doors`` (the links
live in the backends)."""

from collections.abc import Callable, Mapping
from typing import Any

from appliance.config import Config
from appliance.config.schema import Problems
from appliance.config.sections import Context, KeyTypes
from appliance.engine.backend import Backend
from appliance.engine.plugin import Task
from appliance.space import siteconf
from appliance.space.backend import SpaceBackend
from appliance.space.doorevents import SpaceDoorEvents
from appliance.space.settings import SpaceSettings
from appliance.space.siteconf import SpaceSite
from appliance.store import Store


class SpacePlugin:
    name = siteconf.NAME
    tables: tuple[str, ...] = ("space", "units", "encoders")

    def parse(self, data: Mapping[str, Any], context: Context,
              problems: Problems) -> SpaceSite | None:
        site = siteconf.parse(data, context.source, context.site_timezone, problems)
        return site if site.administrations else None

    def backend_names(self, settings: object) -> list[str]:
        assert isinstance(settings, SpaceSite)
        return [admin.backend for admin in settings.administrations]

    def key_types(self, settings: object) -> KeyTypes:
        # Space needs an owner key's type for its authorizations: the list is closed. Every
        # administration's count here; the backend of each refuses one it does not have.
        assert isinstance(settings, SpaceSite)
        return KeyTypes(settings.key_types(), closed=True)

    def build(self, config: Config, on_change: Callable[[], None]) -> dict[str, Backend]:
        site = siteconf.of(config)
        return {admin.backend: SpaceBackend(config, admin, on_change=on_change)
                for admin in site.administrations}

    def tasks(self, config: Config, backends: Mapping[str, Backend], store: Store,
              wake: Callable[[], None]) -> dict[str, Task]:
        tasks: dict[str, Task] = {}
        for name, backend in backends.items():
            if isinstance(backend, SpaceBackend) and _polls(backend.admin.settings):
                poller = SpaceDoorEvents(backend, store, config.root, wake)
                tasks["%s-events" % name] = poller.run()
        return tasks


def _polls(settings: SpaceSettings) -> bool:
    return settings.door_events_poll_s > 0 and bool(settings.audit_doors)


PLUGIN = SpacePlugin()
