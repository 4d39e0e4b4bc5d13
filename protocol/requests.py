"""Requests, PMS → Salto (§5). The client encodes them, the simulator decodes.

Field numbers in LAYOUT are the notes' 0-based numbers; field #0 is the command.
"""

from .fields import Authorizations, Choice, Date, Group, Phone, Text, auth_set
from .message import CountedMessage, Message, TrackMessage

# Shared field types. Limits marked [UNKNOWN] in the notes get a defensive 64.
ENCODER = Text(64, required=True)  # a Space encoder name or a HAMS number
ROOM = Text(24, required=True)  # §2.5
ROOMS = Group(ROOM, 4, minimum=1)  # main room first, then up to three more
# Clients in the field send CA (a one-shot card for shared doors) and even CN without a room;
# taken, so that the simulator's site rules answer them as Space would (not ES).
CARD_ROOMS = Group(ROOM, 4, minimum=1, accept_minimum=0)
OPTIONAL_ROOM = Text(24)
OPERATOR = Text(24)  # §2.5
# Three text lines, §5.2 #12-14. 24 is [MED] (PY truncates, RB does not): sent at most 24,
# taken up to 64.
PRINT_INFO = Group(Text(24, required=True, accept_len=64), 3)
AUTHS = Authorizations()
DATE = Date()
EJECT = Choice((b"E", b"R", b"T"))  # eject, retain, rear ejection (§4.3)
SERIAL_RETURN = Choice((b"0", b"1", b"2"), optional=True)  # none / last / all
INSTALLATION_ID = Choice((b"0", b"1"), optional=True)  # CNMB #14
PHONE = Phone()
MOBILE_TEXT = Text(256, allow_lf=True)  # §2.5; RB sends multi-line texts
AUTH_CODE = Text(64)  # PHP only, [LOW]
DOOR = Text(64, required=True)
TRACK_TEXT = Text(24, accept_len=64)  # as the card's text lines, [MED]


class EncodeCard(CountedMessage):
    """CN / CC / CA (§5.2): new guest cards, copies, or a one-shot card.

    ``count`` is the optional digit after the command (CN2: two cards);
    None sends the bare command.
    """

    CODES = (b"CN", b"CC", b"CA")
    LAYOUT = (
        ("encoder", 1, ENCODER),
        ("eject", 2, EJECT),
        ("rooms", 3, CARD_ROOMS),  # 3-6
        ("granted", 7, AUTHS),
        ("denied", 8, AUTHS),
        ("start", 9, DATE),
        ("expiry", 10, DATE),
        ("operator", 11, OPERATOR),
        ("print_info", 12, PRINT_INFO),  # 12-14
        ("serial_return", 15, SERIAL_RETURN),
    )

    def __init__(self, command: bytes, encoder: bytes, rooms: tuple[bytes, ...],
                 count: int | None = None, eject: bytes = b"E",
                 granted: tuple[int, ...] = (), denied: tuple[int, ...] = (),
                 start: tuple[int, ...] | None = None,
                 expiry: tuple[int, ...] | None = None, operator: bytes = b"",
                 print_info: tuple[bytes, ...] = (), serial_return: bytes = b"") -> None:
        super().__init__(command)
        self.count = count
        self.encoder = encoder
        self.eject = eject
        self.rooms = tuple(rooms)
        self.granted = auth_set(granted)
        self.denied = auth_set(denied)
        self.start = start
        self.expiry = expiry
        self.operator = operator
        self.print_info = tuple(print_info)
        self.serial_return = serial_return
        self._validate()


class _MobileBase(Message):
    """Shared fields of CNM/CCM and CNMB/CCMB: CN's layout without eject."""

    def _set(self, phone: bytes, rooms: tuple[bytes, ...], granted: tuple[int, ...],
             denied: tuple[int, ...], start: tuple[int, ...] | None,
             expiry: tuple[int, ...] | None, operator: bytes) -> None:
        self.phone = phone
        self.rooms = tuple(rooms)
        self.granted = auth_set(granted)
        self.denied = auth_set(denied)
        self.start = start
        self.expiry = expiry
        self.operator = operator


MOBILE_LAYOUT = (
    ("phone", 1, PHONE),
    ("rooms", 2, ROOMS),  # 2-5
    ("granted", 6, AUTHS),
    ("denied", 7, AUTHS),
    ("start", 8, DATE),
    ("expiry", 9, DATE),
    ("operator", 10, OPERATOR),
)


class EncodeMobile(_MobileBase):
    """CNM / CCM (§5.3): a JustIN Mobile key sent over the air to a phone."""

    CODES = (b"CNM", b"CCM")
    LAYOUT = MOBILE_LAYOUT + (("message", 14, MOBILE_TEXT), ("auth_code", 15, AUTH_CODE))

    def __init__(self, command: bytes, phone: bytes, rooms: tuple[bytes, ...],
                 granted: tuple[int, ...] = (), denied: tuple[int, ...] = (),
                 start: tuple[int, ...] | None = None,
                 expiry: tuple[int, ...] | None = None, operator: bytes = b"",
                 message: bytes = b"", auth_code: bytes = b"") -> None:
        super().__init__(command)
        self._set(phone, rooms, granted, denied, start, expiry, operator)
        self.message = message
        self.auth_code = auth_code
        self._validate()


class EncodeMobileBinary(_MobileBase):
    """CNMB / CCMB (§5.4): as CNM/CCM, but the key comes back to the PMS."""

    CODES = (b"CNMB", b"CCMB")
    LAYOUT = MOBILE_LAYOUT + (("return_installation_id", 14, INSTALLATION_ID),)

    def __init__(self, command: bytes, phone: bytes, rooms: tuple[bytes, ...],
                 granted: tuple[int, ...] = (), denied: tuple[int, ...] = (),
                 start: tuple[int, ...] | None = None,
                 expiry: tuple[int, ...] | None = None, operator: bytes = b"",
                 return_installation_id: bytes = b"") -> None:
        super().__init__(command)
        self._set(phone, rooms, granted, denied, start, expiry, operator)
        self.return_installation_id = return_installation_id
        self._validate()


class CheckOut(Message):
    """CO (§5.5): check a room out. Field #1 is always 0: no encoder is used."""

    CODES = (b"CO",)
    LAYOUT = (("slot", 1, Choice((b"0",))), ("room", 2, ROOM))

    def __init__(self, room: bytes, command: bytes = b"CO", slot: bytes = b"0") -> None:
        super().__init__(command)
        self.slot = slot
        self.room = room
        self._validate()


class ModifyCheckIn(Message):
    """MC (§5.6, [LOW], PHP only): change an occupied room's check-in."""

    CODES = (b"MC",)
    LAYOUT = (("room", 1, ROOM), ("new_room", 2, OPTIONAL_ROOM),
              ("expiry", 3, DATE), ("auth_code", 4, AUTH_CODE))

    def __init__(self, room: bytes, new_room: bytes = b"",
                 expiry: tuple[int, ...] | None = None, auth_code: bytes = b"",
                 command: bytes = b"MC") -> None:
        super().__init__(command)
        self.room = room
        self.new_room = new_room
        self.expiry = expiry
        self.auth_code = auth_code
        self._validate()


class ReadCard(Message):
    """LT (§5.7): read the card lying on an encoder."""

    CODES = (b"LT",)
    LAYOUT = (("encoder", 1, ENCODER), ("eject", 2, EJECT))

    def __init__(self, encoder: bytes, eject: bytes = b"E", command: bytes = b"LT") -> None:
        super().__init__(command)
        self.encoder = encoder
        self.eject = eject
        self._validate()


class ReadTrack(TrackMessage):
    """L1 / L2 / L3 (§5.8): read a text track of the card on an encoder."""

    CODES = (b"L",)
    LAYOUT = (("encoder", 1, ENCODER), ("eject", 2, EJECT))

    def __init__(self, track: int, encoder: bytes, eject: bytes = b"E",
                 command: bytes = b"L") -> None:
        super().__init__(command)
        self.track = track
        self.encoder = encoder
        self.eject = eject
        self._validate()


class WriteTrack(TrackMessage):
    """P1 / P2 / P3 (§5.8): write a text track of the card on an encoder."""

    CODES = (b"P",)
    LAYOUT = (("encoder", 1, ENCODER), ("eject", 2, EJECT), ("text", 3, TRACK_TEXT))

    def __init__(self, track: int, encoder: bytes, text: bytes, eject: bytes = b"E",
                 command: bytes = b"P") -> None:
        super().__init__(command)
        self.track = track
        self.encoder = encoder
        self.eject = eject
        self.text = text
        self._validate()


class AuditRequest(Message):
    """WF / WN / WR (§5.9): first, next, or repeat a door's audit record."""

    CODES = (b"WF", b"WN", b"WR")
    LAYOUT = (("door", 1, DOOR),)

    def __init__(self, command: bytes, door: bytes) -> None:
        super().__init__(command)
        self.door = door
        self._validate()


REQUEST_CLASSES = (EncodeCard, EncodeMobile, EncodeMobileBinary, CheckOut,
                   ModifyCheckIn, ReadCard, ReadTrack, WriteTrack, AuditRequest)
