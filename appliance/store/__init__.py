"""The durable store: SQLite (``db``, ``schema``), rows (``records``), secrets (``secrets``)."""

from appliance.config import Config
from appliance.store.db import Store
from appliance.store.secrets import Keyring

__all__ = ["Keyring", "Store", "open_store"]


def open_store(config: Config) -> Store:
    """The configured store with its key file: checked, migrated, ready."""
    return Store(config.store.path, Keyring(config.store.key_file))
