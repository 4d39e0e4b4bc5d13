"""Replies, Salto → PMS (§5, §6). The simulator encodes them, the client decodes.

A success reply echoes the request's command in field #0 and its encoder or
phone in field #1 (§6). An error reply puts one of the 13 error codes in
field #0 instead. Layouts the notes mark [UNKNOWN] are our documented choice:
serial numbers follow the encoder one per field, and CO/MC echo their room.
"""

from .errors import FieldError, VendorError
from .fields import Choice, Codec, Group, Hex, Invalid, Text, auth_set, quoted
from .message import CountedMessage, Message, TrackMessage
from .requests import AUTHS, DATE, PHONE

# Reply text may be Latin-1 (§2.4); limits as for requests.
ENCODER = Text(64, required=True, latin1=True)
ROOM = Text(24, required=True, latin1=True)
ROOMS = Group(ROOM, 4, minimum=1)
# LT of a one-shot card made for shared doors only (a CA with no room) names no room.
CARD_ROOMS = Group(ROOM, 4)
OPTIONAL_ROOM = Text(24, latin1=True)
OPERATOR = Text(24, latin1=True)

# §6: every error code Salto may put in field #0, with its meaning.
ERROR_CODES = {
    b"ES": "syntax error: unknown command, nonsensical parameters or forbidden characters",
    b"NC": "no communication with the encoder: it is off or disconnected",
    b"NF": "the PC interface's database file is missing or damaged",
    b"OV": "overflow: the encoder is still busy with a previous job",
    b"EP": "card error: no card, or the card is badly inserted",
    b"EF": "format error: the card was written by another system or is damaged",
    b"TD": "unknown room",
    b"ED": "timed out waiting for a card; the operation was cancelled",
    b"EA": "copy refused: the room is checked out",
    b"OS": "the room is out of service",
    b"EO": "the guest card is being encoded by another station",
    b"EV": "the card belongs to a valid staff user and was not overwritten",
    b"EG": "general error",
}

SERIAL = Text(32, required=True)  # format [UNKNOWN]: one card serial per field
TARGET = Text(64, latin1=True)  # encoder, phone or room named by an error reply
FREE_TEXT = Text(256, allow_lf=True, latin1=True)  # EG's and WE's descriptions
NAME = Text(64, latin1=True)  # door and user names, installation ids, track text


class Shape(Codec):
    """Fixed-shape text such as ``NN/NN``: N is a digit, other bytes literal."""

    def __init__(self, shape: bytes):
        self.shape = shape

    def encode(self, value: object) -> bytes:
        if not isinstance(value, bytes):
            raise Invalid("must be bytes")
        return self.decode(value)  # type: ignore[return-value]

    def decode(self, raw: bytes) -> object:
        ok = len(raw) == len(self.shape)
        for want, got in zip(self.shape, raw):
            ok = ok and (0x30 <= got <= 0x39 if want == 0x4E else got == want)
        if not ok:
            raise Invalid("%s does not have the shape %s" % (quoted(raw), self.shape.decode()))
        return raw

    def from_wire(self, raw: list[bytes]) -> object:
        return self.decode(raw[0])


class CardEncoded(CountedMessage):
    """Success of CN / CC / CA: ``|CN|<encoder>|`` plus any serial numbers."""

    CODES = (b"CN", b"CC", b"CA")
    LAYOUT = (("encoder", 1, ENCODER), ("serials", 2, Group(SERIAL, 9)))

    def __init__(self, command: bytes, encoder: bytes,
                 serials: tuple[bytes, ...] = (), count: int | None = None) -> None:
        super().__init__(command)
        self.encoder = encoder
        self.serials = tuple(serials)
        self.count = count  # echoed suffix, if Space echoes it
        self._validate()


class MobileKeySent(Message):
    """Success of CNM / CCM: ``|CNM|<phone>|`` (a room may follow, [LOW])."""

    CODES = (b"CNM", b"CCM")
    LAYOUT = (("phone", 1, PHONE), ("room", 2, OPTIONAL_ROOM))

    def __init__(self, command: bytes, phone: bytes, room: bytes = b"") -> None:
        super().__init__(command)
        self.phone = phone
        self.room = room
        self._validate()


class MobileKeyBinary(Message):
    """Success of CNMB / CCMB: the binary key (hex on the wire) and installation id."""

    CODES = (b"CNMB", b"CCMB")
    LAYOUT = (("phone", 1, PHONE), ("key", 2, Hex(1024)), ("installation_id", 3, NAME))

    def __init__(self, command: bytes, phone: bytes, key: bytes,
                 installation_id: bytes = b"") -> None:
        super().__init__(command)
        self.phone = phone
        self.key = key
        self.installation_id = installation_id
        self._validate()


class CheckedOut(Message):
    """Success of CO: ``|CO|0|<room>|`` ([LOW]: the echo is our assumption)."""

    CODES = (b"CO",)
    LAYOUT = (("slot", 1, Choice((b"0",))), ("room", 2, ROOM))

    def __init__(self, room: bytes, command: bytes = b"CO", slot: bytes = b"0") -> None:
        super().__init__(command)
        self.slot = slot
        self.room = room
        self._validate()


class CheckInModified(Message):
    """Success of MC: ``|MC|<room>|`` ([LOW]: MC is PHP-only)."""

    CODES = (b"MC",)
    LAYOUT = (("room", 1, ROOM),)

    def __init__(self, room: bytes, command: bytes = b"MC") -> None:
        super().__init__(command)
        self.room = room
        self._validate()


NON_GUEST_CARDS = (b"LM", b"LR", b"LC", b"LD")  # staff, spare, invalid, unidentified


class GuestCard(Message):
    """LT reply for a guest card (§5.7): rooms, CI/CO, copy number, validity."""

    CODES = (b"LT",)
    LAYOUT = (
        ("encoder", 1, ENCODER),
        ("rooms", 2, CARD_ROOMS),  # 2-5
        ("status", 6, Choice((b"CI", b"CO"))),  # valid for the main room, or not
        ("copy", 7, Choice((b"0", b"1", b"2", b"I", b"A"))),  # I: 3rd+, A: one-shot
        ("granted", 8, AUTHS),
        ("start", 9, DATE),
        ("expiry", 10, DATE),
        ("operator", 11, OPERATOR),
    )

    def __init__(self, encoder: bytes, rooms: tuple[bytes, ...], status: bytes,
                 copy: bytes, granted: tuple[int, ...] = (),
                 start: tuple[int, ...] | None = None,
                 expiry: tuple[int, ...] | None = None, operator: bytes = b"",
                 command: bytes = b"LT") -> None:
        super().__init__(command)
        self.encoder = encoder
        self.rooms = tuple(rooms)
        self.status = status
        self.copy = copy
        self.granted = auth_set(granted)
        self.start = start
        self.expiry = expiry
        self.operator = operator
        if self.rooms and self.rooms[0] in NON_GUEST_CARDS:
            # On the wire this would read as a staff/spare/invalid card (§4.3).
            raise FieldError(command, "rooms", "a main room may not be named LM, LR, LC or LD")
        self._validate()

    @classmethod
    def from_fields(cls, fields: list[bytes]) -> Message:
        if len(fields) > 2 and fields[2] in NON_GUEST_CARDS:
            return OtherCard.from_fields(fields)
        return super().from_fields(fields)


class OtherCard(Message):
    """LT reply for a card that is not a guest card: LM, LR, LC or LD."""

    CODES = (b"LT",)
    LAYOUT = (("encoder", 1, ENCODER), ("card_type", 2, Choice(NON_GUEST_CARDS)))

    def __init__(self, encoder: bytes, card_type: bytes, command: bytes = b"LT") -> None:
        super().__init__(command)
        self.encoder = encoder
        self.card_type = card_type
        self._validate()


class TrackRead(TrackMessage):
    """Success of L1-L3: ``|L1|<encoder>|<text>|``."""

    CODES = (b"L",)
    LAYOUT = (("encoder", 1, ENCODER), ("text", 2, NAME))

    def __init__(self, track: int, encoder: bytes, text: bytes = b"",
                 command: bytes = b"L") -> None:
        super().__init__(command)
        self.track = track
        self.encoder = encoder
        self.text = text
        self._validate()


class TrackWritten(TrackMessage):
    """Success of P1-P3: ``|P1|<encoder>|``."""

    CODES = (b"P",)
    LAYOUT = (("encoder", 1, ENCODER),)

    def __init__(self, track: int, encoder: bytes, command: bytes = b"P") -> None:
        super().__init__(command)
        self.track = track
        self.encoder = encoder
        self._validate()


class AuditRecord(Message):
    """One audit-trail record of a door (§5.9, §4.3).

    ``date`` is ``dd/mm`` or ``mm/dd`` as the interface is configured, so it
    stays text; ``card`` keeps its padding (``STAFF   ``).
    """

    CODES = (b"WF", b"WN", b"WR")
    LAYOUT = (
        ("door", 1, Text(64, required=True, latin1=True)),
        ("date", 2, Shape(b"NN/NN")),
        ("time", 3, Shape(b"NN:NN")),
        # The codes of fields 4, 5 and 7 known from §4.3 (incident 0-5; direction I, O;
        # copy #0 #1 #2 #D @1 S1 S2 S3) are not enforced: any other is passed on, because a
        # record refused here would stop every later walk of the door at it.
        ("incident", 4, Text(8, required=True, latin1=True)),
        ("direction", 5, Text(2, latin1=True)),
        ("card", 6, Text(24, latin1=True)),
        ("copy", 7, Text(4, latin1=True)),
        ("user", 8, NAME),
    )

    def __init__(self, command: bytes, door: bytes, date: bytes, time: bytes,
                 incident: bytes, direction: bytes = b"", card: bytes = b"",
                 copy: bytes = b"", user: bytes = b"") -> None:
        super().__init__(command)
        self.door = door
        self.date = date
        self.time = time
        self.incident = incident
        self.direction = direction
        self.card = card
        self.copy = copy
        self.user = user
        self._validate()


class AuditEnd(Message):
    """WO: no more records for the door (also for an empty trail)."""

    CODES = (b"WO",)
    LAYOUT = (("door", 1, NAME),)

    def __init__(self, door: bytes = b"", command: bytes = b"WO") -> None:
        super().__init__(command)
        self.door = door
        self._validate()


class AuditError(Message):
    """WE: the audit trail could not be read (unknown door, database...)."""

    CODES = (b"WE",)
    LAYOUT = (("door", 1, NAME), ("detail", 2, FREE_TEXT))

    def __init__(self, door: bytes = b"", detail: bytes = b"", command: bytes = b"WE") -> None:
        super().__init__(command)
        self.door = door
        self.detail = detail
        self._validate()


class ErrorReply(Message):
    """An error code in field #0 (§6), the encoder/phone/room, and EG's text.

    RB/PY read an EG reply's message from its last field; the layout of the
    other codes is inferred ([LOW]), so both extra fields are optional.
    """

    CODES = tuple(ERROR_CODES)
    LAYOUT = (("target", 1, TARGET), ("detail", 2, FREE_TEXT))

    def __init__(self, command: bytes, target: bytes = b"", detail: bytes = b"") -> None:
        super().__init__(command)
        self.target = target
        self.detail = detail
        self._validate()

    @property
    def meaning(self) -> str:
        return ERROR_CODES[self.command]

    def to_error(self) -> VendorError:
        return VendorError(self.command, self.meaning, self.target, self.detail)


REPLY_CLASSES = (CardEncoded, MobileKeySent, MobileKeyBinary, CheckedOut,
                 CheckInModified, GuestCard, TrackRead, TrackWritten, AuditRecord,
                 AuditEnd, AuditError, ErrorReply)
