"""The durable store: SQLite (``db``, ``schema``), one transaction's repositories (``tx``:
``keys``, ``jobs``, ``messages``, ``holders``, ``logs``), secrets (``secrets``)."""

from appliance.config import Config
from appliance.store.clock import now_iso
from appliance.store.db import Store
from appliance.store.jobs import Job
from appliance.store.keys import KeyRow
from appliance.store.messages import Route, job_event_id
from appliance.store.secrets import Keyring
from appliance.store.tx import Tx

__all__ = ["Job", "KeyRow", "Keyring", "Route", "Store", "Tx", "job_event_id", "now_iso",
           "open_store"]


def open_store(config: Config) -> Store:
    """The configured store with its key file: checked, migrated, ready."""
    return Store(config.store.path, Keyring(config.store.key_file))
