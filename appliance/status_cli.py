"""``keybridge status``: the running service's own view when it runs, else the last state the
store kept, said to be old, with its age. Never needs a secret; while the service runs, a
member of the ``keybridge`` group needs no access to the store either.

Exit codes: 0 the service runs, 1 it does not (the stored view follows), 2 configuration.
"""

import argparse
import datetime
import json
import time
from collections.abc import Callable
from typing import Any

from appliance import registry
from appliance.config import Config
from appliance.control import client, views, wire

WATCH_EVERY_S = 2.0
CLEAR = "\033[H\033[J"


def add_parser(commands: Any, config_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    status = commands.add_parser("status", help="the service, broker, backends, queues, last "
                                 "reconciliation: live when it runs")
    config_arg(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--watch", action="store_true",
                        help="refresh every %d s until Ctrl-C" % WATCH_EVERY_S)
    status.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    config = registry.load_config(args.config, secrets=False)
    try:
        while True:
            report = gather(config)
            text = json.dumps(report, indent=2) if args.json else "\n".join(lines(report))
            print((CLEAR if args.watch else "") + text, flush=True)
            if not args.watch:
                return 0 if report["running"] else 1
            time.sleep(WATCH_EVERY_S)
    except KeyboardInterrupt:  # Ctrl-C is how --watch ends, wherever it lands
        if not args.watch:
            raise
        return 0


def gather(config: Config) -> dict[str, Any]:
    """The live view (None when the service does not answer) and the store's."""
    socket_path, live, why = config.service.control_socket, None, ""
    try:
        live = client.ask(socket_path, "status", timeout_s=10)
    except wire.NotRunning:
        why = "NOT RUNNING (nothing answers at %s)" % socket_path
    except wire.ControlError as err:
        why = "not reachable: %s" % err
    stored = views.view(config, "summary") if live is not None else views.local(
        config, "summary")
    return {"site": config.site.id, "running": live is not None, "not_running": why or None,
            "live": live, **stored}


def lines(report: dict[str, Any]) -> list[str]:
    live = report["live"]
    if live is not None:
        out = ["site %s — keybridge %s RUNNING (pid %s) since %s" % (
            report["site"], live["version"], live["pid"], live["since"]),
            "  broker   %s %s%s" % (live["broker"]["address"], "connected" if live["broker"]
                                    ["connected"] else "NOT CONNECTED",
                                    _error(live["broker"]["last_error"]))]
        backends = live["backends"]
    else:
        snapshot = report["service"] or {}
        out = ["site %s — the service is %s" % (report["site"], report["not_running"]),
               "  its last record%s: %s%s" % (_age(report["recorded_at"]),
                                               snapshot.get("state", "never"), _unclean(snapshot))]
        backends = snapshot.get("backends") or {}
    for name, backend in backends.items():
        out.append("  %-8s %s since %s%s" % (name, "up" if backend["up"] else "DOWN",
                                            backend["since"], _error(backend["last_error"])))
    jobs = ", ".join("%s %d" % item for item in sorted(report["jobs"].items())) or "none"
    out.append("  jobs waiting: %s   outbox: %d   (keybridge jobs lists them)"
               % (jobs, report["outbox"]))
    out += ["  last job error (%s): %s" % item for item in report["last_errors"].items()]
    out.append("  last reconciliation: %s" % last_reconciliation(report["last_reconciliation"]))
    if live is not None:
        store = live["store"]
        out.append("  store    %s, %.1f MB%s" % (store["path"], store["bytes"] / 1e6, "" if store[
            "writable"] else ", REFUSES WRITES since %s: %s (commands are answered "
            "store_unavailable; free space or fix its permissions)" % (
                store["since"], store["last_error"])))
    return out


def last_reconciliation(last: dict[str, Any] | None) -> str:
    if last is None:
        return "never"
    unasked = sorted(last.get("errors") or {})
    if unasked:  # never "0 discrepancies" for a backend nobody could ask
        return "%s, INCOMPLETE: %s could not be asked; %d discrepancies in the rest%s" % (
            last["at"], ", ".join(unasked), last["discrepancies"],
            ", repaired" if last["repaired"] else "")
    return "%s, %d discrepancies%s" % (last["at"], last["discrepancies"],
                                       ", repaired" if last["repaired"] else "")


def _error(text: str | None) -> str:
    return "  last error: %s" % text if text else ""


def _unclean(snapshot: dict[str, Any]) -> str:
    if snapshot.get("state") == "taken_over":
        return (" — it stopped because %s: another appliance uses this site's client id; "
                "the journal says what to do (journalctl -u keybridge)" % snapshot.get("reason"))
    if snapshot.get("state") == "online":
        return " — it did not stop cleanly (killed, crashed or the power went); " \
               "systemctl status keybridge says more"
    return ""


def _age(recorded_at: str | None) -> str:
    if not recorded_at:
        return ""
    moment = datetime.datetime.fromisoformat(recorded_at)
    seconds = (datetime.datetime.now(datetime.UTC) - moment).total_seconds()
    return " (%s, %s ago)" % (recorded_at, _duration(seconds))


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return "%d %s" % (seconds // size, unit)
    return "%d s" % max(0, seconds)
