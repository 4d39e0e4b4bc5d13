"""What the desk asks Space, in Python values: cut cards, read them, check out.

``SpaceCommands`` builds ``protocol`` requests from text and datetimes
(transliterated to ASCII here, Doé → Doe), sends them through a
``SpaceClient`` and turns replies into plain results. Times are the site's
local wall time, to the minute (the protocol has no seconds, §4.1): seconds
are dropped, never rounded up.
"""

import asyncio
import contextlib
import dataclasses
import datetime
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import protocol
from appliance.space.client import SpaceClient
from appliance.space.errors import (
    AuditUnavailable,
    GeneralError,
    PhoneNotRegistered,
    SpaceRequestError,
)
from appliance.space.text import to_ascii
from appliance.space.trail import DIRECTIONS, Line

COPY_NAMES = {b"0": "original", b"1": "copy 1", b"2": "copy 2", b"I": "copy 3 or later",
              b"A": "one-shot"}
CARD_KINDS = {b"LM": "staff", b"LR": "spare", b"LC": "invalid", b"LD": "unidentified"}
INCIDENTS = {"0": "opened", "1": "incident 1", "2": "invalid key", "3": "access denied",
             "4": "expired key", "5": "anti-passback"}
MAX_AUDIT_RECORDS = 10000  # a door's trail is finite; stop a server that never says WO


@dataclasses.dataclass(frozen=True)
class CardsEncoded:
    encoder: str
    count: int
    copy: bool
    serials: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class CardRead:
    encoder: str
    kind: str  # guest, staff, spare, invalid, unidentified
    rooms: tuple[str, ...] = ()
    valid: bool | None = None  # CI: still valid for its main room
    copy: str = ""
    authorizations: tuple[int, ...] = ()
    valid_from: datetime.datetime | None = None
    valid_until: datetime.datetime | None = None
    operator: str = ""


@dataclasses.dataclass(frozen=True)
class MobileKey:
    phone: str
    key_hex: str = ""  # binary keys only
    installation_id: str = ""


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    door: str
    date: str
    time: str
    incident: str
    direction: str
    card: str
    copy: str
    user: str


def wire_time(when: datetime.datetime | None) -> tuple[int, ...] | None:
    """A local wall time as the protocol's tuple; seconds are dropped."""
    if when is None:
        return None
    if when.tzinfo is not None:
        raise SpaceRequestError("times for Space are local wall time: convert %s to the "
                                "site's time zone first" % when.isoformat())
    return (when.year, when.month, when.day, when.hour, when.minute)


def from_wire_time(value: object) -> datetime.datetime | None:
    if value is None:
        return None
    assert isinstance(value, tuple)
    return datetime.datetime(*value)


def _text(data: bytes) -> str:
    return data.decode("latin-1")


def _build(cls: Any, *args: object, **kwargs: object) -> protocol.message.Message:
    try:
        message: protocol.message.Message = cls(*args, **kwargs)
        return message
    except protocol.LocalProtocolError as err:
        raise SpaceRequestError(str(err)) from err


class SpaceCommands:
    """The desk's commands over one ``SpaceClient``."""

    def __init__(self, client: SpaceClient, operator: str = "keybridge") -> None:
        self.client = client
        self.operator = to_ascii(operator)
        self._walking = asyncio.Lock()

    async def ping(self) -> bool:
        return await self.client.ping()

    async def encode(self, encoder: str, rooms: Iterable[str],
                     valid_from: datetime.datetime | None,
                     valid_until: datetime.datetime | None, count: int = 1,
                     copy: bool = False, one_shot: bool = False,
                     granted: Iterable[int] = (), denied: Iterable[int] = (),
                     print_info: Iterable[str] = (), eject: str = "E") -> CardsEncoded:
        """Cut ``count`` cards (new keys, copies, or one-shot keys).

        A new key makes the room's older cards stop working (CN). More than
        nine cards go as CN9 followed by copies: the command digit is one digit.
        """
        if not 1 <= count <= 10:
            raise SpaceRequestError("count must be 1 to 10, not %d" % count)
        first = b"CA" if one_shot else b"CC" if copy else b"CN"
        wire_rooms = tuple(to_ascii(r) for r in rooms)
        texts = tuple(to_ascii(t) for t in print_info)
        serials: list[str] = []
        done = 0
        while done < count:
            batch = min(count - done, 9)
            command = first if done == 0 else (b"CA" if one_shot else b"CC")
            request = _build(
                protocol.EncodeCard, command, to_ascii(encoder), wire_rooms,
                count=batch if batch > 1 else None, eject=eject.encode(),
                granted=tuple(granted), denied=tuple(denied), start=wire_time(valid_from),
                expiry=wire_time(valid_until), operator=self.operator,
                print_info=texts, serial_return=b"2")
            reply = await self.client.request(request)
            assert isinstance(reply, protocol.CardEncoded)
            serials.extend(_text(s) for s in reply.serials)
            done += batch
        return CardsEncoded(encoder, count, copy, tuple(serials))

    async def read(self, encoder: str, eject: str = "E") -> CardRead:
        """Read the card on the encoder, as Space reports it (LT)."""
        request = _build(protocol.ReadCard, to_ascii(encoder), eject.encode())
        reply = await self.client.request(request)
        if isinstance(reply, protocol.OtherCard):
            return CardRead(encoder, CARD_KINDS[reply.card_type])
        assert isinstance(reply, protocol.GuestCard)
        return CardRead(encoder, "guest", tuple(_text(r) for r in reply.rooms),
                        reply.status == b"CI", COPY_NAMES[reply.copy], tuple(reply.granted),
                        from_wire_time(reply.start), from_wire_time(reply.expiry),
                        _text(reply.operator))

    async def check_out(self, room: str) -> None:
        """Check the room out: its keys are no longer valid for it (CO)."""
        await self.client.request(_build(protocol.CheckOut, to_ascii(room)))

    async def modify(self, room: str, valid_until: datetime.datetime | None = None,
                     new_room: str = "") -> None:
        """Change an occupied room's check-in: a new end, or another room (MC)."""
        await self.client.request(_build(protocol.ModifyCheckIn, to_ascii(room),
                                         to_ascii(new_room), wire_time(valid_until)))

    async def mobile(self, phone: str, rooms: Iterable[str],
                     valid_from: datetime.datetime | None,
                     valid_until: datetime.datetime | None, copy: bool = False,
                     message: str = "", granted: Iterable[int] = (),
                     denied: Iterable[int] = (), binary: bool = False,
                     auth_code: str = "") -> MobileKey:
        """Send a JustIN Mobile key to a phone (CNM/CCM), or get it back (CNMB/CCMB)."""
        command = (b"CC" if copy else b"CN") + (b"MB" if binary else b"M")
        common = (command, to_ascii(phone), tuple(to_ascii(r) for r in rooms),
                  tuple(granted), tuple(denied), wire_time(valid_from),
                  wire_time(valid_until), self.operator)
        try:
            if binary:
                reply = await self.client.request(_build(
                    protocol.EncodeMobileBinary, *common, return_installation_id=b"1"))
                assert isinstance(reply, protocol.MobileKeyBinary)
                return MobileKey(phone, reply.key.hex().upper(), _text(reply.installation_id))
            await self.client.request(_build(protocol.EncodeMobile, *common,
                                             message=to_ascii(message, allow_lf=True),
                                             auth_code=to_ascii(auth_code)))
        except GeneralError as err:
            if err.target != to_ascii(phone).decode():
                raise
            raise PhoneNotRegistered(err.meaning, err.target, err.detail) from err
        return MobileKey(phone)

    async def read_track(self, encoder: str, track: int) -> str:
        reply = await self.client.request(_build(protocol.ReadTrack, track, to_ascii(encoder)))
        assert isinstance(reply, protocol.TrackRead)
        return _text(reply.text)

    async def write_track(self, encoder: str, track: int, text: str) -> None:
        await self.client.request(_build(protocol.WriteTrack, track, to_ascii(encoder),
                                         to_ascii(text)))

    async def audit(self, door: str, limit: int = MAX_AUDIT_RECORDS) -> list[AuditEntry]:
        """A door's audit trail, most recent first (WF, then WN until WO)."""
        entries: list[AuditEntry] = []
        records = self.walk(door)
        async with contextlib.aclosing(records):  # the walk's turn ends here, not at GC
            async for record in records:
                entries.append(_entry(door, record))
                if len(entries) >= limit:
                    break
        return entries

    async def walk(self, door: str, background: bool = False
                   ) -> AsyncGenerator[protocol.AuditRecord, None]:
        """A door's audit records, most recent first, one request each (WF, WN... until
        WO), so a ``background`` walk lets every desk request go first between records.

        One walk at a time: WN goes on from the last WF, so a second walk (the door-event
        poller and a reconciliation, say) would move the first one's place in the trail.
        Close the walk (``contextlib.aclosing``) when leaving it early."""
        async with self._walking:
            command = b"WF"
            for _ in range(MAX_AUDIT_RECORDS):
                reply = await self.client.request(_build(protocol.AuditRequest, command,
                                                         to_ascii(door)), background=background)
                if isinstance(reply, protocol.AuditEnd):
                    return
                if isinstance(reply, protocol.AuditError):
                    raise AuditUnavailable("the audit trail could not be read", door,
                                           _text(reply.detail))
                assert isinstance(reply, protocol.AuditRecord)
                yield reply
                command = b"WN"


def _entry(door: str, record: protocol.AuditRecord) -> AuditEntry:
    """A record as the technician reads it: the trail's fields (``trail.Line``), the incident
    and the reader in words."""
    line = Line.of(record)
    return AuditEntry(door, line.date, line.time, INCIDENTS.get(line.incident, line.incident),
                      DIRECTIONS.get(line.direction, ""), line.card, line.copy, line.user)
