"""Commands without a card: CO, MC, JustIN Mobile keys, and door audit trails.

Doors also decide, like a lock, whether a key opens them (``open_door``),
and every decision lands in the door's audit trail that WF/WN/WR walk.
"""

import dataclasses
import random

import protocol
from simulators.space.encoders import (
    Encoders,
    Refused,
    as_tuple,
    copy_code,
    granted,
    key_authorizations,
)
from simulators.space.site import Card, Door

AUDIT_COPY = {b"0": b"#0", b"1": b"#1", b"2": b"#2", b"I": b"#D", b"A": b"@1"}
STAFF_ID = b"STAFF   "  # §4.3: padded to 8
SPARE_ID = b" " * 8
NOT_REGISTERED = b"phone not registered with JustIN Mobile"

# What a door answers (§4.3 audit incidents).
OPENED, INVALID, DENIED, EXPIRED = b"0", b"2", b"3", b"4"


@dataclasses.dataclass
class MobileKey:
    phone: bytes
    card: Card  # what the phone carries, as a card would
    binary: bytes = b""
    handed_back: bool = False  # CNMB/CCMB: the key went to the PMS, not to the phone
    installation: bytes = b""  # the id the PMS's app installs a handed-back key under


class Desk:
    """The rest of the simulated Space, sharing the rooms and cards of ``Encoders``."""

    def __init__(self, encoders: Encoders, rng: random.Random) -> None:
        self.encoders = encoders
        self.site = encoders.site
        self.clock = encoders.clock
        self.rng = rng
        self.mobile_keys: list[MobileKey] = []

    async def check_out(self, request: protocol.CheckOut) -> protocol.message.Message:
        room = self.encoders.room(request.room)
        room.checked_in = False
        return protocol.CheckedOut(request.room)

    async def modify(self, request: protocol.ModifyCheckIn) -> protocol.message.Message:
        room = self.encoders.room(request.room)
        if not room.checked_in:
            raise Refused(b"EG", request.room, b"room is not checked in")
        if request.new_room:
            moved = self.encoders.room(request.new_room)
            if moved.checked_in:
                raise Refused(b"EG", request.new_room, b"room is occupied")
            self.encoders.check_in(moved, room.start, room.expiry, room.granted)
            room.checked_in = False
            room = moved
        if request.expiry is not None:
            room.expiry = request.expiry
        for card in self._current_cards(room.name):
            card.expiry = room.expiry
        return protocol.CheckInModified(request.room)

    def _current_cards(self, room_name: bytes) -> list[Card]:
        room = self.site.rooms[room_name]
        cards = list(self.encoders.cards.values()) + [k.card for k in self.mobile_keys]
        return [c for c in cards if c.rooms[:1] == (room_name,) and c.generation == room.generation]

    async def mobile(self, request: protocol.EncodeMobile | protocol.EncodeMobileBinary
                     ) -> protocol.message.Message:
        if request.phone not in self.site.phones:
            raise Refused(b"EG", request.phone, NOT_REGISTERED)
        main = self.encoders.rooms(request.rooms, request.phone)
        new = request.command.startswith(b"CN")
        (index,) = self.encoders.make_keys(main, 1, new, request.phone)
        if new:
            self.encoders.check_in(main, request.start, request.expiry,
                                   granted(request.granted, request.denied))
        main.copies += 1
        card = Card("guest", b"", request.rooms, main.generation, copy_code(index),
                    key_authorizations(request, main), request.start or main.start,
                    request.expiry or main.expiry, request.operator)
        key = MobileKey(request.phone, card, self.rng.randbytes(13))
        self.mobile_keys.append(key)
        if isinstance(request, protocol.EncodeMobile):
            return protocol.MobileKeySent(request.command, request.phone)
        key.handed_back = True
        if request.return_installation_id == b"1":
            letters = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
            key.installation = bytes(self.rng.choice(letters) for _ in range(14))
        return protocol.MobileKeyBinary(request.command, request.phone, key.binary,
                                        key.installation)

    # -- audit trails --------------------------------------------------------

    async def audit(self, request: protocol.AuditRequest) -> protocol.message.Message:
        door = self.site.doors.get(request.door)
        if door is None:
            return protocol.AuditError(request.door, b"unknown door")
        step = {b"WF": None, b"WN": 1, b"WR": 0}[request.command]
        door.cursor = 0 if step is None else door.cursor + step
        if not 0 <= door.cursor < len(door.trail):
            door.cursor = len(door.trail)  # WN after the end keeps answering WO
            return protocol.AuditEnd(request.door)
        record = door.trail[door.cursor]
        return protocol.AuditRecord(request.command, request.door, *record)

    def open_door(self, name: bytes, serial: bytes = b"", staff: bytes = b"",
                  phone: bytes = b"") -> bytes:
        """Someone presents a key at a door: decide like the lock, log it, return the incident."""
        door = self.site.doors.get(name)
        if door is None:
            raise KeyError("no door named %r" % name.decode())
        if staff:
            if staff not in self.site.staff:
                raise KeyError("no staff card for %r" % staff.decode())
            return self._log(door, OPENED, STAFF_ID, b"#0", staff)  # as clients parse it
        card = self._card(serial, phone)
        if card.kind == "spare":
            return self._log(door, OPENED if door.room else DENIED, SPARE_ID, b"S1")
        incident = self._decide(door, card)
        if incident == OPENED and card.copy == b"A":
            card.used = True
        return self._log(door, incident, card.rooms[0] if card.rooms else SPARE_ID,
                         AUDIT_COPY.get(card.copy, b""))

    def _card(self, serial: bytes, phone: bytes) -> Card:
        if phone:
            keys = [k for k in self.mobile_keys if k.phone == phone]
            if not keys:
                raise KeyError("no mobile key on %r" % phone.decode())
            return keys[-1].card
        card = self.encoders.cards.get(serial)
        if card is None:
            raise KeyError("no card with serial %r" % serial.decode())
        return card

    def _decide(self, door: Door, card: Card) -> bytes:
        if card.kind != "guest":
            return INVALID
        opens = door.room in card.rooms or door.authorization in card.granted
        if not opens:
            return DENIED
        if card.used:
            return INVALID
        # A one-shot key (a technician's visit) does not depend on the stay.
        if card.copy != b"A":
            room = self.site.rooms[card.rooms[0]]
            if card.generation != room.generation:
                return INVALID  # a newer key was made for the room (§5.1)
            if not room.checked_in and self.site.options.remove_access_on_checkout:
                return INVALID
        now = as_tuple(self.clock.now())
        if (card.start is not None and now < card.start) or (
                card.expiry is not None and now >= card.expiry):
            return EXPIRED
        return OPENED

    def _log(self, door: Door, incident: bytes, card_id: bytes, copy: bytes,
             user: bytes = b"") -> bytes:
        now = self.clock.now()
        day, month = b"%02d" % now.day, b"%02d" % now.month
        date = day + b"/" + month if self.site.audit_date_format == "dd/mm" else month + b"/" + day
        door.trail.insert(0, [date, b"%02d:%02d" % (now.hour, now.minute), incident, b"I",
                              card_id, copy, user])
        if door.cursor >= 0:
            door.cursor += 1  # keep WN walking from the record it was on
        return incident
