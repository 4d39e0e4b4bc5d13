"""``make run`` for now: a front-desk day against the simulated ProAccess Space.

Starts ``simulators.space`` (the site of ``config/space-sim.toml``) on a free
loopback port and runs the production Space client through a desk's day:
cards cut, copied and read back, a mobile key, a card never presented, the
link NAKing and dropping, check-out, guests at the doors, and the audit trail.
Every frame is printed in the notes' readable form and as hex, so a
technician sees exactly what crosses the wire.

The MQTT appliance around it (``keybridge run``) arrives with the appliance core.
"""

import asyncio
import datetime
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import protocol
from appliance.space import SpaceClient, SpaceCommands, SpaceSettings, errors
from simulators.space import SpaceSimulator, load_site
from simulators.space.clock import SimClock

SITE = Path(__file__).resolve().parents[1] / "config" / "space-sim.toml"
TODAY = datetime.datetime(2026, 7, 1, 14, 30)
ARRIVAL, DEPARTURE = datetime.datetime(2026, 7, 1, 14, 0), datetime.datetime(2026, 7, 4, 11, 0)
ENC = "Online Encoder 1"


def show(direction: str, fields: list[bytes]) -> None:
    arrow = "PMS   -> Space" if direction == "request" else "Space -> PMS  "
    print("   %s  %s" % (arrow, protocol.readable(fields)))
    print("                    %s" % protocol.encode_frame(fields).hex(" "))


Step = tuple[str, Callable[[], Awaitable[Any]]]


def steps(desk: SpaceCommands, space: SpaceSimulator) -> list[Step]:
    def stay(**more: Any) -> Awaitable[Any]:
        return desk.encode(ENC, ["Pitch 12"], ARRIVAL, DEPARTURE, granted=[1, 3], **more)

    async def nak_twice() -> str:
        space.faults.update(nak_frames=2)
        card = await desk.read(ENC)
        return "read %s after %d NAKs" % (card.copy, len(space.server.rejected))

    def no_card() -> Awaitable[Any]:
        space.remove_card(ENC.encode())
        return desk.read(ENC)

    async def doors() -> list[str]:
        space.place_card(ENC.encode())
        first = space.encoders.cards[b"04A10000"]
        opened = [space.open_door(b"Pitch 12", serial=first.serial),
                  space.open_door(b"Swimming pool", serial=first.serial)]
        space.clock.set(DEPARTURE)
        opened.append(space.open_door(b"Pitch 12", serial=b"04A10002"))
        return ["incident %s" % i.decode() for i in opened]

    return [
        ("is Space there? (ENQ)", desk.ping),
        ("cut two cards for the Jansens on Pitch 12", lambda: stay(count=2)),
        ("read the card back", lambda: desk.read(ENC)),
        ("one more copy for the kids", lambda: stay(copy=True)),
        ("Space is busy: two NAKs, then the frame goes through", nak_twice),
        ("a JustIN Mobile key for Zoë", lambda: desk.mobile(
            "+31612345678", ["Chalet 3"], ARRIVAL, DEPARTURE, message="Welkom, Zoë!")),
        ("a phone that is not registered", lambda: desk.mobile(
            "+4915112345678", ["Chalet 3"], ARRIVAL, DEPARTURE)),
        ("nobody places a card", no_card),
        ("guests at the doors (pitch, pool), then a copy after departure", doors),
        ("check Pitch 12 out", lambda: desk.check_out("Pitch 12")),
        ("walk Pitch 12's audit trail", lambda: desk.audit("Pitch 12")),
    ]


async def main() -> int:
    site = load_site(SITE)
    for encoder in site.encoders.values():
        encoder.card_after_s, encoder.card_timeout_s = 0.2, 1.0
    space = SpaceSimulator(site, clock=SimClock(TODAY, running=False), observe=show)
    host, port = await space.start_tcp()
    print("ProAccess Space simulator on %s:%d (PMS Industry Standard over TCP)" % (host, port))
    settings = SpaceSettings(server="%s:%d" % (host, port), card_wait_s=2.0, probe_interval_s=0)
    async with SpaceClient(settings) as client:
        desk = SpaceCommands(client, operator="Front desk")
        for title, step in steps(desk, space):
            print("\n== %s" % title)
            try:
                print("   => %s" % (await step(),))
            except errors.SpaceRefused as err:
                print("   => Space refused: %s" % err)
    await space.close()
    print("\nDone: every frame above crossed a real TCP socket, framed, LRC-checked and ACKed.")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
