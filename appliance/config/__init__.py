"""The appliance's configuration (one TOML file); see ``model.py``."""

from appliance.config.model import Config, Encoder, Mqtt, Service, Site, Store, load, parse

__all__ = ["Config", "Encoder", "Mqtt", "Service", "Site", "Store", "load", "parse"]
