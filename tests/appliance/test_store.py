"""The SQLite store and its key file, as the Pi in the office rack depends on them: survives
power cuts, refuses damaged or newer files clearly, and keeps PINs unreadable on the card."""

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from appliance.cli import main
from appliance.errors import SecretKeyError, StoreError
from appliance.store import Route, job_event_id
from appliance.store.db import BUSY_TIMEOUT_MS, Store
from appliance.store.schema import MIGRATIONS
from appliance.store.secrets import KEEP_KEYS, Keyring, create_key_file, rotate_key_file

SECRET = "PIN 482913"


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    path = str(tmp_path / "secret.keys")
    assert create_key_file(path)
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "keybridge.db")


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def file_bytes(db_path: str) -> bytes:
    """The database file and its WAL, as they sit on the card."""
    data = b""
    for suffix in ("", "-wal"):
        if os.path.exists(db_path + suffix):
            data += Path(db_path + suffix).read_bytes()
    return data


def add_key(store: Store, key_id: str, secret: bytes) -> None:
    with store.transaction():
        store.db.execute(
            "INSERT INTO keys (id, backend, booking_id, units, valid_from, valid_until, "
            "state, secret, created_at, updated_at) VALUES (?, 'ks', 'B1', '[\"P12\"]', "
            "'2027-07-01T14:00:00+02:00', '2027-07-05T10:00:00+02:00', 'active', ?, "
            "'2027-06-01T00:00:00+00:00', '2027-06-01T00:00:00+00:00')",
            (key_id, store.encrypt(secret)))


def key_secret(store: Store, key_id: str) -> bytes:
    token = store.query("SELECT secret FROM keys WHERE id = ?", key_id)[0][0]
    return store.decrypt(token)


def test_the_store_is_opened_for_power_cuts(db_path: str, key_file: str) -> None:
    with Store(db_path, Keyring(key_file)) as store:
        assert store.query("PRAGMA journal_mode")[0][0] == "wal"
        assert store.query("PRAGMA synchronous")[0][0] == 2  # FULL
        assert store.query("PRAGMA busy_timeout")[0][0] == BUSY_TIMEOUT_MS > 0
        assert store.query("PRAGMA foreign_keys")[0][0] == 1


def test_the_store_files_are_readable_only_by_keybridge(db_path: str, key_file: str) -> None:
    old = os.umask(0o022)
    try:
        with Store(db_path, Keyring(key_file)) as store:
            with store.transaction() as db:
                db.meta.set("hello", "world")
            assert mode(db_path) == 0o600
            for suffix in ("-wal", "-shm"):
                if os.path.exists(db_path + suffix):
                    assert mode(db_path + suffix) == 0o600, suffix
    finally:
        os.umask(old)


def test_migrations_run_once_and_reopening_changes_nothing(
        db_path: str, key_file: str) -> None:
    with Store(db_path, Keyring(key_file)) as store:
        assert store.query("PRAGMA user_version")[0][0] == len(MIGRATIONS)
        with store.transaction() as db:
            db.meta.set("site", "demo")
        tables = {row[0] for row in store.query("SELECT name FROM sqlite_master")}
    assert {"meta", "inbox", "bookings", "keys", "jobs", "outbox", "audit",
            "integration_log"} <= tables
    with Store(db_path, Keyring(key_file)) as store:
        assert store.query("PRAGMA user_version")[0][0] == len(MIGRATIONS)
        assert store.read.meta.get("site") == "demo"
        assert {row[0] for row in store.query("SELECT name FROM sqlite_master")} == tables


def test_a_store_from_a_newer_keybridge_is_refused(db_path: str, key_file: str) -> None:
    Store(db_path, Keyring(key_file)).close()
    raw = sqlite3.connect(db_path)
    raw.execute("PRAGMA user_version = %d" % (len(MIGRATIONS) + 1))
    raw.close()
    with pytest.raises(StoreError, match="upgrade keybridge") as caught:
        Store(db_path, Keyring(key_file))
    assert db_path in str(caught.value)


def test_a_missing_folder_says_what_to_set(tmp_path: Path, key_file: str) -> None:
    with pytest.raises(StoreError, match=r"\[store\] path"):
        Store(str(tmp_path / "nope" / "keybridge.db"), Keyring(key_file))


def _fill(db_path: str, key_file: str) -> None:
    with Store(db_path, Keyring(key_file)) as store, store.transaction() as db:
        for number in range(300):
            db.audit.add("issued", "space", "test", key_id="key-%d" % number,
                         detail="x" * 200)


@pytest.mark.parametrize("where", ["header", "second page", "middle"])
def test_a_damaged_file_is_refused_with_its_name(db_path: str, key_file: str,
                                                 where: str) -> None:
    _fill(db_path, key_file)
    size = os.path.getsize(db_path)
    assert size > 16 * 4096
    offset = {"header": 0, "second page": 4096, "middle": size // 2}[where]
    with open(db_path, "r+b") as file:
        file.seek(offset)
        file.write(bytes(range(256)) * 16)
    with pytest.raises(StoreError) as caught:
        Store(db_path, Keyring(key_file))
    assert db_path in str(caught.value)


def test_the_audit_log_is_append_only(db_path: str, key_file: str) -> None:
    with Store(db_path, Keyring(key_file)) as store:
        with store.transaction() as db:
            db.audit.add("issued", "ks", "r-1", key_id="k1", booking_id="B1")
        for sql in ("UPDATE audit SET action = 'revoked'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"), \
                    store.transaction():
                store.db.execute(sql)
        rows = store.query("SELECT action, booking_id FROM audit")
    assert [tuple(row) for row in rows] == [("issued", "B1")]


def test_a_failed_transaction_leaves_nothing_behind(db_path: str, key_file: str) -> None:
    with Store(db_path, Keyring(key_file)) as store:
        with pytest.raises(RuntimeError), store.transaction() as db:
            db.meta.set("half", "done")
            raise RuntimeError("power cut")
        assert store.read.meta.get("half") is None


def test_a_nested_transaction_undoes_only_its_own_writes(db_path: str,
                                                          key_file: str) -> None:
    with Store(db_path, Keyring(key_file)) as store:
        with store.transaction():
            pass  # wrote nothing, synced nothing: not counted
        with store.transaction() as outer:
            outer.meta.set("first", "kept")
            with pytest.raises(RuntimeError), store.transaction() as inner:
                inner.meta.set("second", "undone")
                raise RuntimeError("a command refused")
            with store.transaction() as inner:
                inner.meta.set("third", "kept")
            # Nothing is on disk for another reader before the outermost commit.
            with sqlite3.connect(db_path) as other:
                assert other.execute("SELECT count(*) FROM meta WHERE key != "
                                     "'store_id'").fetchone()[0] == 0
        assert [store.read.meta.get(key) for key in ("first", "second", "third")] == [
            "kept", None, "kept"]
        assert store.commits == 1


def test_a_failed_outer_transaction_undoes_its_nested_ones(db_path: str,
                                                           key_file: str) -> None:
    with Store(db_path, Keyring(key_file)) as store:
        with pytest.raises(RuntimeError), store.transaction():
            with store.transaction() as inner:
                inner.meta.set("nested", "done")
            raise RuntimeError("power cut")
        assert store.read.meta.get("nested") is None and store.commits == 0


def test_pins_are_not_in_the_database_file_in_plain_text(db_path: str, key_file: str) -> None:
    store = Store(db_path, Keyring(key_file))
    with store.transaction() as db:
        db.outbox.add(Route("keybridge/demo/event/key_issued"),
                           {"booking_id": "B1", "pin": SECRET})
    add_key(store, "k1", SECRET.encode())
    # While the service runs (the WAL holds the commits) and after it stops.
    assert SECRET.encode() not in file_bytes(db_path)
    store.close()
    data = file_bytes(db_path)
    assert SECRET.encode() not in data and b"482913" not in data
    with Store(db_path, Keyring(key_file)) as store:
        outgoing = store.read.outbox.pending(0, 10)
        assert SECRET in outgoing[0].payload.decode()
        assert key_secret(store, "k1") == SECRET.encode()


def test_create_key_file_is_private_and_never_overwrites(tmp_path: Path) -> None:
    path = str(tmp_path / "secret.keys")
    assert create_key_file(path) is True
    assert mode(path) == 0o600
    first = Path(path).read_bytes()
    Fernet(first.strip())  # a usable Fernet key
    assert create_key_file(path) is False
    assert Path(path).read_bytes() == first


def test_rotate_key_file_keeps_three_keys_newest_first(key_file: str) -> None:
    original = Path(key_file).read_bytes().split()
    for _ in range(4):
        before = Path(key_file).read_bytes().split()
        rotate_key_file(key_file)
        after = Path(key_file).read_bytes().split()
        assert after[1:] == before[: KEEP_KEYS - 1] and after[0] not in before
        assert mode(key_file) == 0o600
    assert len(after) == KEEP_KEYS and original[0] not in after


def _site(tmp_path: Path, db_path: str, key_file: str) -> str:
    path = tmp_path / "keybridge.toml"
    path.write_text('[site]\nid = "demo"\ntimezone = "Europe/Amsterdam"\n'
                    '[store]\npath = "%s"\nkey_file = "%s"\n' % (db_path, key_file))
    return str(path)


def test_rotate_key_keeps_every_secret_readable_even_for_the_running_service(
        tmp_path: Path, db_path: str, key_file: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = _site(tmp_path, db_path, key_file)
    old_key = Path(key_file).read_bytes().split()[0]
    running = Store(db_path, Keyring(key_file))  # the service, opened before the rotation
    try:
        add_key(running, "k1", b"PIN 111111")
        add_key(running, "k2", b"PIN 222222")
        with running.transaction() as db:
            db.outbox.add(Route("t"), {"pin": SECRET})
        assert main(["rotate-key", "--config", config]) == 0
        assert "3 secrets re-encrypted" in capsys.readouterr().out
        keys = Path(key_file).read_bytes().split()
        assert keys[1] == old_key and keys[0] != old_key and mode(key_file) == 0o600
        # Re-encrypted under the new key: the new key alone reads them.
        newest = Fernet(keys[0])
        token = running.query("SELECT secret FROM keys WHERE id = 'k1'")[0][0]
        assert newest.decrypt(token) == b"PIN 111111"
        # The running service re-reads the key file and reads what the rotation wrote...
        assert key_secret(running, "k1") == b"PIN 111111"
        assert key_secret(running, "k2") == b"PIN 222222"
        assert SECRET in running.read.outbox.pending(0, 10)[0].payload.decode()
        # ...and what it writes now is under the new key.
        add_key(running, "k3", b"PIN 333333")
        token = running.query("SELECT secret FROM keys WHERE id = 'k3'")[0][0]
        assert newest.decrypt(token) == b"PIN 333333"
    finally:
        running.close()
    with Store(db_path, Keyring(key_file)) as store:
        assert key_secret(store, "k2") == b"PIN 222222"


def test_a_replaced_key_file_is_a_clear_error(
        tmp_path: Path, db_path: str, key_file: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    with Store(db_path, Keyring(key_file)) as store:
        add_key(store, "k1", SECRET.encode())
    Path(key_file).write_bytes(Fernet.generate_key() + b"\n")
    with Store(db_path, Keyring(key_file)) as store, \
            pytest.raises(SecretKeyError, match="replaced instead of rotated") as caught:
        key_secret(store, "k1")
    assert key_file in str(caught.value)
    # What the technician sees from the command line.
    config = _site(tmp_path, db_path, key_file)
    assert main(["keys", "--reveal", "--config", config]) == 1
    err = capsys.readouterr().err
    assert key_file in err and "replaced instead of rotated" in err


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "holds no key"),
    (b"not-a-fernet-key\n", "not a Fernet key"),
])
def test_a_broken_key_file_is_a_clear_error(tmp_path: Path, content: bytes,
                                            problem: str) -> None:
    path = tmp_path / "secret.keys"
    path.write_bytes(content)
    with pytest.raises(SecretKeyError, match=problem) as caught:
        Keyring(str(path))
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_key_file_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match="keybridge init"):
        Keyring(str(tmp_path / "secret.keys"))


def prune(store: Store, keep_s: float) -> int:
    with store.transaction() as db:
        return db.outbox.prune(keep_s)


def test_published_outbox_rows_are_forgotten_after_a_week(tmp_path) -> None:
    from appliance.store import Keyring, Store
    from appliance.store.secrets import create_key_file
    create_key_file(str(tmp_path / "keys"))
    with Store(str(tmp_path / "db"), Keyring(str(tmp_path / "keys"))) as store:
        with store.transaction() as db:
            db.outbox.add(Route("t/a"), {"pin": "482913"})
            db.outbox.add(Route("t/b"), {"n": 2})
        with store.transaction() as db:
            db.outbox.published([1])
        assert prune(store, 3600) == 0  # confirmed just now: kept a while
        assert prune(store, -1) == 1
        assert store.read.outbox.depth() == 1  # the unpublished row stays whatever its age
        assert [row[0] for row in store.query("SELECT topic FROM outbox")] == ["t/b"]


def test_a_confirmed_outbox_row_leaves_no_copy_of_its_payload(db_path: str,
                                                              key_file: str) -> None:
    """A key_issued's secret goes from the file at its PUBACK, not even a piece of its token
    left in free space; one the broker never confirmed is still there for the restart."""
    confirmed, waiting = {"binary_key": "0A1B2C3D" * 16}, {"pin": "482913"}
    with Store(db_path, Keyring(key_file)) as store:
        with store.transaction() as db:
            db.outbox.add(Route("t/issued"), confirmed)
            db.outbox.add(Route("t/issued"), waiting)
        token = store.query("SELECT payload FROM outbox WHERE id = 1")[0][0]
        with store.transaction() as db:
            db.outbox.published([1])
    data = file_bytes(db_path)
    pieces = [token[start:start + 24] for start in range(0, len(token) - 24, 24)]
    assert [piece for piece in pieces if piece in data] == []
    with Store(db_path, Keyring(key_file)) as store:  # the service started again
        [outgoing] = store.read.outbox.pending(0, 10)
        assert (outgoing.id, json.loads(outgoing.payload)) == (2, waiting)


def test_rows_confirmed_before_the_upgrade_lose_their_payload(db_path: str,
                                                             key_file: str) -> None:
    """Schema 9: a PIN published by an older version, which kept payloads until the weekly
    prune, leaves the file at the upgrade; a row still waiting for the broker keeps its."""
    raw = sqlite3.connect(db_path, isolation_level=None)
    for number, migration in enumerate(MIGRATIONS[:8], 1):
        raw.executescript("BEGIN;\n%s\nPRAGMA user_version = %d;\nCOMMIT;" % (migration, number))
    raw.close()
    with Store(db_path, Keyring(key_file)) as store, store.transaction() as db:
        db.outbox.add(Route("t/issued"), {"pin": "482913"})
        db.outbox.add(Route("t/issued"), {"pin": "170224"})
    raw = sqlite3.connect(db_path, isolation_level=None)
    raw.execute("UPDATE outbox SET published_at = '2027-01-01T00:00:00+00:00' WHERE id = 1")
    raw.execute("DROP INDEX keys_platform_user")  # schema 10's, not in an older store
    raw.execute("PRAGMA user_version = 8")  # as the older version left it
    raw.close()
    with Store(db_path, Keyring(key_file)) as store:
        assert tuple(store.query("SELECT id, length(payload) FROM outbox ORDER BY id")[0]) == (
            1, 0)
        [waiting] = store.read.outbox.pending(0, 10)
        assert json.loads(waiting.payload) == {"pin": "170224"}


def test_outbox_ids_are_never_reused_after_a_prune(tmp_path) -> None:
    from appliance.store import Keyring, Store
    from appliance.store.secrets import create_key_file
    create_key_file(str(tmp_path / "keys"))
    with Store(str(tmp_path / "db"), Keyring(str(tmp_path / "keys"))) as store:
        with store.transaction() as db:
            db.outbox.add(Route("t/a"), {"n": 1})
        with store.transaction() as db:
            db.outbox.published([1])
        prune(store, -1)
        with store.transaction() as db:
            db.outbox.add(Route("t/b"), {"n": 2})
        # the publisher asks for rows after the last id it sent: 1 must not come back
        assert [row[0] for row in store.query("SELECT id FROM outbox")] == [2]


def test_an_older_desk_jobs_reply_route_moves_into_its_columns(db_path: str,
                                                                key_file: str) -> None:
    """Schema 5: a desk job accepted by a version that kept the route in its arguments
    still answers where the PMS asked, after the upgrade."""
    raw = sqlite3.connect(db_path, isolation_level=None)
    for number, migration in enumerate(MIGRATIONS[:4], 1):
        raw.executescript("BEGIN;\n%s\nPRAGMA user_version = %d;\nCOMMIT;" % (migration, number))
    raw.execute("INSERT INTO jobs (backend, kind, request_id, payload, state, next_attempt_at, "
                "created_at, updated_at) VALUES ('space', 'read_card', 'r-1', ?, 'pending', 0, "
                "'2027-01-01T00:00:00+00:00', '2027-01-01T00:00:00+00:00')",
                ('{"encoder":"desk-1","reply":{"topic":"pms/r/1","properties":'
                 '{"correlation_hex":"0a"}}}',))
    raw.close()
    with Store(db_path, Keyring(key_file)) as store, store.transaction() as db:
        job = db.jobs.claim("space", 1.0, 60)
    assert job is not None and job.payload == {"encoder": "desk-1"}
    assert job.reply == Route("pms/r/1", {"correlation_hex": "0a"})


def test_every_store_has_its_own_id_for_event_ids(tmp_path: Path, key_file: str) -> None:
    """Job ids count from 1 in every store: without the store's own id in each event_id, two
    sites (or a site's store made anew) would publish the same ids, and a PMS de-duplicating
    by event_id across its fleet would drop real events."""
    ids = []
    for name in ("site1.db", "site2.db"):
        with Store(str(tmp_path / name), Keyring(key_file)) as store:
            ids.append(store.id)
        with Store(str(tmp_path / name), Keyring(key_file)) as store:
            assert store.id == ids[-1]  # kept: a job repeated after a restart says the same
    assert len(set(ids)) == 2 and all(len(found) == 32 for found in ids)
    assert job_event_id(ids[0], 1, "key_issued") != job_event_id(ids[1], 1, "key_issued")
