"""The appliance's configuration (one TOML file); see ``model.py``, and ``sections.py`` for
the tables a backend plug-in brings."""

from appliance.config.files import load, load_store
from appliance.config.model import Config, Mqtt, Service, Site, Store, parse

__all__ = ["Config", "Mqtt", "Service", "Site", "Store", "load", "load_store", "parse"]
