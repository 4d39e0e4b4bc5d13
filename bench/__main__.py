"""`make bench`: the protocol core's throughput, then the end-to-end table.

First frames per second for encoding, decoding whole frames, and decoding the same stream
one byte at a time (the worst case on a serial line), the client link's request/reply cycle,
and whole desk requests through the Space client and simulator over loopback TCP and a
pseudo-terminal (with the card presented at once).

Then what a PMS and a campsite feel, through real ``keybridge run`` processes: every figure
beside its floor measured in the same run, their ratio and the reach (bench/README.md says
what each one is). Nothing is asserted; the run is kept as JSON under ``.cache/bench``.

    python -m bench                  # everything (about ten minutes)
    python -m bench --quick          # smaller samples, 10 s of idle CPU, no 100,000 store
    python -m bench --e2e-only
"""

import argparse
import asyncio
import datetime
import time
from pathlib import Path

import protocol

REQUEST = protocol.EncodeCard(
    b"CN", b"Online Encoder 1", (b"101", b"Pool"), count=2, granted=(1, 12, 40),
    start=(2026, 11, 21, 14, 0), expiry=(2026, 11, 24, 11, 0), operator=b"desk",
    print_info=(b"Family Jansen", b"Pitch 101"),
)
FIELDS = REQUEST.fields()
FRAME = protocol.encode_frame(FIELDS)
REPLY_FRAME = protocol.encode_frame([b"CN", b"Online Encoder 1"])


def rate(label: str, count: int, fn: object) -> None:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    print("%-38s %10.0f /s  (%d in %.3f s)" % (label, count / seconds, count, seconds))


def encode(n: int) -> None:
    for _ in range(n):
        protocol.encode_frame(REQUEST.fields())


def decode_whole(n: int) -> None:
    decoder = protocol.FrameDecoder()
    stream = FRAME * n
    assert len(decoder.feed(stream)) == n


def decode_bytewise(n: int) -> None:
    decoder = protocol.FrameDecoder()
    stream = FRAME * n
    for i in range(len(stream)):
        decoder.feed(stream[i : i + 1])


def message_round_trip(n: int) -> None:
    for _ in range(n):
        protocol.decode_request(REQUEST.fields())


def link_cycle(n: int) -> None:
    link = protocol.ClientLink()
    ack = bytes([protocol.ACK])
    for i in range(n):
        link.send(FIELDS, i)
        link.data_to_send()
        link.receive_data(ack + REPLY_FRAME, i)


async def _space_requests(n: int, serial: bool) -> None:
    from appliance.space import SpaceClient, SpaceCommands, SpaceSettings
    from simulators.space import SpaceSimulator, load_site
    from simulators.space.clock import SimClock

    site = load_site(Path(__file__).resolve().parents[1] / "config" / "space-sim.toml")
    site.encoders[b"Online Encoder 1"].card_after_s = 0.0
    space = SpaceSimulator(site, clock=SimClock(datetime.datetime(2026, 7, 1, 15), False))
    server = "serial:" + space.start_pty() if serial else "%s:%d" % await space.start_tcp()
    async with SpaceClient(SpaceSettings(server=server, probe_interval_s=0)) as client:
        desk = SpaceCommands(client)
        await desk.encode("Online Encoder 1", ["Pitch 12"], None, None)
        start = time.perf_counter()
        for _ in range(n):
            await desk.read("Online Encoder 1")
        seconds = time.perf_counter() - start
    await space.close()
    label = "Space LT via client+simulator, %s" % ("pty" if serial else "TCP")
    print("%-38s %10.0f /s  (%d in %.3f s)" % (label, n / seconds, n, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small samples, empty store only")
    parser.add_argument("--e2e-only", action="store_true", help="skip the protocol figures")
    parser.add_argument("--stored", type=int, default=100000,
                        help="bookings behind the second run (default 100000)")
    parser.add_argument("--table", type=Path, metavar="JSON",
                        help="print the table of a kept run again, measure nothing")
    parser.add_argument("--markdown", action="store_true", help="with --table: as Markdown")
    args = parser.parse_args()
    if args.table:
        from bench import report
        rows = report.rows(report.load(args.table))
        print(report.markdown(rows) if args.markdown else report.table(rows))
        return
    if not args.e2e_only:
        core()
    end_to_end(args.quick, (0,) if args.quick else (0, args.stored))


def end_to_end(quick: bool, stored: tuple[int, ...]) -> None:
    from bench import report
    from bench.table import measure
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    run = ROOT / ".cache" / "bench" / "run"
    print("\nend to end (run directory %s) ..." % run, flush=True)
    result = measure(run, stored, 10.0 if quick else 60.0, quick)
    rows = report.rows(result)
    print("\n" + report.table(rows))
    print("\nmeasured at %s, %s" % (stamp, report.describe(report.provenance())))
    print("kept as %s" % report.save(result, rows, ROOT / ".cache" / "bench", stamp))


ROOT = Path(__file__).resolve().parents[1]


def core() -> None:
    print("frame: %d bytes, %d fields" % (len(FRAME), len(FIELDS)))
    rate("encode (message -> frame)", 20000, lambda: encode(20000))
    rate("decode, whole frames", 20000, lambda: decode_whole(20000))
    rate("decode, one byte at a time", 500, lambda: decode_bytewise(500))
    rate("message decode + validate", 20000, lambda: message_round_trip(20000))
    rate("client link request/ACK/reply cycle", 20000, lambda: link_cycle(20000))
    asyncio.run(_space_requests(500, serial=False))
    asyncio.run(_space_requests(500, serial=True))


if __name__ == "__main__":
    main()
