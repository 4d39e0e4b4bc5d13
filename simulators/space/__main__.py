"""``python -m simulators.space``: run the simulated ProAccess Space server.

    python -m simulators.space                          # config/space-sim.toml, 127.0.0.1:8090
    python -m simulators.space --listen 0.0.0.0:8090 --control 127.0.0.1:8091
    python -m simulators.space --serial /dev/ttyUSB0 --baud 9600
    python -m simulators.space --serial-pty             # prints the pty the PMS side opens

Every frame in and out is printed in readable form. Stop with Ctrl-C.
"""

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from appliance.space.transport import open_serial
from simulators.address import split_address
from simulators.space.control import ControlChannel
from simulators.space.site import SiteError, load_site
from simulators.space.space import SpaceSimulator

DEFAULT_SITE = Path(__file__).resolve().parents[2] / "config" / "space-sim.toml"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulators.space", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--site", default=str(DEFAULT_SITE), help="site TOML file")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--listen", help="HOST:PORT for TCP (default from the site file)")
    where.add_argument("--serial", metavar="PATH", help="serve an RS-232 line instead")
    where.add_argument("--serial-pty", action="store_true",
                       help="serve a new pseudo-terminal and print its path")
    parser.add_argument("--baud", type=int, default=9600, help="serial baud rate (8-N-1)")
    parser.add_argument("--control", metavar="HOST:PORT", help="JSON-line control channel")
    parser.add_argument("--quiet", action="store_true", help="do not print frames")
    return parser.parse_args(argv)


def printer(direction: str, fields: list[bytes]) -> None:
    arrow = "PMS -> Space" if direction == "request" else "Space -> PMS"
    text = "|".join(f.decode("latin-1") for f in fields)
    print("%s  |%s|" % (arrow, text), flush=True)


async def serve(args: argparse.Namespace) -> None:
    site = load_site(args.site)
    space = SpaceSimulator(site, observe=None if args.quiet else printer)
    if args.serial:
        port = open_serial(args.serial, args.baud)
        space.server.serve_fd(port.fileno(), closer=port)
        print("Space simulator on serial line %s at %d 8-N-1" % (args.serial, args.baud))
    elif args.serial_pty:
        print("Space simulator on pseudo-terminal %s" % space.start_pty())
    else:
        host, port_no = await space.start_tcp(*split_address(args.listen or site.listen))
        print("Space simulator listening on %s:%d" % (host, port_no))
    control = ControlChannel(space)
    if args.control:
        print("control channel on %s:%d" % await control.start(*split_address(args.control)))
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await control.close()
    await space.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except (SiteError, OSError) as err:
        print("simulators.space: %s" % err, file=sys.stderr)
        return 2
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
