"""Salto KS as a plug-in: ``[ks]``; one backend, ``ks``; the door-event and battery poller
as a task of its own."""

from collections.abc import Callable, Mapping
from typing import Any

from appliance.config import Config
from appliance.config.schema import Problems
from appliance.config.sections import Context, KeyTypes
from appliance.engine.backend import Backend
from appliance.engine.plugin import Task
from appliance.ks import config as ks_config
from appliance.ks.backend import NAME, KsBackend
from appliance.ks.config import KsConfig
from appliance.ks.events import DoorEvents
from appliance.store import Store


class KsPlugin:
    name = NAME
    tables: tuple[str, ...] = ("ks",)

    def parse(self, data: Mapping[str, Any], context: Context,
              problems: Problems) -> KsConfig | None:
        if "ks" not in data:
            return None
        return ks_config.from_table(data["ks"], problems, context.read_secret)

    def backend_names(self, settings: object) -> list[str]:
        return [NAME]

    def key_types(self, settings: object) -> KeyTypes:
        assert isinstance(settings, KsConfig)
        return KeyTypes(tuple(kind.name for kind in settings.key_types))

    def build(self, config: Config, on_change: Callable[[], None]) -> dict[str, Backend]:
        return {NAME: KsBackend(config, on_change=on_change)}

    def tasks(self, config: Config, backends: Mapping[str, Backend], store: Store,
              wake: Callable[[], None]) -> dict[str, Task]:
        ks = ks_config.of(config)
        backend = backends.get(NAME)
        if ks is None or ks.events_poll_s <= 0 or not isinstance(backend, KsBackend):
            return {}
        return {"ks-events": DoorEvents(backend, store, config.root, wake).run()}


PLUGIN = KsPlugin()
