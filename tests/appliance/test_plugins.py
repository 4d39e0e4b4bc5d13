"""A third backend is a package and one registry line: a tiny barrier controller plugged in
beside Space and KS, through the same seam, with no change to the engine or the service."""

import asyncio
import datetime
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from appliance import lifecycle
from appliance.config import Config, parse
from appliance.config.schema import Key, Problems, read_table
from appliance.config.sections import Context, KeyTypes
from appliance.engine.backend import (
    ISSUE,
    REVOKE,
    Backend,
    Checkpoint,
    Health,
    Holder,
    KeyRow,
    Outcome,
    PlannedKey,
    no_checkpoint,
)
from appliance.engine.engine import Engine
from appliance.engine.jobs import JobRunner
from appliance.engine.plugin import Plugin, Task, build_backends, plugin_tasks
from appliance.engine.replies import ReplyTo
from appliance.errors import ConfigError
from appliance.registry import PLUGINS
from appliance.store import Job, Store
from appliance.store.secrets import Keyring, create_key_file

GATE_TABLE = {"plates": Key(bool, True, example="true")}


class GateBackend(Backend):
    """Opens the barrier for a booking's licence plate, for exactly the stay."""

    name = family = "gate"

    def __init__(self) -> None:
        self.opened: dict[str, str] = {}  # plate → key id: what the barrier would hold
        self.issued_event = lifecycle.ISSUED  # a fault knob: what a buggy backend reports

    def plan(self, holder: Holder) -> list[PlannedKey]:
        if not holder.license_plate:
            return []
        return [PlannedKey("gate", holder.units, holder.valid_from, holder.valid_until,
                           plan={"plate": holder.license_plate})]

    def health(self) -> Health:
        return Health(True, "2027-01-01T00:00:00+00:00", None)

    async def run(self, job: Job, key: KeyRow | None,
                  checkpoint: Checkpoint = no_checkpoint) -> Outcome:
        assert key is not None
        plate = key.plan["plate"]
        if job.kind == ISSUE:
            self.opened[plate] = key.id
            checkpoint({"plate": plate})
            return Outcome(events=[("key_issued", key.holder() | {"backend": "gate"})],
                           key_event=self.issued_event)
        assert job.kind == REVOKE
        self.opened.pop(plate, None)
        return Outcome(events=[("key_revoked", key.holder() | {"backend": "gate"})],
                       key_event=lifecycle.REVOKED_EVENT)


class GatePlugin:
    name = "gate"
    tables: tuple[str, ...] = ("gate",)

    def __init__(self) -> None:
        self.backend = GateBackend()
        self.polled = asyncio.Event()

    def parse(self, data: Mapping[str, Any], context: Context,
              problems: Problems) -> dict[str, Any] | None:
        if "gate" not in data:
            return None
        return read_table(data["gate"], GATE_TABLE, "[gate]", problems)

    def backend_names(self, settings: object) -> list[str]:
        return ["gate"]

    def key_types(self, settings: object) -> KeyTypes:
        return KeyTypes()

    def build(self, config: Config, on_change: Callable[[], None]) -> dict[str, Backend]:
        return {"gate": self.backend}

    def tasks(self, config: Config, backends: Mapping[str, Backend], store: Store,
              wake: Callable[[], None]) -> dict[str, Task]:
        return {"gate-poller": self._poll()}

    async def _poll(self) -> None:
        self.polled.set()


def site(folder: Path, plugins: tuple[Plugin, ...], **tables: Any) -> Config:
    return parse({"site": {"id": "vliet", "timezone": "Europe/Amsterdam"},
                  "store": {"path": str(folder / "kb.db"),
                            "key_file": str(folder / "secret.keys")}, **tables},
                 str(folder / "keybridge.toml"), plugins)


def test_a_plugins_table_is_unknown_until_the_plugin_is_registered(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        site(tmp_path, PLUGINS, gate={"plates": True})
    assert "[gate]: unknown section" in caught.value.problems[0]
    with pytest.raises(ConfigError) as caught:
        site(tmp_path, (*PLUGINS, GatePlugin()), gate={"plates": "yes"})
    assert "[gate] plates" in caught.value.problems[0]
    config = site(tmp_path, (*PLUGINS, GatePlugin()), gate={})
    assert config.backends() == ["gate"] and config.section("gate") == {"plates": True}


def booking(request_id: str, status: str) -> bytes:
    return json.dumps({"request_id": request_id, "booking": {
        "id": "B1", "revision": int(request_id[-1]), "status": status, "units": ["P12"],
        "arrival": "2080-07-01T14:00:00+02:00", "departure": "2080-07-05T10:00:00+02:00",
        "license_plate": "AB-123-C"}}).encode()


async def test_a_registered_backend_gets_keys_jobs_events_and_tasks(tmp_path: Path) -> None:
    gate = GatePlugin()
    plugins = (*PLUGINS, gate)
    config = site(tmp_path, plugins, gate={})
    create_key_file(config.store.key_file)
    with Store(config.store.path, Keyring(config.store.key_file)) as store:
        backends = build_backends(plugins, config)
        engine = Engine(config, store, backends)
        runner = JobRunner(store, config.root, backends, retry_min_s=1, retry_max_s=5)
        engine.submit("booking", booking("r-1", "CONFIRMED"), False, ReplyTo())
        await _run_due(store, runner)
        [key] = store.read.keys.of_holder("B1", None)
        assert (key.backend, key.state, key.external_ids) == ("gate", lifecycle.ACTIVE,
                                                              {"plate": "AB-123-C"})
        assert gate.backend.opened == {"AB-123-C": key.id}
        engine.submit("booking", booking("r-2", "CANCELLED"), False, ReplyTo())
        await _run_due(store, runner)
        assert store.read.keys.get(key.id).state == lifecycle.REVOKED
        assert gate.backend.opened == {}
        topics = [row.topic for row in store.read.outbox.pending(0, 100)]
        assert [topic.rsplit("/", 1)[1] for topic in topics if "/event/" in topic] == [
            "key_issued", "key_revoked"]
        tasks = plugin_tasks(plugins, config, backends, store, lambda: None)
        assert list(tasks) == ["gate-poller"]
        await tasks["gate-poller"]
        assert gate.polled.is_set()


async def _run_due(store: Store, runner: JobRunner) -> None:
    now = datetime.datetime.now(datetime.UTC).timestamp() + 1
    while True:
        with store.transaction() as tx:
            job = tx.jobs.claim("gate", now, 60)
        if job is None:
            return
        await runner.run_job(job)


async def test_a_backend_reporting_an_impossible_outcome_fails_its_job_not_the_service(
        tmp_path: Path) -> None:
    """"revoked" for a key nobody asked to revoke is not in the key table: the job ends
    failed with internal_error and key_failed, the key keeps its state, and run_job
    returns, so the worker and the service go on."""
    gate = GatePlugin()
    gate.backend.issued_event = lifecycle.REVOKED_EVENT
    plugins = (*PLUGINS, gate)
    config = site(tmp_path, plugins, gate={})
    create_key_file(config.store.key_file)
    with Store(config.store.path, Keyring(config.store.key_file)) as store:
        backends = build_backends(plugins, config)
        runner = JobRunner(store, config.root, backends, retry_min_s=1, retry_max_s=5)
        Engine(config, store, backends).submit("booking", booking("r-1", "CONFIRMED"), False,
                                               ReplyTo())
        await _run_due(store, runner)
        [key] = store.read.keys.of_holder("B1", None)
        assert key.state == lifecycle.ISSUING
        [job] = store.query("SELECT state, last_error FROM jobs WHERE key_id = ?", key.id)
        assert job["state"] == lifecycle.FAILED and "cannot take the event" in job["last_error"]
        failed = [json.loads(row.payload) for row in store.read.outbox.pending(0, 100)
                  if row.topic.endswith("/event/key_failed")]
        assert [event["code"] for event in failed] == ["internal_error"]
