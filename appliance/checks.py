"""``keybridge test-connection``: each part checked on its own, with a reason to act on.

Each check returns (name, ok, detail). The broker check connects with the configured client
identity under a suffixed client id, so it never takes over the running service's session.

Secrets this shell cannot read (the service's systemd credentials, ``unread`` sections) are
not needed: what they guard is checked through the running service, which holds them, and
said not to be checkable when it does not run.
"""

import asyncio
import re
import ssl
import threading
from collections.abc import Collection
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from appliance import registry
from appliance.bridge.mqtt import identify
from appliance.config import Config
from appliance.control import client as control
from appliance.control import wire
from appliance.errors import ConfigError, KeybridgeError
from appliance.ks import config as ks_config
from appliance.space import SpaceClient, SpaceCommands, siteconf
from appliance.space.errors import SpaceError
from appliance.space.settings import Administration
from appliance.store import open_store

Result = tuple[str, bool, str]
BROKER_TIMEOUT_S = 10.0


async def run_checks(config: Config, backend: str = "all",
                     unread: Collection[str] = ()) -> list[Result]:
    """The store, the broker and ``backend`` ("all": every one configured; one named but
    not configured is a failure); ``unread``: sections whose secrets cannot be read here."""
    live = await asyncio.to_thread(_live, config.service.control_socket)
    broker = (_broker_through(config, live) if "mqtt" in unread
              else await asyncio.to_thread(_broker, config))
    results = [_store(config, live), broker]
    if backend in ("all", "space"):
        admins = siteconf.of(config).administrations
        if not admins and backend == "space":
            results.append(("space", False, "no [space] section: ProAccess Space is not "
                            "configured"))
        for admin in admins:
            results.append(await _space(admin, config.service.control_socket))
    if backend in ("all", "ks") and (backend == "ks" or ks_config.of(config) is not None):
        results.append(await _ks_through(config) if "ks" in unread else await _ks(config))
    return results


UNREADABLE_CREDENTIAL = "if it is a systemd credential"
"""Part of the problem the configuration reports for a secret file it cannot read."""


def load(path: str) -> tuple[Config, list[str]]:
    """The configuration and the problems that are only secrets this shell cannot read
    (systemd credentials): the rest can be checked; any other problem is a ConfigError."""
    try:
        return registry.load_config(path), []
    except ConfigError as err:
        unread = [problem for problem in err.problems if UNREADABLE_CREDENTIAL in problem]
        if len(unread) < len(err.problems):
            raise
    return registry.load_config(path, secrets=False), unread


def unreadable_sections(problems: Collection[str]) -> set[str]:
    """``mqtt``, ``ks``...: the sections named by problems that are only unreadable secrets."""
    return {found.group(1) for problem in problems
            if (found := re.search(r"\[(\w+)[\].]", problem))}


def _live(socket: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = control.ask(socket, "status", timeout_s=10)
    except wire.ControlError:
        return None
    return found


def _store(config: Config, live: dict[str, Any] | None) -> Result:
    """Opened, checked and its key file used here; else as the running service sees it
    (a member of the keybridge group may read neither)."""
    try:
        with open_store(config) as store:
            store.decrypt(store.encrypt(b"check"))
    except KeybridgeError as err:
        if live is None:
            return ("store", False, str(err))
        seen = live["store"]
        return ("store", bool(seen["writable"]), "%s %s (through the running service; not "
                "readable here)" % (seen["path"], "takes writes" if seen["writable"] else
                                    "REFUSES WRITES: %s" % seen["last_error"]))
    return ("store", True, config.store.path)


def _broker_through(config: Config, live: dict[str, Any] | None) -> Result:
    where = "%s:%d" % (config.mqtt.host, config.mqtt.port)
    if live is None:
        return ("broker", False, "%s not checked: its secrets cannot be read here and the "
                "service does not run; run it the way the service does (systemd/README.md)"
                % where)
    broker = live["broker"]
    if broker["connected"]:
        return ("broker", True, "%s connected (through the running service)"
                % broker["address"])
    return ("broker", False, "%s NOT CONNECTED (through the running service): %s"
            % (broker["address"], broker["last_error"] or "no error recorded"))


def _broker(config: Config) -> Result:
    """CONNECT with the configured identity; "auto" as the service does: 5, else 3.1.1."""
    settings = config.mqtt
    where = "%s:%d" % (settings.host, settings.port)
    versions = ["3.1.1"] if settings.protocol == "3.1.1" else ["5"]
    if settings.protocol == "auto":
        versions.append("3.1.1")
    for version in versions:
        answer = _connect(settings, version)
        if answer == "Success":
            return ("broker", True, "%s (MQTT %s)" % (where, version))
        if answer.startswith("cannot reach"):
            return ("broker", False, "%s: %s" % (where, answer))
        if version == "5" and len(versions) > 1 and answer in ("", "Unsupported protocol "
                                                                   "version"):
            continue  # a broker of 3.1.1 only: the service falls back the same way
        if not answer:
            return ("broker", False, "%s accepted TCP but never answered CONNECT" % where)
        return ("broker", False, "%s refused: %s (check username, password_file, "
                "certificates)" % (where, answer))
    return ("broker", False, "%s answered neither MQTT 5 nor 3.1.1" % where)


def _connect(settings: Any, version: str) -> str:
    """The broker's CONNACK reason, "" for no answer, or "cannot reach: ..."."""
    done = threading.Event()
    outcome: list[str] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, settings.client_id + "-check",
                         protocol=paho.MQTTv5 if version == "5" else paho.MQTTv311)
    identify(client, settings)

    def on_connect(client: paho.Client, userdata: object, flags: object, reason: object,
                   properties: object) -> None:
        outcome.append(str(reason))
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(settings.host, settings.port, settings.keepalive_s)
    except (OSError, ssl.SSLError) as err:
        return "cannot reach it: %s" % err
    client.loop_start()
    try:
        done.wait(BROKER_TIMEOUT_S)
    finally:
        client.disconnect()
        client.loop_stop()
    return outcome[0] if outcome else ""


async def _space(admin: Administration, socket: str = "") -> Result:
    """Through the running service's link when it runs (Space takes one PMS connection and
    the service holds it), else directly."""
    server = admin.settings.server
    if socket:
        try:
            ready = await asyncio.to_thread(control.ask, socket, "backend", 30.0,
                                            backend=admin.backend, verb="ping",
                                            operator=control.operator())
        except wire.NotRunning:
            pass
        except wire.ControlError as err:
            return (admin.backend, False, "%s (asked through the running service): %s"
                    % (server, err))
        else:
            return (admin.backend, True, "%s answered %s (through the running service)"
                    % (server, "ready" if ready else "busy"))
    settings = admin.settings.replace(connection="per_request",
                                      connect_budget_s=admin.settings.connect_timeout_s)
    try:
        async with SpaceClient(settings) as client:
            ready = await SpaceCommands(client).ping()
    except SpaceError as err:
        return (admin.backend, False, "%s: %s" % (server, err))
    return (admin.backend, True, "%s answered %s" % (server, "ready" if ready else "busy"))


async def _ks_through(config: Config) -> Result:
    """KS's secrets are the service's: it asks KS itself."""
    try:
        found = await asyncio.to_thread(control.ask, config.service.control_socket, "backend",
                                        60.0, backend="ks", verb="test_connection",
                                        operator=control.operator())
    except wire.NotRunning:
        return ("ks", False, "not checked: its secrets cannot be read here and the service "
                "does not run; run it the way the service does (systemd/README.md)")
    except wire.ControlError as err:
        hint = err.details.get("hint") if isinstance(err, wire.ControlRefused) else ""
        return ("ks", False, "%s (through the running service)%s" % (
            err, " (%s)" % hint if hint else ""))
    return ("ks", True, _ks_found(found) + " (through the running service)")


async def _ks(config: Config) -> Result:
    if ks_config.of(config) is None:
        return ("ks", False, "no [ks] section: Salto KS is not configured on this appliance")
    from appliance.engine.backend import BackendFailure
    from appliance.ks.backend import KsBackend
    backend = KsBackend(config)
    try:
        found = await backend.guarded(backend.test_connection())
    except BackendFailure as failure:
        return ("ks", False, "%s (%s)" % (failure.message, failure.hint) if failure.hint
                else failure.message)
    finally:
        await backend.close()
    return ("ks", True, _ks_found(found))


def _ks_found(found: dict[str, Any]) -> str:
    seats = found["seats"]
    return "site %s (%s) at %s, %d locks, %s of %s seats used" % (
        found["site"], found["time_zone"], found.get("api_url", "?"), found["locks"],
        seats["used"], seats["limit"])
