"""Field types: each converts one value to its wire bytes and back.

A codec spans ``width`` consecutive fields (1 for all but ``Group``).
``to_wire(value)`` returns a list of ``width`` byte strings; ``from_wire(raw)``
takes such a list back. Both raise ``Invalid`` with the reason in words; the
message layer turns it into FieldError (sending) or MalformedMessage
(receiving), naming the field.

Values are bytes end to end (ARCHITECTURE.md): text fields are ASCII bytes,
dates are time tuples ``(year, month, day, hour, minute)``, authorization
sets are sorted tuples of ints 1..62.
"""

from .constants import AUTHORIZATION_COUNT, FORBIDDEN_BYTES

_LF = 0x0A


class Invalid(Exception):
    """A value does not fit its field; args[0] says why."""


class Codec:
    """Base: a single field whose value is its bytes."""

    width = 1
    empty: object = b""  # the value an empty field decodes to

    def to_wire(self, value: object) -> list[bytes]:
        return [self.encode(value)]

    def from_wire(self, raw: list[bytes]) -> object:
        return self.empty if raw[0] == b"" else self.decode(raw[0])

    def encode(self, value: object) -> bytes:
        raise NotImplementedError

    def decode(self, raw: bytes) -> object:
        raise NotImplementedError


def _need_bytes(value: object) -> bytes:
    if not isinstance(value, bytes):
        raise Invalid("must be bytes, not %s" % type(value).__name__)
    return value


class Text(Codec):
    """Free text of at most ``max_len`` bytes.

    What the PMS sends is printable ASCII only (and LF where ``allow_lf``):
    the appliance transliterates names before they get here, and Space's
    reading of anything else is unknown (§2.4). What Space sends may be
    Latin-1 (§2.4: "decode replies as Windows-1252/Latin-1"), so reply fields
    use ``latin1``: printable Latin-1 is allowed both ways. Decoding takes any
    byte the framing allows but a control byte (a PMS in the field may send
    Latin-1; Space's own limits are the simulator's site rules).
    """

    def __init__(self, max_len: int, required: bool = False, allow_lf: bool = False,
                 latin1: bool = False, accept_len: int = 0):
        self.max_len = max_len
        self.required = required
        self.allow_lf = allow_lf
        self.latin1 = latin1
        # Postel: where the notes' limit is only [MED], longer text from a peer is taken
        # (the simulator's site rules decide what Space makes of it); ours stays in max_len.
        self.accept_len = max(accept_len, max_len)

    def encode(self, value: object) -> bytes:
        data = self._checked(_need_bytes(value), self.max_len)
        for byte in data:
            if not self._printable(byte):
                kind = "Latin-1" if self.latin1 else "ASCII"
                raise Invalid("byte 0x%02X is not printable %s" % (byte, kind))
        return data

    def _printable(self, byte: int) -> bool:
        if 0x20 <= byte < 0x7F or (byte == _LF and self.allow_lf):
            return True
        return self.latin1 and byte >= 0xA0

    def decode(self, raw: bytes) -> object:
        data = self._checked(raw, self.accept_len)
        for byte in data:  # Latin-1 and Windows-1252 letters are taken, control bytes not
            if (byte < 0x20 and not (byte == _LF and self.allow_lf)) or byte == 0x7F:
                raise Invalid("has the control byte 0x%02X" % byte)
        return data

    def from_wire(self, raw: list[bytes]) -> object:
        return self.decode(raw[0])

    def _checked(self, data: bytes, limit: int) -> bytes:
        if self.required and not data:
            raise Invalid("is required")
        if len(data) > limit:
            raise Invalid("is %d bytes, at most %d allowed" % (len(data), limit))
        for byte in FORBIDDEN_BYTES:
            if byte in data:
                raise Invalid("contains the forbidden byte 0x%02X" % byte)
        return data


class Choice(Codec):
    """One of a fixed set of byte values (eject E/R/T, serial return 0/1/2...)."""

    def __init__(self, values: tuple[bytes, ...], optional: bool = False):
        self.values = values
        self.optional = optional

    def encode(self, value: object) -> bytes:
        if self.optional and value == b"":
            return b""
        return self.decode(_need_bytes(value))  # type: ignore[return-value]

    def decode(self, raw: bytes) -> object:
        if raw not in self.values:
            allowed = ", ".join(v.decode() for v in self.values)
            raise Invalid("%s is not one of %s" % (quoted(raw), allowed))
        return raw

    def from_wire(self, raw: list[bytes]) -> object:
        if raw[0] == b"" and self.optional:
            return b""
        return self.decode(raw[0])


def _digits(raw: bytes, what: str) -> int:
    if not raw or not all(0x30 <= byte <= 0x39 for byte in raw):
        raise Invalid("%s %s is not all digits" % (what, quoted(raw)))
    return int(raw)


def quoted(raw: bytes) -> str:
    """A field's bytes in a message, quoted, never as a Python bytes literal."""
    return "'%s'" % "".join(chr(c) if 0x20 <= c < 0x7F else "?" for c in raw)


def days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


class Date(Codec):
    """``hhmmDDMMYY`` local time (§4.1) as ``(year, month, day, hour, minute)``.

    Empty is ``None`` (§4.1: sent when unknown). Years are 2000..2099.
    """

    empty = None

    def encode(self, value: object) -> bytes:
        if value is None:
            return b""
        if not isinstance(value, tuple) or len(value) != 5:
            raise Invalid("must be a (year, month, day, hour, minute) tuple")
        year, month, day, hour, minute = value
        check_time(year, month, day, hour, minute)
        return b"%02d%02d%02d%02d%02d" % (hour, minute, day, month, year - 2000)

    def decode(self, raw: bytes) -> object:
        if len(raw) != 10:
            raise Invalid("%s is not hhmmDDMMYY (10 digits)" % quoted(raw))
        _digits(raw, "date")
        hour, minute, day, month, yy = (int(raw[i : i + 2]) for i in range(0, 10, 2))
        check_time(2000 + yy, month, day, hour, minute)
        return (2000 + yy, month, day, hour, minute)


def check_time(year: object, month: object, day: object, hour: object, minute: object) -> None:
    """Raise Invalid unless the five parts make a real local time."""
    for part in (year, month, day, hour, minute):
        if type(part) is not int:
            raise Invalid("date parts must be ints")
    assert isinstance(year, int) and isinstance(month, int) and isinstance(day, int)
    assert isinstance(hour, int) and isinstance(minute, int)
    if not 2000 <= year <= 2099:
        raise Invalid("year %d is outside 2000..2099" % year)
    if not 1 <= month <= 12:
        raise Invalid("month %d is outside 1..12" % month)
    if not 1 <= day <= days_in_month(year, month):
        raise Invalid("day %d does not exist in %d-%02d" % (day, year, month))
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise Invalid("time %02d:%02d is not a time of day" % (hour, minute))


# §4.2: one character per authorization, 1-9, a-z, then 27 punctuation marks.
AUTHORIZATION_CHARS = b"123456789abcdefghijklmnopqrstuvwxyz!#$%&()*+,-./:;<=>?@[\\]^_{}"


def auth_set(value: object) -> tuple[int, ...]:
    """The canonical (sorted, unique) form of an authorization collection.

    Left as given when it cannot be sorted, so ``Authorizations`` can name
    the bad value instead of ``sorted`` raising TypeError; the tuple then
    holds whatever the caller passed, and validation refuses it.
    """
    if not isinstance(value, (tuple, list, set, frozenset)):
        return value  # type: ignore[return-value]
    try:
        return tuple(sorted(set(value)))
    except TypeError:
        return tuple(value)


class Authorizations(Codec):
    """A set of PMS authorizations (1..62) as a sorted tuple of ints."""

    empty = ()

    def encode(self, value: object) -> bytes:
        if not isinstance(value, (tuple, list, set, frozenset)):
            raise Invalid("must be a collection of ints 1..%d" % AUTHORIZATION_COUNT)
        out = bytearray()
        for number in auth_set(value):
            if type(number) is not int or not 1 <= number <= AUTHORIZATION_COUNT:
                raise Invalid("%r is not an authorization 1..%d" % (number, AUTHORIZATION_COUNT))
            out.append(AUTHORIZATION_CHARS[number - 1])
        return bytes(out)

    def decode(self, raw: bytes) -> object:
        numbers = set()
        for byte in raw:
            index = AUTHORIZATION_CHARS.find(bytes([byte]))
            if index < 0:
                raise Invalid("%r is not an authorization character" % chr(byte))
            numbers.add(index + 1)
        return tuple(sorted(numbers))


class Phone(Codec):
    """A phone number (§4.4). Sent: international only, ``+`` or ``00`` and 7..15 digits
    (E.164). Taken: also a national number of digits (``0612345678``), which clients in the
    field send; whether Space knows it is Space's to say (EG: not registered), not a
    syntax error."""

    def encode(self, value: object) -> bytes:
        raw = _need_bytes(value)
        if raw.startswith(b"+"):
            digits = raw[1:]
        elif raw.startswith(b"00"):
            digits = raw[2:]
        else:
            raise Invalid("%s is not international: start with + and the country code"
                          % quoted(raw))
        _digits(digits, "phone number")
        if not 7 <= len(digits) <= 15 or digits.startswith(b"0"):
            raise Invalid("%s is not an E.164 number (country code, 7-15 digits)" % quoted(raw))
        return raw

    def decode(self, raw: bytes) -> object:
        _digits(raw[1:] if raw.startswith(b"+") else raw, "phone number")
        if not 4 <= len(raw) <= 20:
            raise Invalid("%s is not a phone number (4-20 characters)" % quoted(raw))
        return raw

    def from_wire(self, raw: list[bytes]) -> object:
        return self.decode(raw[0])


class Hex(Codec):
    """Binary data carried as a hex string (CNMB key); the value is raw bytes."""

    def __init__(self, max_len: int):
        self.max_len = max_len

    def encode(self, value: object) -> bytes:
        data = _need_bytes(value)
        if not data or len(data) * 2 > self.max_len:
            raise Invalid("must be 1..%d bytes" % (self.max_len // 2))
        return data.hex().upper().encode()

    def decode(self, raw: bytes) -> object:
        if len(raw) % 2 or len(raw) > self.max_len:
            raise Invalid("%s is not a hex string of at most %d digits"
                          % (quoted(raw), self.max_len))
        try:
            return bytes.fromhex(raw.decode())
        except ValueError:
            raise Invalid("%s is not a hex string" % quoted(raw))

    def from_wire(self, raw: list[bytes]) -> object:
        return self.decode(raw[0])


class Group(Codec):
    """``width`` consecutive fields of one codec, as a tuple without the empties.

    Rooms 1-4 and the three text lines are groups. Values fill the first
    fields; the rest are sent empty. ``minimum`` values are required.
    """

    empty = ()

    def __init__(self, item: Codec, width: int, minimum: int = 0, accept_minimum: int = -1):
        self.item = item
        self.width = width
        self.minimum = minimum
        # Taken with fewer values where a peer may send fewer (a CA with no room).
        self.accept_minimum = minimum if accept_minimum < 0 else accept_minimum

    def to_wire(self, value: object) -> list[bytes]:
        if not isinstance(value, (tuple, list)):
            raise Invalid("must be a tuple of up to %d values" % self.width)
        values = tuple(value)
        self._check_count(values, self.minimum)
        wire = [self.item.encode(v) for v in values]
        if b"" in wire:
            raise Invalid("must not contain empty values")
        return wire + [b""] * (self.width - len(wire))

    def from_wire(self, raw: list[bytes]) -> object:
        values = tuple(self.item.decode(r) for r in raw if r != b"")
        self._check_count(values, self.accept_minimum)
        return values

    def _check_count(self, values: tuple[object, ...], minimum: int) -> None:
        if not minimum <= len(values) <= self.width:
            raise Invalid("needs %d to %d values, got %d" % (minimum, self.width, len(values)))
