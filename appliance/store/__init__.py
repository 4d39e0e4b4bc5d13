"""The durable store: SQLite (``db``, ``schema``), rows (``records``), secrets (``secrets``)."""

from appliance.store.db import Store
from appliance.store.secrets import Keyring

__all__ = ["Keyring", "Store"]
