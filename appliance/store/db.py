"""The SQLite file: opened for power cuts, checked, migrated, and written in transactions.

WAL with ``synchronous=FULL``: every commit is on the card before the call returns, which is
what lets the MQTT bridge acknowledge a command only after it is stored. Writes are small and
rare (a campsite, not a stock exchange), so they run on the event loop's thread; the MQTT
network thread never touches the database.
"""

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from typing import Any

from appliance.errors import StoreError
from appliance.store.retry import StoreHealth
from appliance.store.schema import MIGRATIONS
from appliance.store.secrets import Keyring
from appliance.store.tx import Crypt, Tx

BUSY_TIMEOUT_MS = 5000
"""How long a writer waits for another (the CLI during a run) before giving up."""


class Store:
    """One open store: ``with store.transaction() as tx:`` for every change, ``store.read``
    for reads outside one."""

    def __init__(self, path: str, keyring: Keyring | None, *, check: bool = True) -> None:
        self.path = path
        self.keyring = keyring
        self.db = _connect(path)
        try:
            if check:
                _integrity(self.db, path)
            _migrate(self.db, path)
        except BaseException:
            self.db.close()
            raise
        self.read = Tx(self.db, Crypt(keyring))
        self.id = self.read.meta.get("store_id") or ""
        """Random, made with the store (migration 8): part of every job event's event_id."""
        self.health = StoreHealth(path)
        self.commits = 0
        """Transactions committed since opening that wrote something: each one an fsync
        with synchronous=FULL."""

    def close(self) -> None:
        self.db.close()

    def checkpoint(self) -> None:
        """Write the write-ahead log into the store and empty the log file: the old pages it
        held of a payload erased since (a PIN, a binary key, at its PUBACK) go with it. Waits
        like a writer; a reader holding an old snapshot leaves the log for next time."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception; a StoreError when
        another writer holds the store past the busy timeout.

        Inside another transaction it is a savepoint: an exception undoes only its own
        writes, and nothing is on disk before the outermost one commits. That is how the
        bridge stores a burst of commands with one commit (one fsync) for all of them."""
        if self.db.in_transaction:
            with self._savepoint():
                yield self.read
            return
        changes = self.db.total_changes
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise StoreError("%s is locked by another writer: %s" % (self.path, err)) from err
        try:
            yield self.read
        except BaseException:
            self._rollback("ROLLBACK")
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as err:
            self._rollback("ROLLBACK")
            raise StoreError("%s could not commit: %s" % (self.path, err)) from err
        if self.db.total_changes != changes:  # a commit that wrote nothing syncs nothing
            self.commits += 1

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        self.db.execute("SAVEPOINT nested")
        try:
            yield
        except BaseException:
            self._rollback("ROLLBACK TO nested", "RELEASE nested")
            raise
        self.db.execute("RELEASE nested")

    def _rollback(self, *statements: str) -> None:
        # A full disk (SQLITE_FULL) or an I/O error may already have rolled the whole
        # transaction back; the error worth reporting is that one, not "no transaction".
        for statement in statements:
            if self.db.in_transaction:
                self.db.execute(statement)

    def encrypt(self, data: bytes) -> bytes:
        return self.read.crypt.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        return self.read.crypt.decrypt(token)

    def query(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        """Raw SQL for tests and a technician's inspection; the appliance uses ``read``."""
        return list(self.db.execute(sql, args))

    def reencrypt(self) -> int:
        """Every stored secret under the newest key, in short transactions so the running
        service is never held up; returns how many."""
        assert self.keyring is not None
        count = 0
        for select, update in REENCRYPT:
            rows = self.query(select)
            for start in range(0, len(rows), BATCH):
                batch = rows[start:start + BATCH]
                with self.transaction():
                    self.db.executemany(update, [(self.keyring.rotate(token), rowid)
                                                 for rowid, token in batch])
                count += len(batch)
        return count


REENCRYPT = (("SELECT rowid, secret FROM keys WHERE secret IS NOT NULL",
              "UPDATE keys SET secret = ? WHERE rowid = ?"),
             ("SELECT rowid, payload FROM outbox WHERE published_at IS NULL",
              "UPDATE outbox SET payload = ? WHERE rowid = ?"))
BATCH = 100


def _connect(path: str) -> sqlite3.Connection:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise StoreError("the store's folder %s does not exist; create it (the systemd unit's "
                         "StateDirectory does) or set [store] path" % folder)
    # Owner-only from the first byte: the -wal and -shm files SQLite adds take the same mode.
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except PermissionError as err:
        raise StoreError("cannot open the store %s: permission denied; while the service runs "
                         "its members of the keybridge group ask it instead, else run this as "
                         "the service's user (sudo -u keybridge keybridge ...)" % path) from err
    try:
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never implicit.
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = %d" % BUSY_TIMEOUT_MS)
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
        # A payload cleared at its PUBACK (a PIN, a binary key) is zeroed, not left in the
        # file's free space. Debian's SQLite does so by default; other builds need asking.
        db.execute("PRAGMA secure_delete = ON")
    except sqlite3.DatabaseError as err:
        raise StoreError("cannot open the store %s: %s" % (path, err)) from err
    if mode != "wal":
        db.close()
        raise StoreError("%s cannot use write-ahead logging (journal_mode=%s); put the store "
                         "on a local file system" % (path, mode))
    return db


def _integrity(db: sqlite3.Connection, path: str) -> None:
    try:
        result = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as err:
        db.close()
        raise StoreError("%s is damaged: %s; restore it from a backup" % (path, err)) from err
    if result != "ok":
        db.close()
        raise StoreError("%s failed its integrity check (%s); restore it from a backup"
                         % (path, result))


def _migrate(db: sqlite3.Connection, path: str) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreError("%s was written by a newer keybridge (schema %d, this one knows %d); "
                         "upgrade keybridge" % (path, version, len(MIGRATIONS)))
    for number in range(version, len(MIGRATIONS)):
        # executescript commits first; the migration and its version bump are one transaction.
        db.executescript("BEGIN IMMEDIATE;\n%s\nPRAGMA user_version = %d;\nCOMMIT;"
                         % (MIGRATIONS[number], number + 1))
