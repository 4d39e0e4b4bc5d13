"""``keybridge space ...``: the technician's commands against a Space server.

    keybridge space ping --server 192.168.1.20:8090
    keybridge space encode --encoder "Online Encoder 1" --room "Pitch 12" \\
        --from 2026-07-01T14:00 --until 2026-07-04T11:00 --count 2
    keybridge space copy | read | checkout | mobile | audit | survey ...

The server comes from ``--server``, or from the config file: ``[space]``, or the
``[space.administrations.NAME]`` that ``--administration`` names (any valid
keybridge.toml will do). Output is readable, or JSON with ``--json``. Exit codes: 0 done,
1 Space refused (its meaning and a hint are printed), 2 bad usage or
configuration, 3 Space unreachable, 4 Space broke the protocol.
"""

import argparse
import asyncio
import datetime
import json
import sys
import tomllib
from typing import Any

from appliance import logs, registry, space_survey
from appliance.config.schema import Problems
from appliance.control import client, wire
from appliance.errors import KeybridgeError
from appliance.space import SpaceClient, SpaceCommands, SpaceSettings, tools
from appliance.space import errors as e
from appliance.space.admins import administrations
from appliance.space.settings import MAIN, config_table

DEFAULT_CONFIG = "/etc/keybridge/keybridge.toml"
EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_PROTOCOL = 1, 2, 3, 4


def add_parser(commands: Any) -> None:
    space = commands.add_parser("space", help="talk to a ProAccess Space server",
                                description="the technician's commands against a Space "
                                "server: through the running service when it runs, else "
                                "directly")
    verbs = space.add_subparsers(dest="verb", required=True)
    common = _common()
    verbs.add_parser("ping", parents=[common], help="is Space there and ready? (ENQ)")
    _cards(verbs, common)
    checkout = verbs.add_parser("checkout", parents=[common], help="check a room out (CO)")
    checkout.add_argument("--room", required=True, help="the room's name in Space")
    _mobile(verbs.add_parser("mobile", parents=[common], help="send a JustIN Mobile key (CNM)"))
    audit = verbs.add_parser("audit", parents=[common], help="a door's audit trail (WF/WN)")
    audit.add_argument("--door", required=True, help="the door's name in Space")
    space_survey.add_arguments(verbs.add_parser(
        "survey", parents=[common], help="ask Space what the protocol notes leave open, "
        "record the transcript (read-only unless --allow-writes)"))
    space.set_defaults(func=run)


def _common() -> argparse.ArgumentParser:
    """The options every verb takes: where Space is, and how to answer."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=DEFAULT_CONFIG, help="keybridge TOML file")
    common.add_argument("--server", help="HOST:PORT or serial:PATH (overrides the config)")
    common.add_argument("--administration", metavar="NAME",
                        help="a [space.administrations.NAME] of the config (default: [space])")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--card-wait", type=float, metavar="SECONDS",
                        help="how long a person may take to place a card")
    return common


def _cards(verbs: Any, common: argparse.ArgumentParser) -> None:
    """The verbs at an encoder: cut new cards, cut copies, read a card."""
    for verb, text in (("encode", "cut new guest cards (CN)"), ("copy", "cut copies (CC)")):
        sub = verbs.add_parser(verb, parents=[common], help=text)
        _encoder(sub)
        _stay(sub)
        sub.add_argument("--count", type=int, default=1, help="cards to cut, 1-10")
        sub.add_argument("--auth", type=int, action="append", default=[],
                         help="a PMS authorization (1-62) to grant; repeat for more")
    _encoder(verbs.add_parser("read", parents=[common], help="read the card on an encoder (LT)"))


def _mobile(mobile: argparse.ArgumentParser) -> None:
    mobile.add_argument("--phone", required=True, help="international format, e.g. +316...")
    _stay(mobile)
    mobile.add_argument("--copy", action="store_true", help="an extra key (CCM)")
    mobile.add_argument("--message", default="", help="text shown on the phone")
    mobile.add_argument("--binary", action="store_true", help="make a key and get its data "
                        "back for the PMS's own app instead (CNMB; CCMB with --copy); needs "
                        "--reveal (prints the key data) or --json (key_hex only with "
                        "--reveal): Space hands the data out once")
    mobile.add_argument("--reveal", action="store_true",
                        help="with --binary: print the key data, a secret")


def _encoder(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--encoder", required=True, help="the encoder's name in Space")


def _stay(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--room", required=True, action="append",
                        help="room name; repeat for up to 4 (the first is the main room)")
    parser.add_argument("--from", dest="valid_from", type=_local_time,
                        help="start, local time: 2026-07-01T14:00")
    parser.add_argument("--until", dest="valid_until", type=_local_time,
                        help="end, local time: 2026-07-04T11:00")


def _local_time(text: str) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a local time like 2026-07-01T14:00" % text
                                         ) from None


def settings_for(args: argparse.Namespace) -> SpaceSettings:
    """The administration's settings from the config file (``[space]`` itself unless
    ``--administration`` names another), with ``--server`` and ``--card-wait`` on top."""
    settings = SpaceSettings(connection="per_request", connect_budget_s=0.0)
    try:
        with open(args.config, "rb") as handle:
            data = tomllib.load(handle)
        if "space" in data or args.administration:
            settings = _administration(data, args).replace(connection="per_request",
                                                           connect_budget_s=0.0)
    except FileNotFoundError:
        if not args.server:
            raise e.SpaceConfigError("%s does not exist: give --server HOST:PORT, or "
                                     "--config with a [space] table" % args.config) from None
    except tomllib.TOMLDecodeError as err:
        raise e.SpaceConfigError("%s: not valid TOML: %s" % (args.config, err)) from err
    if args.server:
        settings = settings.replace(server=args.server)
    if args.card_wait is not None:
        settings = settings.replace(card_wait_s=args.card_wait)
    settings.transport()  # check the server's form now
    return settings


def _administration(data: dict[str, Any], args: argparse.Namespace) -> SpaceSettings:
    """One administration of a whole keybridge.toml: its rules and other tables are the
    service's business, not a concern of a ping."""
    problems = Problems(args.config)
    zone = str(data.get("site", {}).get("timezone") or "UTC")
    admins, _rules = administrations(data.get("space"), args.config, zone, problems)
    wanted = args.administration or MAIN
    found = [admin for admin in admins if admin.id == wanted]
    mine = config_table(wanted)
    link = [item for item in problems.items if mine in item]
    if link or not found:
        names = ", ".join(admin.id for admin in admins) or "none"
        raise e.SpaceConfigError("\n".join(link) or "%s: no administration %r (the "
                                 "administrations are %s)" % (args.config, wanted, names))
    return found[0].settings


ARGUMENTS = ("encoder", "room", "valid_from", "valid_until", "count", "auth", "phone", "copy",
             "message", "binary", "door")
"""What a verb may take from the command line, handed to ``space/tools.py`` as is."""


def run(args: argparse.Namespace) -> int:
    if args.verb == "survey":
        try:
            return space_survey.main(args, settings_for(args), _service(args))
        except (e.SpaceConfigError, ValueError, OSError) as err:
            return _fail(args, EXIT_USAGE, "usage", str(err))
    logs.setup("error")  # what went wrong is said once, below, not also as the link's log
    try:
        _check(args)
        socket = _service(args)
        if socket is not None:
            try:
                return _through_service(args, socket)
            except wire.NotRunning:
                pass  # then this command asks Space itself
        settings = settings_for(args)
        result = wire.plain(asyncio.run(_ask(settings, args)))
    except (e.SpaceConfigError, e.SpaceRequestError, ValueError) as err:
        return _fail(args, EXIT_USAGE, "usage", str(err))
    except e.SpaceRefused as err:
        return _fail(args, EXIT_REFUSED, err.code, str(err), hint=err.hint, meaning=err.meaning)
    except e.SpaceUnavailable as err:
        return _fail(args, EXIT_UNAVAILABLE, "unavailable", _unavailable(args.verb, str(err)))
    except e.SpaceProtocolError as err:
        return _fail(args, EXIT_PROTOCOL, "protocol", str(err))
    _print(args, result)
    return 0


def _check(args: argparse.Namespace) -> None:
    """Options that contradict each other, named before Space is asked."""
    if getattr(args, "binary", False) and args.message:
        raise ValueError("--message: a binary key (CNMB/CCMB) carries no text for the phone; "
                         "leave out --message, or --binary")
    if getattr(args, "reveal", False) and not args.binary:
        raise ValueError("--reveal: only a binary key has key data to print; add --binary")
    if getattr(args, "binary", False) and not (args.reveal or args.json):
        raise ValueError("--binary: Space makes a real key and hands its data out only "
                         "once; add --reveal to print the key data, or --json for its "
                         "installation id alone (nothing was asked of Space)")


def _service(args: argparse.Namespace) -> str | None:
    """The running service's control socket, where this command should go through it: the
    service holds Space's one PMS connection. Not with --server (that server, asked here)."""
    if args.server:
        return None
    try:
        return registry.load_config(args.config, secrets=False).service.control_socket
    except KeybridgeError:
        return None  # not a keybridge.toml: a [space]-only file is asked directly


def _through_service(args: argparse.Namespace, socket: str) -> int:
    backend = "space" if not args.administration else "space:%s" % args.administration
    try:
        result = client.ask(socket, "backend", backend=backend, verb=args.verb,
                            args=wire.plain(_arguments(args)),
                            operator=client.operator())
    except wire.ControlRefused as err:
        code = str(err.details.get("code", ""))
        if code == "backend_unavailable":
            return _fail(args, EXIT_UNAVAILABLE, "unavailable", _unavailable(args.verb,
                                                                             str(err)))
        if code in ("usage", "backend_not_configured"):
            return _fail(args, EXIT_USAGE, "usage", str(err))
        if code in ("backend_error", "internal_error", ""):
            return _fail(args, EXIT_PROTOCOL, "protocol", str(err))
        return _fail(args, EXIT_REFUSED, code, str(err), hint=str(err.details.get("hint")))
    except wire.NotRunning:
        raise  # the caller asks Space itself
    except wire.ControlError as err:
        return _fail(args, EXIT_UNAVAILABLE, "unavailable", str(err))
    _print(args, result)
    return 0


def _unavailable(verb: str, message: str) -> str:
    """A request that changes nothing (a ping) need not warn that it may have run; every
    one says what to check."""
    if verb in tools.HARMLESS:
        for warning in (" Space may have carried the request out", "; Space may have carried "
                        "it out"):
            message = message.split(warning)[0]
    return message.rstrip(".") + ("; check that ProAccess Space runs and takes PMS "
                                  "connections at that address ([space] server or --server)")


def _arguments(args: argparse.Namespace) -> dict[str, Any]:
    """What the verb takes from the command line, for space/tools.py here or in the service."""
    return {name: getattr(args, name) for name in ARGUMENTS if hasattr(args, name)}


async def _ask(settings: SpaceSettings, args: argparse.Namespace) -> Any:
    async with SpaceClient(settings) as client_:
        return await tools.run(SpaceCommands(client_), args.verb, _arguments(args))


def _fail(args: argparse.Namespace, code: str | int, kind: str, message: str,
          **extra: str) -> int:
    exit_code, error_code = (code, kind) if isinstance(code, int) else (EXIT_REFUSED, code)
    if args.json:
        print(json.dumps({"ok": False, "error": {"code": error_code, "message": message,
                                                 **extra}}))
    else:
        print("keybridge space %s: %s" % (args.verb, message), file=sys.stderr)
    return exit_code


def _print(args: argparse.Namespace, result: Any) -> None:
    result = _hidden(args, result)
    if args.json:
        print(json.dumps({"ok": True, "result": result}))
    else:
        print(describe(args.verb, result))


def _hidden(args: argparse.Namespace, result: Any) -> Any:
    """A binary key's data is a secret: in --json output (a script's log) only when asked
    for with --reveal; otherwise its size says that it came. On the screen, --binary needs
    --reveal (``_check``)."""
    if not (isinstance(result, dict) and result.get("key_hex")) or getattr(args, "reveal",
                                                                             False):
        return result
    return result | {"key_hex": None, "key_bytes": len(result["key_hex"]) // 2}


def describe(verb: str, result: Any) -> str:
    """One readable answer per verb, for the person at the terminal (``result`` as JSON has
    it, whether Space was asked here or through the service)."""
    if verb == "ping":
        return "Space is ready" if result else "Space is busy (answered NAK)"
    if verb == "checkout":
        return "checked out"
    if verb == "audit":
        lines = ["%(date)s %(time)s  %(incident)-14s %(direction)-3s %(card)s %(copy)s %(user)s"
                 % entry for entry in result]
        return "\n".join(lines) if lines else "the audit trail is empty"
    return "\n".join("%s: %s" % (key, _show(value)) for key, value in result.items()
                     if value not in ("", [], None))


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
