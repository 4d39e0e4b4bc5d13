"""The keybridge command line: the appliance, its store and its Salto links.

    keybridge config check /etc/keybridge/keybridge.toml
    keybridge init | run | status | keys | audit | reconcile | test-connection | rotate-key
    keybridge protocol encode '|CN|Online Encoder 1|R|Room 1|'
    keybridge protocol decode '02 b3 43 4e ... 03 8b'
    keybridge space ping --server 192.168.1.20:8090
"""

import argparse
import json
import os
import sys
from collections.abc import Sequence

import protocol
from appliance import __version__, service_cli, space_cli
from appliance.errors import KeybridgeError

EXIT_BROKEN_PIPE = 141
"""What a shell reports for a command ended by SIGPIPE (128 + 13)."""


def parse_readable(text: str) -> list[bytes]:
    """Fields from the readable form ``|CN|Encoder 1|``; ``\\xNN`` is one byte.

    Raises:
        ValueError: the text is not ASCII or has a broken ``\\x`` escape.
    """
    body = text.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|"):
        body = body[:-1]
    return [_unescape(part) for part in body.split("|")]


def _unescape(part: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(part):
        if part.startswith("\\x", i):
            out.append(int(part[i + 2 : i + 4], 16))
            i += 4
        else:
            out.extend(part[i].encode("ascii"))
            i += 1
    return bytes(out)


def _describe(item: object, direction: str) -> dict[str, object]:
    if isinstance(item, protocol.Control):
        names = {protocol.ENQ: "ENQ", protocol.ACK: "ACK", protocol.NAK: "NAK"}
        return {"control": names[item.byte]}
    if isinstance(item, protocol.BadFrame):
        return {"bad_frame": item.reason, "hex": item.data.hex(" ")}
    assert isinstance(item, protocol.Frame)
    out: dict[str, object] = {"frame": protocol.readable(item.fields)}
    decode = protocol.decode_request if direction == "request" else protocol.decode_reply
    try:
        out["message"] = repr(decode(item.fields))
    except protocol.MalformedMessage as err:
        out["error"] = str(err)
    return out


def cmd_encode(args: argparse.Namespace) -> int:
    fields = parse_readable(args.fields)
    frame = protocol.encode_frame(fields, lrc_skip=args.lrc_skip)
    print(frame.hex(" "))
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    data = bytes.fromhex("".join(args.hex))
    items = [_describe(i, args.direction) for i in protocol.FrameDecoder().feed(data)]
    if args.json:
        print(json.dumps(items, indent=2))
    else:
        for item in items:
            print("  ".join("%s: %s" % (key, value) for key, value in item.items()))
    bad = any("bad_frame" in item or "error" in item for item in items)
    return 1 if bad or not items else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keybridge", description=__doc__.split("\n")[0],
        epilog="The service and space commands take --config (default %s). Exit codes: 0 "
        "fine, 1 something to look at, 2 configuration or usage; the space commands say theirs "
        "in their help."
        % service_cli.DEFAULT_CONFIG)
    parser.add_argument("--version", action="version", version="keybridge " + __version__)
    commands = parser.add_subparsers(dest="command", required=True)
    proto = commands.add_parser("protocol", help="encode and decode Salto PMS frames")
    tools = proto.add_subparsers(dest="tool", required=True)
    enc = tools.add_parser("encode", help="readable form |CN|Encoder 1|... to frame hex")
    enc.add_argument("fields", help="fields between | characters; \\xNN for a raw byte")
    enc.add_argument("--lrc-skip", action="store_true", help="send 0x0D instead of the LRC")
    enc.set_defaults(func=cmd_encode)
    dec = tools.add_parser("decode", help="frame hex (spaces allowed) to fields and message")
    dec.add_argument("hex", nargs="+", help="the bytes as hex")
    dec.add_argument("--direction", choices=("request", "reply"), default="request",
                     help="decode frames as requests to Salto or replies from it")
    dec.add_argument("--json", action="store_true", help="machine-readable output")
    dec.set_defaults(func=cmd_decode)
    service_cli.add_parsers(commands)
    space_cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except BrokenPipeError:
        # `keybridge status | head -1`: the reader has all it wanted. Quiet, like cat.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeybridgeError as err:
        return service_cli.report_error(err)
    except (ValueError, protocol.ProtocolError) as err:
        print("keybridge: %s" % err, file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
