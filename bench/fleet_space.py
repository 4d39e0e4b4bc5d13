"""``python -m bench.fleet_space``: one simulated ProAccess Space server per fleet site, all in
one process, so 200 sites do not cost 200 more interpreters on a 2-core machine.

Each server is the production-code simulator (``simulators.space``) with its own site state,
on its own loopback port: what one campsite's Space would be. The ports are written to
``--ports`` (JSON list, in site order) once every server listens; on SIGTERM the number of
CN requests each one carried out (cards cut) is written to ``--counts``, so the fleet can
say whether any card was cut twice.
"""

import argparse
import asyncio
import json
import signal
from pathlib import Path

from simulators.space.__main__ import DEFAULT_SITE
from simulators.space.site import load_site
from simulators.space.space import SpaceSimulator


class Counter:
    """The observer of one server: counts the CN requests it answered."""

    def __init__(self) -> None:
        self.cards_cut = 0

    def __call__(self, direction: str, fields: list[bytes]) -> None:
        if direction == "request" and fields and fields[0] == b"CN":
            self.cards_cut += 1


async def serve(count: int, ports_file: Path, counts_file: Path) -> None:
    counters = [Counter() for _ in range(count)]
    servers = []
    ports = []
    for counter in counters:
        site = load_site(str(DEFAULT_SITE))
        for encoder in site.encoders.values():
            encoder.card_after_s = 0.2  # a receptionist quick with the card
        server = SpaceSimulator(site, observe=counter)
        ports.append((await server.start_tcp("127.0.0.1", 0))[1])
        servers.append(server)
    ports_file.write_text(json.dumps(ports))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    counts_file.write_text(json.dumps([counter.cards_cut for counter in counters]))
    for server in servers:
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_space", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, required=True, help="servers, one per site")
    parser.add_argument("--ports", type=Path, required=True, help="where to write the ports")
    parser.add_argument("--counts", type=Path, required=True,
                        help="where to write the cards each server cut, on SIGTERM")
    args = parser.parse_args()
    asyncio.run(serve(args.count, args.ports, args.counts))


if __name__ == "__main__":
    main()
