"""Which class handles which field #0, and which replies answer which request.

The simulator calls ``decode_request`` on the frames it receives and sends
``reply.fields()``; the client sends ``request.fields()`` and calls
``decode_reply`` on the answer, then ``check_reply`` to be sure it is the
answer to what it asked (the protocol has no message ids, §3.1).
"""

from .errors import MalformedMessage
from .message import Message, Registry
from .replies import (
    REPLY_CLASSES,
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
    REQUEST_CLASSES,
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

REQUESTS = Registry(REQUEST_CLASSES)
REPLIES = Registry(REPLY_CLASSES)

# Request class -> the success replies that may answer it. An ErrorReply may
# answer any request.
ANSWERS: dict[type[Message], tuple[type[Message], ...]] = {
    EncodeCard: (CardEncoded,),
    EncodeMobile: (MobileKeySent,),
    EncodeMobileBinary: (MobileKeyBinary,),
    CheckOut: (CheckedOut,),
    ModifyCheckIn: (CheckInModified,),
    ReadCard: (GuestCard, OtherCard),
    ReadTrack: (TrackRead,),
    WriteTrack: (TrackWritten,),
    AuditRequest: (AuditRecord, AuditEnd, AuditError),
}

# Replies that echo the request's command (CN answers CN, not CC).
_ECHOES = (CardEncoded, MobileKeySent, MobileKeyBinary, TrackRead, TrackWritten)


def decode_request(fields: list[bytes]) -> Message:
    """The request in a frame's fields.

    Raises:
        MalformedMessage: unknown command, or a field that does not decode;
            a Space server answers this with ES.
    """
    return REQUESTS.decode(fields)


def decode_reply(fields: list[bytes]) -> Message:
    """The reply in a frame's fields (a success echo, ErrorReply, WO or WE).

    Raises:
        MalformedMessage: unknown code, or a field that does not decode.
    """
    return REPLIES.decode(fields)


def check_reply(request: Message, reply: Message) -> Message:
    """Return ``reply`` if it answers ``request`` successfully.

    Raises:
        VendorError: the reply is an error code (ED, OV, ...).
        MalformedMessage: the reply answers some other request.
    """
    if isinstance(reply, ErrorReply):
        raise reply.to_error()
    allowed = ANSWERS[type(request)]
    ok = type(reply) in allowed
    if ok and isinstance(reply, _ECHOES):
        ok = reply.command == request.command
        ok = ok and getattr(reply, "track", None) == getattr(request, "track", None)
    if not ok:
        raise MalformedMessage(
            reply.command_field(), "", "does not answer a %s request"
            % request.command_field().decode()
        )
    return reply


