"""Encoder commands as Space carries them out: CN, CC, CA, LT, L1-3, P1-3.

Each waits for a card on the named encoder (the person at the desk), checks
it, and writes or reads it. Errors are ``Refused`` with the code Space would
give (§6); ``space.py`` turns them into error replies.
"""

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import protocol
from simulators.space.clock import SimClock
from simulators.space.site import Card, Encoder, Room, Site

COPY_CODES = (b"0", b"1", b"2")  # then I for the 3rd copy and later (§4.3)
ONE_SHOT = b"A"
SERIAL_BASE = 0x04A10000


class Refused(Exception):
    """Space answers with an error code instead of doing the job."""

    def __init__(self, code: bytes, target: bytes = b"", detail: bytes = b"") -> None:
        super().__init__(code.decode())
        self.code = code
        self.target = target
        self.detail = detail

    def reply(self) -> protocol.ErrorReply:
        return protocol.ErrorReply(self.code, self.target, self.detail)


def copy_code(index: int) -> bytes:
    return COPY_CODES[index] if index < len(COPY_CODES) else b"I"


def granted(grant: tuple[int, ...], deny: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(set(grant) - set(deny)))


def key_authorizations(request: object, main: Room) -> tuple[int, ...]:
    """What a key opens: the request's grants, or the check-in's, less the denials."""
    grant = request.granted or main.granted  # type: ignore[attr-defined]
    return granted(grant, request.denied)  # type: ignore[attr-defined]


def as_tuple(when: object) -> tuple[int, ...]:
    """A clock datetime as the protocol's (year, month, day, hour, minute)."""
    return (when.year, when.month, when.day, when.hour, when.minute)  # type: ignore[attr-defined]


class Encoders:
    """The encoder half of the simulated Space: cards written and read."""

    def __init__(self, site: Site, clock: SimClock) -> None:
        self.site = site
        self.clock = clock
        self.cards: dict[bytes, Card] = {}  # every card written, by serial
        self._serials = itertools.count(SERIAL_BASE)

    # -- the encoder and its card ---------------------------------------

    def encoder(self, name: bytes) -> Encoder:
        encoder = self.site.encoders.get(name)
        if encoder is None or not encoder.online:
            raise Refused(b"NC", name)
        return encoder

    @contextlib.asynccontextmanager
    async def card_on(self, encoder: Encoder) -> AsyncIterator[Card]:
        """Hold the encoder while a card is presented; ED if none comes in time."""
        if encoder.busy or encoder.working:
            raise Refused(b"OV", encoder.name)
        encoder.working = True
        try:
            yield await self._wait_for_card(encoder)
        finally:
            encoder.working = False

    async def _wait_for_card(self, encoder: Encoder) -> Card:
        """The card, once presented: after ``card_after_s``, or when one is placed."""
        delay = encoder.card_after_s if encoder.card is not None else encoder.card_timeout_s
        encoder.placed.clear()
        try:
            async with asyncio.timeout(min(delay, encoder.card_timeout_s)):
                await encoder.placed.wait()  # set by the control API
        except TimeoutError:
            if delay > encoder.card_timeout_s or encoder.card is None:
                raise Refused(b"ED", encoder.name) from None
        card = encoder.card
        if card is None:  # taken away while we waited
            raise Refused(b"ED", encoder.name)
        if card.kind == "badly_inserted":
            raise Refused(b"EP", encoder.name)
        return card

    # -- rooms -------------------------------------------------------------

    def room(self, name: bytes) -> Room:
        room = self.site.rooms.get(name)
        if room is None:
            raise Refused(b"TD", name)
        if room.out_of_service:
            raise Refused(b"OS", name)
        return room

    def rooms(self, names: tuple[bytes, ...], target: bytes) -> Room:
        """Check every room of a key; return the main one."""
        checked = [self.room(name) for name in names]  # TD/OS for any of them
        main = checked[0]
        if main.elsewhere:
            raise Refused(b"EO", target)
        return main

    def make_keys(self, main: Room, count: int, new: bool, target: bytes) -> range:
        """Count keys against the copy limit; return their copy indexes."""
        if not new and not main.checked_in:
            raise Refused(b"EA", target)
        made = 0 if new else main.copies
        if made + count > self.site.options.max_copies:
            raise Refused(b"EG", target, b"copy limit: at most %d keys per room"
                          % self.site.options.max_copies)
        return range(made, made + count)

    def check_in(self, main: Room, start: tuple[int, ...] | None,
                 expiry: tuple[int, ...] | None, allowed: tuple[int, ...]) -> None:
        """A new key generation for the room: its older keys stop working."""
        main.generation += 1
        main.checked_in = True
        main.copies = 0
        main.start = start
        main.expiry = expiry
        main.granted = allowed

    # -- commands ----------------------------------------------------------

    async def encode(self, request: protocol.EncodeCard) -> protocol.message.Message:
        encoder = self.encoder(request.encoder)
        one_shot = request.command == b"CA"
        # A one-shot card may name no room: it opens the doors it grants, no check-in.
        main = None if one_shot and not request.rooms else self.rooms(request.rooms,
                                                                         request.encoder)
        count = request.count or 1
        copies = range(count) if one_shot or main is None else self.make_keys(
            main, count, request.command == b"CN", request.encoder)
        async with self.card_on(encoder) as card:
            if card.kind == "staff":
                raise Refused(b"EV", request.encoder)
            if card.kind == "foreign":
                raise Refused(b"EF", request.encoder)
            if main is not None and request.command == b"CN":
                self.check_in(main, request.start, request.expiry,
                              granted(request.granted, request.denied))
            if main is not None and not one_shot:
                main.copies += count
            serials = [self._write(encoder, request, main, ONE_SHOT if one_shot
                                   else copy_code(i)) for i in copies]
        returned = {b"1": serials[-1:], b"2": serials}.get(request.serial_return, [])
        return protocol.CardEncoded(request.command, request.encoder, tuple(returned))

    def _write(self, encoder: Encoder, request: protocol.EncodeCard, main: Room | None,
               copy: bytes) -> bytes:
        serial = b"%08X" % next(self._serials)
        if main is None:  # a one-shot card for shared doors: what the request grants
            card = Card("guest", serial, (), 0, copy, granted(request.granted, request.denied),
                        request.start, request.expiry, request.operator,
                        printed=request.print_info)
        else:
            card = Card("guest", serial, request.rooms, main.generation, copy,
                        key_authorizations(request, main), request.start or main.start,
                        request.expiry or main.expiry, request.operator,
                        printed=request.print_info)
        self.cards[serial] = card
        encoder.card = card  # the last card written stays on the reader
        return serial

    async def read(self, request: protocol.ReadCard) -> protocol.message.Message:
        encoder = self.encoder(request.encoder)
        async with self.card_on(encoder) as card:
            other = {"staff": b"LM", "spare": b"LR", "invalid": b"LC"}.get(card.kind)
            if card.kind != "guest":
                return protocol.OtherCard(request.encoder, other or b"LD")
            status = b"CI" if self.valid(card) else b"CO"
            return protocol.GuestCard(request.encoder, card.rooms, status, card.copy,
                                      card.granted, card.start, card.expiry, card.operator)

    def valid(self, card: Card) -> bool:
        """Whether a guest card still counts for its main room (LT's CI)."""
        room = self.site.rooms.get(card.rooms[0]) if card.rooms else None
        stale = room is None or not room.checked_in or card.generation != room.generation
        if stale and card.copy != ONE_SHOT:  # one-shot keys stand alone
            return False
        # A key for a stay that has not begun is still checked in; one past
        # its expiry, or a used one-shot key, no longer is.
        expired = card.expiry is not None and as_tuple(self.clock.now()) >= card.expiry
        return not expired and not card.used

    async def read_track(self, request: protocol.ReadTrack) -> protocol.message.Message:
        encoder = self.encoder(request.encoder)
        async with self.card_on(encoder) as card:
            text = card.tracks.get(request.track, b"")
            return protocol.TrackRead(request.track, request.encoder, text)

    async def write_track(self, request: protocol.WriteTrack) -> protocol.message.Message:
        encoder = self.encoder(request.encoder)
        async with self.card_on(encoder) as card:
            if card.kind in ("foreign", "staff"):
                raise Refused(b"EF" if card.kind == "foreign" else b"EV", request.encoder)
            card.tracks[request.track] = request.text
            return protocol.TrackWritten(request.track, request.encoder)
