"""One unit of work on the store: every repository over one connection, with the keyring.

``with store.transaction() as tx:`` gives a ``Tx`` inside BEGIN IMMEDIATE; ``store.read``
gives one for reads outside a transaction. The engine and the backends call methods of its
repositories (``tx.keys.add(...)``, ``tx.jobs.retry(...)``); the SQL stays in this package.
"""

import json
import sqlite3
from typing import Any

from appliance.errors import StoreError
from appliance.store.secrets import Keyring


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class Crypt:
    """The keyring, or a clear error where the store was opened without its key file."""

    def __init__(self, keyring: Keyring | None) -> None:
        self.keyring = keyring

    def encrypt(self, data: bytes) -> bytes:
        return self._ring().encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        return self._ring().decrypt(token)

    def _ring(self) -> Keyring:
        if self.keyring is None:
            raise StoreError("this store was opened without its key file")
        return self.keyring


class Tx:
    """The repositories on one connection; see each one's module for its rows."""

    def __init__(self, db: sqlite3.Connection, crypt: Crypt) -> None:
        # Imported here: the repository modules use Crypt and dumps from this module.
        from appliance.store.holders import Bookings, OwnerKeys
        from appliance.store.jobs import Jobs
        from appliance.store.keys import Keys
        from appliance.store.logs import Audit, Entries, Integration, Meta
        from appliance.store.messages import Inbox, Outbox
        self.crypt = crypt
        self.keys = Keys(db, crypt)
        self.jobs = Jobs(db)
        self.inbox = Inbox(db)
        self.outbox = Outbox(db, crypt)
        self.bookings = Bookings(db)
        self.owner_keys = OwnerKeys(db)
        self.audit = Audit(db)
        self.integration = Integration(db)
        self.meta = Meta(db)
        self.entries = Entries(db)
