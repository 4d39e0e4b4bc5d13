"""keybridge: the CPython appliance (config, store, MQTT bridge, Salto adapters, CLI)."""

__version__ = "0.1.0"
