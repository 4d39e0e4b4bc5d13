"""The durable store: SQLite (``db``, ``schema``), one transaction's repositories (``tx``:
``keys``, ``jobs``, ``messages``, ``holders``, ``logs``), secrets (``secrets``)."""

import os

from appliance.config import Config
from appliance.errors import StoreError
from appliance.store.clock import now_iso
from appliance.store.db import Store
from appliance.store.jobs import Job
from appliance.store.keys import KeyRow
from appliance.store.messages import Route, job_event_id
from appliance.store.secrets import Keyring
from appliance.store.tx import Tx

__all__ = ["Job", "KeyRow", "Keyring", "Route", "Store", "Tx", "job_event_id", "now_iso",
           "open_for_reading", "open_store"]


def open_store(config: Config) -> Store:
    """The configured store with its key file: checked, migrated, ready."""
    return Store(config.store.path, Keyring(config.store.key_file))


def open_for_reading(config: Config) -> Store:
    """The configured store without its key file: for commands that show what it holds and
    decrypt nothing, so they work where the key file cannot be read. Never creates it."""
    path = config.store.path
    try:
        os.stat(path)
    except FileNotFoundError as err:
        raise StoreError("there is no store at %s yet: run keybridge init (once, before the "
                         "service's first start)" % path) from err
    except PermissionError:
        pass  # said by Store with the fix
    return Store(path, None)
