"""``keybridge run``: the appliance as one asyncio program under systemd.

Start-up: configuration (already validated), the store (integrity check, migrations, the key
file), interrupted jobs settled, backends started, the broker connected — then READY=1.
Running: a TaskGroup of the command consumer, one worker per backend, the outbox publisher,
the status publisher and the watchdog. The watchdog pings only while every one of those tasks
and paho's network thread are alive, so a wedged appliance is restarted by systemd.
Stopping (SIGTERM/SIGINT): STOPPING=1, no new commands taken (the broker keeps them for the
persistent session), jobs in hand finished within ``drain_timeout_s``, the outbox flushed,
the retained status set offline.
"""

import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import time
from typing import Any

from appliance import __version__, sdnotify
from appliance.bridge import takeover
from appliance.bridge.mqtt import Incoming, MqttLink
from appliance.bridge.publisher import Publisher
from appliance.config import Config, modes
from appliance.control.server import ControlServer
from appliance.engine.backend import DELIVER, Backend
from appliance.engine.crossjobs import APPLIANCE
from appliance.engine.engine import Engine
from appliance.engine.intake import Intake
from appliance.engine.jobs import JobRunner
from appliance.engine.plugin import Plugin, build_backends, plugin_tasks
from appliance.engine.worker import Worker
from appliance.errors import ConfigError, SessionTakenOver, StoreError
from appliance.service_control import ControlHandlers
from appliance.store import lock, now_iso, open_store, retention
from appliance.store.clock import ClockWatch
from appliance.store.retry import REFUSALS, persist

log = logging.getLogger("keybridge.service")
PRUNE_EVERY_S = 3600.0


class Service:
    def __init__(self, config: Config, plugins: tuple[Plugin, ...] = (),
                 backends: dict[str, Backend] | None = None) -> None:
        self.config = config
        self.plugins = plugins
        self.backends = (build_backends(plugins, config, self._health_changed)
                         if backends is None else backends)
        self.stop_requested = asyncio.Event()
        self.started_at = now_iso()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._last_status = b""
        self.taken_over = ""  # why the broker's session is someone else's now
        self.clock = ClockWatch()

    async def run(self) -> None:
        config = self.config
        if problems := modes.key_files(config):  # refused, not run with a key others read
            raise ConfigError(problems)
        with lock.held(config.store.path):  # one service per store, for its whole life
            self.store = open_store(config)
            try:
                await self._run()
            finally:
                with contextlib.suppress(*REFUSALS):  # stopping: no retries, no mask
                    self.store.checkpoint()
                self.store.close()
        if self.taken_over:
            raise SessionTakenOver(self._advice())

    async def _run(self) -> None:
        config = self.config
        self.runner = JobRunner(self.store, config.root, self.backends,
                                retry_min_s=config.service.job_retry_min_s,
                                retry_max_s=config.service.job_retry_max_s, wake=self.wake)
        self.engine = Engine(config, self.store, self.backends, wake=self.wake)
        self.workers = {name: Worker(self.runner, name, config.service.job_lease_s,
                                     self.backends[name].concurrency
                                     if name in self.backends else 1)
                        for name in [*self.backends, APPLIANCE]}
        recovered = await self.runner.recover()
        if recovered:
            log.warning("%d job(s) were interrupted by the last stop and are settled",
                        recovered)
        self.link = MqttLink(config.mqtt, config.root, on_message=self._incoming,
                             on_connected=self._connected, on_disconnected=self._disconnected,
                             on_published=self._published, on_taken_over=self._taken_over,
                             on_subscribed=self._health_changed)
        self.publisher = Publisher(self.store, self.link, config.mqtt.inflight_window)
        self.intake = Intake(config.root, self.store, self.engine, self.link)
        self.store.health.on_change = self._store_health_changed
        for backend in self.backends.values():
            await backend.start()
        self.control = ControlServer(config.service.control_socket, ControlHandlers(
            self.live_status, self.wake, self.backends, self.store, config.root).table())
        await self.control.start()
        self._signals()
        self.link.start()
        try:
            async with asyncio.TaskGroup() as group:
                self._spawn(group)
        finally:
            await self.control.close()
            for backend in self.backends.values():
                await backend.close()
            log.info("stopped")

    def _spawn(self, group: asyncio.TaskGroup) -> None:
        self.tasks = {"commands": group.create_task(self.intake.run()),
                      "outbox": group.create_task(self.publisher.run()),
                      "status": group.create_task(self._status_loop())}
        for name, worker in self.workers.items():
            self.tasks["worker:" + name] = group.create_task(worker.run())
        for name, task in plugin_tasks(self.plugins, self.config, self.backends, self.store,
                                       self.wake).items():
            self.tasks[name] = group.create_task(task)
        self.watcher = group.create_task(self._ready_and_watch())
        group.create_task(self._stop_when_asked())

    def _signals(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop_requested.set)

    def wake(self) -> None:
        # The publisher first: the reply the PMS waits for goes out before a worker starts
        # on the job (the loop runs woken tasks in the order they were woken).
        publisher = getattr(self, "publisher", None)
        if publisher is not None:
            publisher.wake()
        for worker in getattr(self, "workers", {}).values():
            worker.wake()

    # MQTT callbacks, on the event loop.

    def _incoming(self, incoming: Incoming) -> None:
        self.intake.put(incoming)

    def _connected(self) -> None:
        self.publisher.connected()
        try:
            self._publish_status(force=True)
        except StoreError as err:  # the status loop publishes it once the store lets go
            log.warning("status not published on connecting: %s", err)

    def _disconnected(self) -> None:
        self.publisher.disconnected()

    def _published(self, mid: int) -> None:
        self.publisher.published(mid)

    def _taken_over(self, why: str) -> None:
        self.taken_over = why
        log.error("%s", self._advice(), extra={"ctx": {"broker": self.link.where()}})
        self.stop_requested.set()

    def _advice(self) -> str:
        return takeover.advice(self.config.mqtt.client_id, self.config.site.id,
                               self.taken_over)

    # Status and watchdog.

    def status(self) -> dict[str, Any]:
        depths = self.store.read.jobs.depths()
        backends = {}
        for name, backend in self.backends.items():
            health = backend.health()
            backends[name] = {"up": health.up, "since": health.since,
                              "last_error": health.last_error, "queue": depths.get(name, 0)}
        last = self.store.read.meta.get("last_reconciliation")
        # updated_at changes at every refresh, so the retained status is published every
        # status_interval_s even when nothing else changed: a PMS that sees no fresh one
        # for three intervals knows the site is gone, though a dead broker node kept its
        # "online" (docs/mqtt-contract.md, "Is the site alive?").
        return {"state": "online", "version": __version__, "site": self.config.site.id,
                "since": self.started_at, "updated_at": now_iso(),
                "interval_s": self.config.service.status_interval_s, "backends": backends,
                "queues": {"jobs": sum(depths.values()), "outbox": self.publisher.depth()},
                "store": self.store.health.view(),
                "mqtt": self.link.protocol,
                "commands": "refused" if self.link.subscribed is False else "subscribed"
                if self.link.subscribed else "subscribing",
                "last_reconciliation": None if last is None else json.loads(last)["at"]}

    def live_status(self) -> dict[str, Any]:
        """``keybridge status`` while the service runs: the retained status and what only
        the running process knows (the broker link, the store's size)."""
        return self.status() | {
            "pid": os.getpid(),
            "broker": {"address": self.link.where(),
                       "connected": self.link.connected.is_set(),
                       "last_error": self.link.last_error or None},
            "store": self.store.health.view() | {
                "path": self.config.store.path, "commits": self.store.commits,
                "bytes": sum(os.path.getsize(path) for path in (
                    self.config.store.path, self.config.store.path + "-wal")
                    if os.path.exists(path))}}

    def _health_changed(self) -> None:
        """Called from inside a backend's job: it must never make the job fail."""
        if getattr(self, "publisher", None) is None:
            return
        try:
            self._publish_status()
        except Exception:  # the status loop publishes it again shortly
            log.warning("status not published now; it follows with the next refresh",
                        exc_info=True)

    def _store_health_changed(self) -> None:
        # Later, not inside the failing write's own handling.
        asyncio.get_running_loop().call_soon(self._health_changed)

    def _publish_status(self, force: bool = False) -> None:
        """To the broker first: a store that cannot write is what the PMS must hear of."""
        payload = json.dumps(self.status(), sort_keys=True).encode()
        if payload == self._last_status and not force:
            return
        if self.link.connected.is_set():
            self.link.publish(self.link.status_topic, payload, retain=True)
            self._last_status = payload
        # A refusal is shown in the status just published, and by the next one.
        self.store.health.attempt("recording the status",
                                  functools.partial(self._record_status, payload))

    def _record_status(self, payload: bytes) -> None:
        with self.store.transaction() as tx:
            tx.meta.set("status", payload.decode())
            tx.meta.set("status_at", now_iso())

    def _record_offline(self) -> None:
        """What ``keybridge status`` shows after an orderly stop: not the last online view."""
        stopped: dict[str, Any] = {"state": "offline", "since": now_iso(), "backends": {}}
        if self.taken_over:
            stopped |= {"state": "taken_over", "reason": self.taken_over}
        with self.store.transaction() as tx:
            tx.meta.set("status_at", now_iso())
            tx.meta.set("status", json.dumps(stopped))

    async def _status_loop(self) -> None:
        pruned = 0.0
        while True:
            if time.monotonic() - pruned > PRUNE_EVERY_S:
                await persist(self._prune, "pruning the outbox", self.store.health)
                await retention.prune(self.store, self.config.store.retention_days)
                pruned = time.monotonic()
            await asyncio.sleep(self.config.service.status_interval_s)
            await persist(self._follow_clock, "following a clock step", self.store.health)
            await persist(self._publish_status, "reading the status",
                          self.store.health)

    def _follow_clock(self) -> None:
        jumped = self.clock.step()
        if not jumped:
            return
        with self.store.transaction() as tx:
            moved = tx.jobs.follow_clock(jumped, DELIVER)
        log.warning("the wall clock jumped %+.0f s (NTP, or set by hand); %d waiting job(s) "
                    "moved with it, scheduled mobile-key deliveries keep their dates",
                    jumped, moved)
        self.wake()

    def _prune(self) -> None:
        with self.store.transaction() as tx:
            tx.outbox.prune()
        self.store.checkpoint()  # what was erased leaves the write-ahead log too

    async def _ready_and_watch(self) -> None:
        await self.link.connected.wait()
        sdnotify.ready("connected to %s" % self.link.where())
        log.info("ready", extra={"ctx": {"site": self.config.site.id,
                                         "backends": ",".join(self.backends) or "none"}})
        interval = sdnotify.watchdog_interval_s()
        while interval is not None:
            if self._healthy():
                sdnotify.watchdog_ping()
            else:
                log.error("a critical task has stopped; withholding the watchdog ping")
            await asyncio.sleep(interval)

    def _healthy(self) -> bool:
        return self.link.alive() and not any(task.done() for task in self.tasks.values())

    async def _stop_when_asked(self) -> None:
        await self.stop_requested.wait()
        sdnotify.stopping()
        log.info("stopping: finishing the jobs in hand")
        self.intake.accepting = False
        deadline = time.monotonic() + self.config.service.drain_timeout_s
        for worker in self.workers.values():
            worker.stop()
        workers = [task for name, task in self.tasks.items() if name.startswith("worker:")]
        if workers:
            await asyncio.wait(workers, timeout=max(0.0, deadline - time.monotonic()))
        with contextlib.suppress(Exception):
            self._record_offline()
        if not await self.publisher.drain(max(0.1, deadline - time.monotonic())):
            log.warning("stopping with unconfirmed messages; they go out at the next start")
        for task in [*self.tasks.values(), self.watcher]:
            task.cancel()
        with contextlib.suppress(Exception):
            self.link.stop()


async def serve(config: Config, plugins: tuple[Plugin, ...]) -> None:
    await Service(config, plugins).run()
