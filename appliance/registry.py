"""The backends this appliance knows: one line per plug-in, in the order their backends run.

Everything that needs the backends (the command line, the service's start, the simulators)
asks here; the configuration root, the store, the engine and the service itself never import
a backend package (``tests/appliance/test_layers.py`` holds them to it).
"""

import os
from typing import Any

from appliance import config as config_root
from appliance.config import Config
from appliance.engine.plugin import Plugin
from appliance.ks.plugin import PLUGIN as KS
from appliance.space.plugin import PLUGIN as SPACE

PLUGINS: tuple[Plugin, ...] = (SPACE, KS)


def load_config(path: str | os.PathLike[str], *, secrets: bool = True) -> Config:
    """The configuration in ``path`` with every plug-in's tables; raises ConfigError.
    ``secrets=False`` leaves secret files unread (see ``config.model.parse``)."""
    return config_root.load(path, PLUGINS, secrets=secrets)


def parse_config(data: dict[str, Any], source: str) -> Config:
    return config_root.parse(data, source, PLUGINS)
