"""``make run`` for now: a front-desk morning spoken over a real TCP link.

Starts a minimal Salto stand-in (``LinkServer`` with an in-memory room book)
on a free loopback port, connects the production ``LinkDriver`` to it, and
walks through a desk's day: ENQ probe, new cards, a copy, reading the card
back, a mobile key, a card that is never presented (ED), check-out, and the
door's audit trail. Every frame is printed in the notes' readable form and
as hex, so a technician sees exactly what crosses the wire.

The full ProAccess Space simulator (encoders, faults, serial) is
``simulators.space``; this stand-in only knows enough to make the demo real.
"""

import asyncio
import sys

import protocol
from protocol.driver import LinkDriver
from simulators.link_server import LinkServer

ENCODER = b"Online Encoder 1"
STAY = ((2026, 11, 21, 14, 0), (2026, 11, 24, 11, 0))


class RoomBook:
    """Just enough of Space to answer the demo's requests truthfully."""

    def __init__(self) -> None:
        self.rooms: dict[bytes, dict[str, object]] = {}
        self.on_encoder: tuple[bytes, bytes] | None = None  # (room, copy number)
        self.trail = [(b"21/11", b"14:05", b"0", b"I", b"101", b"#0")]

    async def handle(self, request: protocol.message.Message) -> protocol.message.Message:
        if isinstance(request, protocol.EncodeCard):
            return self._encode(request)
        if isinstance(request, protocol.ReadCard):
            return self._read(request)
        if isinstance(request, protocol.EncodeMobile):
            return protocol.MobileKeySent(request.command, request.phone)
        if isinstance(request, protocol.CheckOut):
            self.rooms.setdefault(request.room, {})["status"] = b"CO"
            return protocol.CheckedOut(request.room)
        if isinstance(request, protocol.AuditRequest):
            return self._audit(request)
        return protocol.ErrorReply(b"ES", detail=b"not in this demo")

    def _encode(self, request: protocol.EncodeCard) -> protocol.message.Message:
        room = request.rooms[0]
        if request.operator == b"nobody":  # the demo's card that never arrives
            return protocol.ErrorReply(b"ED", request.encoder)
        state = self.rooms.setdefault(room, {"copies": 0, "status": b"CO"})
        if request.command == b"CC" and state["status"] != b"CI":
            return protocol.ErrorReply(b"EA", request.encoder)
        copies = 0 if request.command == b"CN" else int(state["copies"]) + 1  # type: ignore[call-overload]
        state.update(copies=copies, status=b"CI", request=request)
        self.on_encoder = (room, b"012I"[min(copies, 3) : min(copies, 3) + 1])
        return protocol.CardEncoded(request.command, request.encoder)

    def _read(self, request: protocol.ReadCard) -> protocol.message.Message:
        if self.on_encoder is None:
            return protocol.OtherCard(request.encoder, b"LD")
        room, copy = self.on_encoder
        state = self.rooms[room]
        cut = state["request"]
        assert isinstance(cut, protocol.EncodeCard)
        status = state["status"]
        assert isinstance(status, bytes)
        return protocol.GuestCard(request.encoder, cut.rooms, status, copy, cut.granted,
                                  cut.start, cut.expiry, cut.operator)

    def _audit(self, request: protocol.AuditRequest) -> protocol.message.Message:
        if request.command == b"WF":
            self.cursor = 0
        elif request.command == b"WN":
            self.cursor += 1
        if self.cursor >= len(self.trail):
            return protocol.AuditEnd(request.door)
        date, time, incident, direction, card, copy = self.trail[self.cursor]
        return protocol.AuditRecord(request.command, request.door, date, time, incident,
                                    direction, card, copy)


def show(direction: str, fields: list[bytes]) -> None:
    arrow = "PMS  -> Salto" if direction == "request" else "Salto -> PMS "
    frame = protocol.encode_frame(fields)
    print("%s  %s" % (arrow, protocol.readable(fields)))
    print("               %s" % frame.hex(" "))


def desk_day() -> list[tuple[str, protocol.message.Message]]:
    start, expiry = STAY
    cn = protocol.EncodeCard(b"CN", ENCODER, (b"101",), count=2, granted=(1, 12, 40),
                             start=start, expiry=expiry, operator=b"desk",
                             print_info=(b"Family Jansen", b"Pitch 101"))
    return [
        ("cut two new cards for pitch 101", cn),
        ("read the card back", protocol.ReadCard(ENCODER)),
        ("one more copy for the kids", protocol.EncodeCard(
            b"CC", ENCODER, (b"101",), start=start, expiry=expiry, operator=b"desk")),
        ("send a JustIN Mobile key", protocol.EncodeMobile(
            b"CNM", b"+31612345678", (b"101",), start=start, expiry=expiry,
            message=b"Welcome to the campsite!")),
        ("a card that is never placed", protocol.EncodeCard(
            b"CN", ENCODER, (b"102",), operator=b"nobody")),
        ("check pitch 101 out", protocol.CheckOut(b"101")),
        ("read the card again", protocol.ReadCard(ENCODER)),
        ("walk the door's audit trail", protocol.AuditRequest(b"WF", b"101")),
        ("next audit record", protocol.AuditRequest(b"WN", b"101")),
    ]


async def main() -> int:
    book = RoomBook()
    server = LinkServer(book.handle, observe=show)
    host, port = await server.start()
    print("Salto stand-in listening on %s:%d (PMS Industry Standard over TCP)\n" % (host, port))
    reader, writer = await asyncio.open_connection(host, port)
    driver = LinkDriver(reader, writer)
    try:
        print("== ENQ probe: is the PC interface ready?")
        print("   ready" if await driver.probe() else "   not ready (NAK)")
        for title, request in desk_day():
            print("\n== %s" % title)
            fields = await driver.request(request.fields())
            try:
                reply = protocol.check_reply(request, protocol.decode_reply(fields))
                print("   -> %r" % (reply,))
            except protocol.VendorError as err:
                print("   -> Salto says %s" % err)
    finally:
        writer.close()
        await server.close()
    print("\nDone: every frame above crossed a real TCP socket, framed, LRC-checked and ACKed.")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
