"""``python -m simulators.ks``: run the simulated Salto KS cloud on one port.

    python -m simulators.ks                               # 127.0.0.1:8092, the default site
    python -m simulators.ks --listen 127.0.0.1:0          # a free port (printed)
    python -m simulators.ks --locks "Pitch 1,Pitch 2" --seats 5 --time-zone Europe/Berlin

Prints ``KS simulator listening on http://HOST:PORT`` first, then one line per request
(method, path, status; never PINs or tokens). Stop with Ctrl-C or SIGTERM.
"""

import argparse
import signal
import sys
import threading
import zoneinfo

from simulators.address import split_address
from simulators.ks import defaults
from simulators.ks.server import KsServer


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulators.ks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", default=defaults.LISTEN, help="HOST:PORT (port 0: free)")
    parser.add_argument("--locks", help="comma-separated lock names (default: %s)" % ", ".join(
        defaults.LOCK_NAMES))
    parser.add_argument("--seats", type=int, default=defaults.SEATS,
                        help="the site's subscribed_user_amount")
    parser.add_argument("--time-zone", default=defaults.TIME_ZONE, help="the site's zone")
    parser.add_argument("--quiet", action="store_true", help="do not print requests")
    return parser.parse_args(argv)


def _print(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    locks = [name.strip() for name in args.locks.split(",")] if args.locks else list(
        defaults.LOCK_NAMES)
    host, port = split_address(args.listen, "127.0.0.1:8092")
    try:
        server = KsServer(host, port, locks=locks, seats=args.seats, time_zone=args.time_zone,
                          log=None if args.quiet else _print).start()
    except (OSError, ValueError, zoneinfo.ZoneInfoNotFoundError) as err:
        print("simulators.ks: %s" % err, file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    _print("KS simulator listening on %s" % server.url)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
