"""The Salto PMS Industry Standard protocol: pure, sans-IO, CPython and MicroPython.

Bytes in, events out; time is an argument. Nothing imported here does I/O or
reads a clock. The asyncio shim (``protocol.aio``) and the async link driver
(``protocol.driver``) are imported explicitly by those who want them.

Stable public surface (used by tests outside this repository)::

    encode_frame(fields, lrc_skip=False) -> bytes
    FrameDecoder().feed(data) -> [Frame | Control | BadFrame, ...]
    lrc(data) -> int

Module map: constants (bytes, limits, timing), errors (the exception tree),
framing (LRC, frames), decoder (stream decoder), fields (field types),
message/requests/replies/catalogue (every command, both directions),
linkstate (the state tables), link (ClientLink, ServerLink), events.
"""

from .catalogue import ANSWERS, check_reply, decode_reply, decode_request
from .constants import (
    ACK,
    ACK_TIMEOUT_MS,
    ENQ,
    ENQ_INTERVAL_MS,
    ETX,
    LRC_SKIP,
    MAX_ENQ_POLLS,
    MAX_FRAME_BYTES,
    MAX_KEYS_ACCEPTED,
    MAX_KEYS_PER_REQUEST,
    MAX_SENDS,
    NAK,
    REPLY_TIMEOUT_MS,
    SEP,
    STX,
)
from .decoder import FrameDecoder
from .errors import (
    AckTimeout,
    CorruptReply,
    FieldError,
    LinkClosed,
    LinkFailure,
    LocalProtocolError,
    MalformedMessage,
    NotReady,
    ProtocolError,
    RemoteProtocolError,
    ReplyTimeout,
    UnexpectedByte,
    VendorError,
)
from .events import (
    Acked,
    Failed,
    ProbeResult,
    Rejected,
    Reply,
    ReplyAcknowledged,
    Request,
    Stray,
)
from .framing import BadFrame, Control, Frame, encode_frame, lrc, readable
from .link import ClientLink, ServerLink
from .replies import (
    ERROR_CODES,
    AuditEnd,
    AuditError,
    AuditRecord,
    CardEncoded,
    CheckedOut,
    CheckInModified,
    ErrorReply,
    GuestCard,
    MobileKeyBinary,
    MobileKeySent,
    OtherCard,
    TrackRead,
    TrackWritten,
)
from .requests import (
    AuditRequest,
    CheckOut,
    EncodeCard,
    EncodeMobile,
    EncodeMobileBinary,
    ModifyCheckIn,
    ReadCard,
    ReadTrack,
    WriteTrack,
)

__version__ = "0.1.0"

__all__ = [
    "ACK",
    "ACK_TIMEOUT_MS",
    "ANSWERS",
    "ENQ",
    "ENQ_INTERVAL_MS",
    "ERROR_CODES",
    "ETX",
    "LRC_SKIP",
    "MAX_ENQ_POLLS",
    "MAX_FRAME_BYTES",
    "MAX_KEYS_ACCEPTED",
    "MAX_KEYS_PER_REQUEST",
    "MAX_SENDS",
    "NAK",
    "REPLY_TIMEOUT_MS",
    "SEP",
    "STX",
    "AckTimeout",
    "Acked",
    "AuditEnd",
    "AuditError",
    "AuditRecord",
    "AuditRequest",
    "BadFrame",
    "CardEncoded",
    "CheckInModified",
    "CheckOut",
    "CheckedOut",
    "ClientLink",
    "Control",
    "CorruptReply",
    "EncodeCard",
    "EncodeMobile",
    "EncodeMobileBinary",
    "ErrorReply",
    "Failed",
    "FieldError",
    "Frame",
    "FrameDecoder",
    "GuestCard",
    "LinkClosed",
    "LinkFailure",
    "LocalProtocolError",
    "MalformedMessage",
    "MobileKeyBinary",
    "MobileKeySent",
    "ModifyCheckIn",
    "NotReady",
    "OtherCard",
    "ProbeResult",
    "ProtocolError",
    "ReadCard",
    "ReadTrack",
    "Rejected",
    "RemoteProtocolError",
    "Reply",
    "ReplyAcknowledged",
    "ReplyTimeout",
    "Request",
    "ServerLink",
    "Stray",
    "TrackRead",
    "TrackWritten",
    "UnexpectedByte",
    "VendorError",
    "WriteTrack",
    "check_reply",
    "decode_reply",
    "decode_request",
    "encode_frame",
    "lrc",
    "readable",
]
