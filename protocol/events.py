"""What the link state machines report to their caller.

Client side: Acked, Reply, ProbeResult, Failed, Stray.
Server side: Request, Rejected, ReplyAcknowledged, Stray.
"""


class Event:
    """Base: events compare equal when their type and attributes match."""

    def _key(self) -> tuple[object, ...]:
        return ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._key() == self._key()

    def __repr__(self) -> str:
        return "%s%r" % (type(self).__name__, self._key())


class Acked(Event):
    """The peer ACKed our request frame; the reply is being prepared."""


class Reply(Event):
    """The reply frame to our request arrived; ``fields`` are its fields."""

    def __init__(self, fields: list[bytes]) -> None:
        self.fields = fields

    def _key(self) -> tuple[object, ...]:
        return (self.fields,)


class ProbeResult(Event):
    """The answer to our ENQ: ``ready`` is True for ACK, False for NAK."""

    def __init__(self, ready: bool) -> None:
        self.ready = ready

    def _key(self) -> tuple[object, ...]:
        return (self.ready,)


class Failed(Event):
    """The exchange failed; ``error`` is a ProtocolError saying why."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def _key(self) -> tuple[object, ...]:
        return (type(self.error),)


class Stray(Event):
    """Something arrived that answers nothing; ``item`` is what the decoder saw."""

    def __init__(self, item: object) -> None:
        self.item = item

    def _key(self) -> tuple[object, ...]:
        return (self.item,)


class Request(Event):
    """A request frame arrived intact and was ACKed; reply with ``send_reply``."""

    def __init__(self, fields: list[bytes]) -> None:
        self.fields = fields

    def _key(self) -> tuple[object, ...]:
        return (self.fields,)


class Rejected(Event):
    """A frame was answered NAK; ``reason`` says why (bad LRC, busy...)."""

    BUSY = "busy with the previous request"
    NOT_READY = "not ready"

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def _key(self) -> tuple[object, ...]:
        return (self.reason,)


class ReplyAcknowledged(Event):
    """The client answered our reply with ACK (``ok``) or NAK (not ``ok``)."""

    def __init__(self, ok: bool) -> None:
        self.ok = ok

    def _key(self) -> tuple[object, ...]:
        return (self.ok,)
