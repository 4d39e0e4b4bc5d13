"""Exceptions raised by the protocol package.

One root, split by who is at fault and so by what fixes it::

    ProtocolError                  root: catch this to catch everything from protocol/
    ├── LocalProtocolError         our side asked for something the protocol cannot express
    │   └── FieldError             a value we were given for a field is invalid
    ├── RemoteProtocolError        the peer sent something the protocol does not allow
    │   ├── UnexpectedByte         something other than ACK/NAK where ACK/NAK belongs
    │   ├── CorruptReply           the reply frame failed its LRC or framing check
    │   └── MalformedMessage       a frame arrived intact but its fields do not fit
    ├── LinkFailure                an exchange did not complete; see ``request_may_have_run``
    │   ├── NotReady               the peer kept answering NAK; the request never ran
    │   ├── AckTimeout             no ACK in time; the peer may or may not have the frame
    │   ├── ReplyTimeout           ACKed but no reply in time; the command may have run
    │   └── LinkClosed             the transport closed in the middle of an exchange
    └── VendorError                Salto answered with one of its error codes (ED, OV, ...)

Errors carry structured fields (``field``, ``reason``, ``code``) so callers can
build their own messages; ``str()`` gives one readable sentence.

MicroPython has no exception chaining, so this package never uses
``raise ... from``; each error copies what it needs from the one it replaces.
"""


def printable(data: bytes) -> str:
    """Readable text of field bytes: ASCII kept, anything else as '?'.

    Used for messages only. MicroPython's ``bytes.decode`` has no error
    handler and the peer may send Latin-1, so decode by hand.
    """
    return "".join(chr(c) if 0x20 <= c < 0x7F else "?" for c in data)


class ProtocolError(Exception):
    """Root of every error raised by ``protocol``."""


class LocalProtocolError(ProtocolError):
    """We tried to do something illegal: a bug or bad input on our side."""


class FieldError(LocalProtocolError):
    """A value given for a field cannot be sent.

    Attributes:
        command: the command being built (bytes, e.g. b'CN').
        field: the attribute name of the field (str, e.g. 'rooms').
        reason: what is wrong, in words.
    """

    def __init__(self, command: bytes, field: str, reason: str) -> None:
        super().__init__(
            "%s field %r: %s" % (printable(command), field, reason)
        )
        self.command = command
        self.field = field
        self.reason = reason


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol. Reconnecting is the usual remedy."""


class UnexpectedByte(RemoteProtocolError):
    """The peer sent something where only ACK or NAK is allowed (§3.2)."""

    def __init__(self, what: str, state: str) -> None:
        super().__init__("unexpected %s while %s" % (what, state))
        self.what = what
        self.state = state


class CorruptReply(RemoteProtocolError):
    """The reply frame failed its checks (bad LRC, truncated, too long)."""

    def __init__(self, reason: str) -> None:
        super().__init__("corrupt reply frame: %s" % reason)
        self.reason = reason


class MalformedMessage(RemoteProtocolError):
    """A frame arrived intact but does not fit the command's layout.

    Attributes:
        command: field #0 of the frame (bytes).
        field: the attribute name of the offending field, or '' for the frame.
        reason: what is wrong, in words.
        number: the field's number in the frame (0: the command), or -1.
    """

    def __init__(self, command: bytes, field: str, reason: str, number: int = -1) -> None:
        where = printable(command)
        if field:
            where += " field %r" % field
        super().__init__("malformed %s: %s" % (where, reason))
        self.command = command
        self.field = field
        self.reason = reason
        self.number = number  # the offending field's number on the wire, -1 if not one


class LinkFailure(ProtocolError):
    """An exchange did not complete. Retrying later may help.

    ``request_may_have_run`` tells whether the peer may have carried the
    request out; if so, check its effect before sending it again.
    """

    request_may_have_run = True


class NotReady(LinkFailure):
    """The peer refused the frame (NAK) on every try; it never ran it."""

    request_may_have_run = False


class AckTimeout(LinkFailure):
    """No ACK or NAK arrived in time after a frame or an ENQ."""


class ReplyTimeout(LinkFailure):
    """The frame was ACKed, but its reply did not arrive in time."""


class LinkClosed(LinkFailure):
    """The peer closed the connection in the middle of an exchange."""


class VendorError(ProtocolError):
    """Salto answered with an error code instead of the command's echo.

    Attributes:
        code: the two-letter code as bytes (b'ED').
        meaning: what Salto means by it (§6).
        target: the encoder, phone or room the reply names, if any.
        detail: Salto's free text (EG), if any.
    """

    def __init__(
        self, code: bytes, meaning: str, target: bytes = b"", detail: bytes = b""
    ) -> None:
        text = "%s: %s" % (printable(code), meaning)
        if detail:
            text += " (%s)" % printable(detail)
        super().__init__(text)
        self.code = code
        self.meaning = meaning
        self.target = target
        self.detail = detail
