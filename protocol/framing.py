"""Frames on the wire: LRC, encoding, and what the stream decoder yields.

Grammar (§2.2)::

    frame = STX SEP field0 SEP field1 ... SEP fieldN SEP ETX LRC

LRC (§2.3) is the XOR of every byte after STX up to and including ETX.
A receiver that finds LRC_SKIP (0x0D) in the LRC position does not check it.
"""

from .constants import ETX, FORBIDDEN_BYTES, LRC_SKIP, MAX_FRAME_BYTES, SEP, STX
from .errors import LocalProtocolError

_SEP_BYTES = bytes([SEP])


def lrc(data: bytes) -> int:
    """XOR of every byte of ``data``; pass the bytes after STX through ETX."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def check_field(value: bytes) -> str:
    """Why ``value`` cannot travel as a field, or '' when it can."""
    if not isinstance(value, (bytes, bytearray)):
        return "must be bytes, not %s" % type(value).__name__
    for byte in FORBIDDEN_BYTES:
        if byte in value:
            return "contains the forbidden byte 0x%02X" % byte
    return ""


def encode_frame(fields: list[bytes], lrc_skip: bool = False) -> bytes:
    """The frame's bytes for a list of ``bytes`` fields.

    Args:
        fields: field #0 (the command) first; empty fields are b''.
        lrc_skip: send LRC_SKIP instead of the computed LRC.

    Raises:
        LocalProtocolError: no fields, a field that is not bytes or contains
            STX, ETX or SEP, or a frame longer than MAX_FRAME_BYTES.
    """
    if not fields:
        raise LocalProtocolError("a frame needs at least one field")
    for index, value in enumerate(fields):
        problem = check_field(value)
        if problem:
            raise LocalProtocolError("field #%d %s" % (index, problem))
    body = _SEP_BYTES + _SEP_BYTES.join(fields) + _SEP_BYTES + bytes([ETX])
    if len(body) + 2 > MAX_FRAME_BYTES:
        raise LocalProtocolError(
            "frame of %d bytes exceeds MAX_FRAME_BYTES (%d)"
            % (len(body) + 2, MAX_FRAME_BYTES)
        )
    check = LRC_SKIP if lrc_skip else lrc(body)
    return bytes([STX]) + body + bytes([check])


def readable(fields: list[bytes]) -> str:
    """The notes' readable form: ``|CN|Online Encoder 1|``, each ``|`` a SEP.

    Bytes outside printable ASCII, and the `|` and `\\` themselves, appear as
    ``\\xNN``, so the form is unambiguous and logs stay on one line.
    """
    out = []
    for value in fields:
        out.append("".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x5C, 0x7C) else "\\x%02x" % b
                           for b in value))
    return "|" + "|".join(out) + "|"


def split_body(body: bytes) -> list[bytes] | None:
    """Fields of a frame body (SEP ... ETX), or None if it has no leading SEP.

    A missing final separator is tolerated (§2.2, [MED]).
    """
    if len(body) < 2 or body[0] != SEP:
        return None
    content = body[1:-1]
    if content.endswith(_SEP_BYTES):
        content = content[:-1]
    return content.split(_SEP_BYTES)


class Frame:
    """A complete frame whose LRC checked out (or was skipped).

    Attributes:
        fields: list of ``bytes``, field #0 first, trailing empties kept.
        lrc_skipped: the sender put LRC_SKIP in the LRC position.
    """

    def __init__(self, fields: list[bytes], lrc_skipped: bool = False) -> None:
        self.fields = fields
        self.lrc_skipped = lrc_skipped

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Frame) and other.fields == self.fields

    def __repr__(self) -> str:
        return "Frame(%r)" % (self.fields,)


class Control:
    """A control byte outside a frame: ``byte`` is ENQ, ACK or NAK."""

    def __init__(self, byte: int) -> None:
        self.byte = byte

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Control) and other.byte == self.byte

    def __repr__(self) -> str:
        return "Control(0x%02X)" % self.byte


class BadFrame:
    """Bytes the decoder dropped, and why (one of the ``BadFrame.*`` reasons).

    Attributes:
        reason: BAD_LRC, TRUNCATED, TOO_LONG, NO_SEPARATOR or GARBAGE.
        data: the dropped bytes (capped at MAX_FRAME_BYTES).
    """

    BAD_LRC = "bad LRC"
    TRUNCATED = "STX before ETX: frame truncated"
    TOO_LONG = "frame longer than MAX_FRAME_BYTES"
    NO_SEPARATOR = "no separator after STX"
    GARBAGE = "bytes outside a frame"

    def __init__(self, reason: str, data: bytes = b"") -> None:
        self.reason = reason
        self.data = data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BadFrame) and other.reason == self.reason

    def __repr__(self) -> str:
        return "BadFrame(%r, %d bytes)" % (self.reason, len(self.data))
