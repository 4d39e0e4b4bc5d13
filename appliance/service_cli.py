"""The technician's service commands: init, run, config check, status, keys, audit,
reconcile, test-connection, rotate-key.

Exit codes: 0 fine, 1 something to look at (a failed check), 2 configuration or usage.
"""

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from appliance import doctor, jobs_cli, logs, reconcile_report, registry, status_cli
from appliance.config import Config, load_store, modes
from appliance.control import client, wire
from appliance.control import views as control_views
from appliance.engine.reconcile import Reconciliation
from appliance.errors import ConfigError, KeybridgeError, SessionTakenOver, StoreError
from appliance.store import KeyRow, Store, open_store, views
from appliance.store.secrets import Keyring, create_key_file, rotate_key_file

DEFAULT_CONFIG = "/etc/keybridge/keybridge.toml"


def _load(path: str, secrets: bool = True) -> Config:
    return registry.load_config(path, secrets=secrets)


def store_only(path: str) -> Config:
    """For commands that read or write only the store: no secret file is needed, so they
    work from a shell that cannot read the service's systemd credentials."""
    return _load(path, secrets=False)


def cmd_config_check(args: argparse.Namespace) -> int:
    path = args.file or args.config
    config = _load(path)
    if problems := modes.key_files(config):
        raise ConfigError(problems)
    print("%s: OK — site %s (%s), broker %s:%d (MQTT %s%s), backends: %s" % (
        path, config.site.id, config.site.timezone, config.mqtt.host, config.mqtt.port,
        config.mqtt.protocol, ", TLS" if config.mqtt.tls else "",
        ", ".join(config.backends()) or "none"))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    settings = load_store(args.config)  # [store] only: the rest may still be unfilled
    for path in (settings.key_file, settings.path):
        folder = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        except OSError as err:
            raise StoreError("cannot create %s (%s); create it for the keybridge user, or set "
                             "[store] in %s" % (folder, err.strerror, args.config)) from err
    created = create_key_file(settings.key_file)
    print("%s %s (mode 0600)" % ("created" if created else "kept the existing key file",
                                 settings.key_file))
    with Store(settings.path, Keyring(settings.key_file)):
        pass
    print("store ready: %s" % settings.path)
    try:
        store_only(args.config)
    except ConfigError as err:  # the package's fresh conffile: said, not refused
        print("%s is not ready for the service yet (%d problems, the first: %s); fix them, "
              "then keybridge config check" % (args.config, len(err.problems),
                                               err.problems[0]))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    logs.setup(args.log_level or config.service.log_level)
    from appliance.service import serve
    asyncio.run(serve(config, registry.PLUGINS))
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    config = store_only(args.config)
    if args.reveal:  # decrypts: the store and its key file, never through the service
        with open_store(config) as store:
            keys = [views.key_entry(key, _secret(store, key))
                    for key in store.read.keys.listing(args.booking, args.all)]
    else:
        keys = control_views.view(config, "keys", booking=args.booking, all=args.all)
    if args.json:
        print(json.dumps(keys, indent=2))
    elif not keys:
        print("no %skeys%s" % ("" if args.all else "live ", " of booking %s" % args.booking
                                if args.booking else "") + ("" if args.all else
                                                            " (--all shows revoked ones)"))
    for key in [] if args.json else keys:
        print("%(id)s %(backend)-6s %(key_type)-10s %(state)-9s %(holder)-14s %(units)s "
              "%(valid_from)s → %(valid_until)s  secret: %(secret)s" % key)
    return 0


def _secret(store: Store, key: KeyRow) -> str | None:
    found = store.read.keys.secret(key.id) if key.has_secret else None
    return None if found is None else found.decode()


def cmd_audit(args: argparse.Namespace) -> int:
    entries = control_views.view(store_only(args.config), "audit", booking=args.booking,
                                 limit=args.limit)
    return _print_entries(entries, args.json, "%(at)s %(action)-13s %(backend)-6s "
                          "key=%(key_id)s external=%(external_id)s booking=%(booking_id)s "
                          "trigger=%(trigger)s %(detail)s", empty="the audit log is empty")


def cmd_integration_log(args: argparse.Namespace) -> int:
    entries = control_views.view(store_only(args.config), "integration_log",
                                 backend=args.backend, limit=args.limit)
    return _print_entries(entries, args.json, "%(at)s %(backend)-11s %(kind)-11s "
                          "key=%(key_id)s %(message)s", empty="the integration log is empty")


def _print_entries(entries: list[dict[str, Any]], as_json: bool, line: str,
                   empty: str | None = None) -> int:
    """A log's newest entries: JSON for a script, else one ``line`` each (or ``empty``)."""
    if as_json:
        print(json.dumps(entries, indent=2))
    elif entries:
        for entry in entries:
            print(line % entry)
    elif empty:
        print(empty)
    return 0


RECONCILE_TIMEOUT_S = 3600.0
"""As long as the nightly unit lets it run: KS takes minutes on a large site."""


def cmd_reconcile(args: argparse.Namespace) -> int:
    logs.setup("error")  # a backend that cannot be asked is reported below, once
    config = store_only(args.config)
    repair = args.repair or config.service.auto_repair
    try:  # the service's own links: Space takes one PMS connection, and it holds it
        answer = client.ask(config.service.control_socket, "reconcile",
                            timeout_s=RECONCILE_TIMEOUT_S, repair=repair,
                            operator=client.operator())
        result = Reconciliation(answer["summary"], answer["found"])
    except wire.NotRunning:
        config = _load(args.config)  # the KS secrets, to ask KS from here
        with open_store(config) as store:
            result = asyncio.run(_reconcile(config, store, repair))
    except wire.ControlError as err:
        print("keybridge reconcile: %s" % err, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"summary": result.summary, "discrepancies": result.found}, indent=2))
    else:
        reconcile_report.show(result, repair)
    return 1 if result.summary["errors"] or (result.summary["discrepancies"]
                                             and not repair) else 0


async def _reconcile(config: Config, store: Store, repair: bool) -> Reconciliation:
    """Backends are read here; repairs are jobs the running service carries out."""
    from appliance.engine.plugin import build_backends
    from appliance.engine.reconcile import reconcile
    backends = build_backends(registry.PLUGINS, config)
    try:
        for backend in backends.values():
            await backend.start()  # Space's link; nobody else holds it while stopped
        return await reconcile(store, config.root, backends, repair, "keybridge reconcile")
    finally:
        for backend in backends.values():
            await backend.close()


def cmd_rotate_key(args: argparse.Namespace) -> int:
    config = store_only(args.config)
    rotate_key_file(config.store.key_file)
    keyring = Keyring(config.store.key_file)
    with Store(config.store.path, keyring) as store:
        count = store.reencrypt()
    print("new key in %s; %d secrets re-encrypted" % (config.store.key_file, count))
    return 0


def cmd_test_connection(args: argparse.Namespace) -> int:
    from appliance import checks
    config, unread = checks.load(args.config)  # those secrets: through the running service
    logs.setup("error")  # the checks' own lines say it all; the link's log would repeat it
    results = asyncio.run(checks.run_checks(config, args.backend,
                                            checks.unreadable_sections(unread)))
    for name, ok, detail in results:
        print("%-7s %s  %s" % (name, "OK  " if ok else "FAIL", detail))
    return 0 if all(ok for _name, ok, _detail in results) else 1


def add_parsers(commands: Any) -> None:
    def config_arg(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--config", default=DEFAULT_CONFIG,
                            help="the configuration file (default %s)" % DEFAULT_CONFIG)

    init = commands.add_parser("init", help="create the key file (0600) and the store")
    config_arg(init)
    init.set_defaults(func=cmd_init)
    run = commands.add_parser("run", help="run the appliance (systemd starts this)")
    config_arg(run)
    run.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                     help="overrides [service] log_level for this run")
    run.set_defaults(func=cmd_run)
    conf = commands.add_parser("config", help="configuration tools")
    conf_tools = conf.add_subparsers(dest="tool", required=True)
    check = conf_tools.add_parser("check", help="validate a configuration file")
    check.add_argument("file", nargs="?", help="the file (or --config FILE)")
    config_arg(check)
    check.set_defaults(func=cmd_config_check)
    status_cli.add_parser(commands, config_arg)
    jobs_cli.add_parser(commands, config_arg)
    doctor.add_parser(commands, config_arg)
    keys = commands.add_parser("keys", help="the keys the appliance knows")
    config_arg(keys)
    keys.add_argument("--booking", help="only this booking's keys")
    keys.add_argument("--all", action="store_true", help="include revoked keys")
    keys.add_argument("--reveal", action="store_true", help="show PINs and card data")
    keys.add_argument("--json", action="store_true", help="machine-readable output")
    keys.set_defaults(func=cmd_keys)
    audit = commands.add_parser("audit", help="keys minted and revoked, newest last")
    config_arg(audit)
    audit.add_argument("--booking", help="only this booking's rows")
    audit.add_argument("--limit", type=int, default=50, help="the newest N rows (default 50)")
    audit.add_argument("--json", action="store_true", help="machine-readable output")
    audit.set_defaults(func=cmd_audit)
    integ = commands.add_parser("integration-log", help="failures and discrepancies met with "
                                "the backends, newest last")
    config_arg(integ)
    integ.add_argument("--backend", help="only this backend's rows (space, space:NAME, ks)")
    integ.add_argument("--limit", type=int, default=50, help="the newest N rows (default 50)")
    integ.add_argument("--json", action="store_true", help="machine-readable output")
    integ.set_defaults(func=cmd_integration_log)
    rec = commands.add_parser("reconcile", help="compare known keys with what should exist")
    config_arg(rec)
    rec.add_argument("--repair", action="store_true", help="queue the fixes")
    rec.add_argument("--json", action="store_true", help="machine-readable output")
    rec.set_defaults(func=cmd_reconcile)
    test = commands.add_parser("test-connection", help="check broker, store and backends")
    config_arg(test)
    test.add_argument("--backend", choices=("space", "ks", "all"), default="all",
                      help="check only this backend (default: all)")
    test.set_defaults(func=cmd_test_connection)
    rotate = commands.add_parser("rotate-key", help="new encryption key, secrets re-encrypted")
    config_arg(rotate)
    rotate.set_defaults(func=cmd_rotate_key)


def report_error(err: KeybridgeError) -> int:
    if isinstance(err, ConfigError):
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return 2
    print("keybridge: %s" % err, file=sys.stderr)
    return SessionTakenOver.EXIT_STATUS if isinstance(err, SessionTakenOver) else 1
