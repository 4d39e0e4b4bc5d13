"""A store that has lived a few seasons: ``count`` bookings behind it, for the figures that
must not grow with the store.

Each booking went the way most do: confirmed, its KS key issued, checked out, the key revoked.
So the store holds, per booking, the booking, two inbox rows with their replies, a revoked
key, two finished jobs and the published outbox rows, written through the engine and the
store's own repositories (no SQL here), thousands per transaction. Built once per schema and
count under ``.cache/bench`` and copied for each run, since building 100,000 takes a while.
"""

import datetime
import json
import shutil
from pathlib import Path

from appliance import lifecycle
from appliance.config import Config
from appliance.engine.backend import Backend, Holder, PlannedKey
from appliance.engine.engine import Engine
from appliance.engine.replies import ReplyTo
from appliance.store.db import Store
from appliance.store.schema import MIGRATIONS
from appliance.store.secrets import Keyring, create_key_file

PER_TRANSACTION = 5000
ARRIVAL = datetime.datetime(2025, 7, 1, 14, tzinfo=datetime.UTC)


def seeded(cache: Path, config: Config, count: int) -> tuple[Path, Path]:
    """(store, key file) holding ``count`` past bookings, built on first use."""
    folder = cache / ("seed-%d-schema%d" % (count, len(MIGRATIONS)))
    store_path, key_file = folder / "keybridge.db", folder / "secret.keys"
    if not (folder / "done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        create_key_file(str(key_file))
        with Store(str(store_path), Keyring(str(key_file))) as store:
            _fill(store, config, count)
        (folder / "done").touch()
    return store_path, key_file


def install(seed: tuple[Path, Path], store_path: str, key_file: str) -> None:
    """Copy a seeded store over an appliance's (after ``keybridge init``, before ``run``)."""
    shutil.copyfile(seed[0], store_path)
    shutil.copyfile(seed[1], key_file)


def _fill(store: Store, config: Config, count: int) -> None:
    engine = Engine(config, store, {"ks": _Seeding()})
    for start in range(0, count, PER_TRANSACTION):
        with store.transaction() as tx:
            for number in range(start, min(count, start + PER_TRANSACTION)):
                _season(engine, store, number)
            tx.outbox.published([row.id for row in tx.outbox.pending(0, 10 * PER_TRANSACTION)])


class _Seeding(Backend):
    """KS as the engine sees it while seeding: it knows the unit (no ``unknown_unit`` news)
    and plans nothing, since each booking's key and jobs are written below as they ended."""

    name = family = "ks"

    def plan(self, holder: Holder) -> list[PlannedKey]:
        return []


def _season(engine: Engine, store: Store, number: int) -> None:
    booking_id = "old-%d" % number
    arrival = ARRIVAL + datetime.timedelta(hours=number % 2000)
    for revision, status in ((1, "CONFIRMED"), (2, "COMPLETED")):
        engine.submit("booking", json.dumps({
            "request_id": "%s-%d" % (booking_id, revision),
            "booking": {"id": booking_id, "revision": revision, "status": status,
                        "units": ["P12"], "arrival": arrival.isoformat(),
                        "departure": (arrival + datetime.timedelta(days=3)).isoformat(),
                        "guest": {"name": "Guest %d" % number}}}).encode(), False, ReplyTo())
    tx = store.read
    key_id = tx.keys.add("ks", "stay", booking_id, None, ("P12",), arrival,
                         arrival + datetime.timedelta(days=3), {})
    for kind, event in (("issue_key", lifecycle.ISSUED), ("revoke_key", lifecycle.REVOKE),
                        ("revoke_key", lifecycle.REVOKED_EVENT)):
        tx.keys.move(key_id, event)
        if event != lifecycle.REVOKE:
            tx.jobs.add("ks", kind, {}, key_id=key_id, at=0.0)
            job = tx.jobs.claim("ks", 1.0, 60.0)
            assert job is not None
            tx.jobs.done(job)
