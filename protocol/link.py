"""Sans-IO link endpoints: bytes and time in, events and bytes out.

``ClientLink`` is the PMS side (request → ACK → reply, with NAK/ENQ polling
and resends); ``ServerLink`` is the Salto side (ENQ → ACK/NAK, frame → ACK or
NAK → request → reply). Both follow the tables in ``linkstate.py``.

The caller owns the I/O and the clock::

    link.send(fields, now_ms)                write link.data_to_send()
    events = link.receive_data(data, now_ms) write link.data_to_send()
    at link.deadline_ms: events = link.handle_timeout(now_ms)

``now_ms`` is any non-wrapping millisecond count; only differences matter.
"""

from . import constants as c
from . import linkstate as s
from .decoder import FrameDecoder
from .errors import (
    AckTimeout,
    CorruptReply,
    LocalProtocolError,
    NotReady,
    ReplyTimeout,
    UnexpectedByte,
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
from .framing import BadFrame, Control, Frame, encode_frame

_CONTROL_INPUTS = {c.ACK: s.ACK, c.NAK: s.NAK, c.ENQ: s.ENQ}
_CONTROL_NAMES = {c.ACK: "ACK", c.NAK: "NAK", c.ENQ: "ENQ"}


def describe(item: object) -> str:
    """A short name for a decoder item, for error messages."""
    if isinstance(item, Control):
        return _CONTROL_NAMES[item.byte]
    if isinstance(item, BadFrame):
        return item.reason
    return "frame" if isinstance(item, Frame) else "input"


class _Link:
    """What both ends share: the decoder, the out buffer, the table walk."""

    TABLE: dict[str, dict[str, tuple[str, str]]] = {}

    def __init__(self, state: str, lrc_skip: bool) -> None:
        self.state = state
        self.lrc_skip = lrc_skip
        self._decoder = FrameDecoder(report_garbage=True)
        self._out = bytearray()
        self._events: list[object] = []

    def data_to_send(self) -> bytes:
        """Bytes the link wants written, oldest first; the buffer is emptied."""
        data = bytes(self._out)
        self._out = bytearray()
        return data

    def receive_data(self, data: bytes, now_ms: int = 0) -> list[object]:
        """Feed bytes from the peer; return the events they caused, in order."""
        for item in self._decoder.feed(data):
            self._input(self._classify(item), now_ms, item)
        return self._take_events()

    def _classify(self, item: object) -> str:
        if isinstance(item, Control):
            return _CONTROL_INPUTS[item.byte]
        if isinstance(item, Frame):
            return s.FRAME
        assert isinstance(item, BadFrame)
        return s.GARBAGE if item.reason == BadFrame.GARBAGE else s.BAD_FRAME

    def _input(self, name: str, now_ms: int, item: object = None) -> None:
        entry = self.TABLE[self.state].get(name)
        if entry is None:
            raise LocalProtocolError("cannot %s while %s" % (name, self.state))
        action, next_state = entry
        getattr(self, "_do_" + action)(now_ms, item)
        self.state = next_state

    def _take_events(self) -> list[object]:
        events = self._events
        self._events = []
        return events

    def _emit(self, event: object) -> None:
        self._events.append(event)

    def _do_ignore(self, now_ms: int, item: object) -> None:
        pass

    def _do_stray(self, now_ms: int, item: object) -> None:
        self._emit(Stray(item))


class ClientLink(_Link):
    """The PMS end: one request in flight, NAK → ENQ polling → resend (§3.2).

    Args:
        ack_timeout_ms: wait for ACK/NAK after a frame or a probing ENQ.
        reply_timeout_ms: wait for the reply after the ACK (a person may be
            placing a card); ``send`` can override it per request.
        enq_interval_ms: pause between ENQ polls after a NAK.
        max_enq_polls: ENQ polls per NAK before giving up with NotReady.
        max_sends: sends of one frame in total before giving up with NotReady.
        lrc_skip: send LRC_SKIP instead of computing the LRC.
    """

    TABLE = s.CLIENT

    def __init__(self, ack_timeout_ms: int = c.ACK_TIMEOUT_MS,
                 reply_timeout_ms: int = c.REPLY_TIMEOUT_MS,
                 enq_interval_ms: int = c.ENQ_INTERVAL_MS,
                 max_enq_polls: int = c.MAX_ENQ_POLLS, max_sends: int = c.MAX_SENDS,
                 lrc_skip: bool = False) -> None:
        super().__init__(s.IDLE, lrc_skip)
        if max_enq_polls < 1 or max_sends < 1:
            raise LocalProtocolError("max_enq_polls and max_sends must be at least 1")
        self.ack_timeout_ms = ack_timeout_ms
        self.reply_timeout_ms = reply_timeout_ms
        self.enq_interval_ms = enq_interval_ms
        self.max_enq_polls = max_enq_polls
        self.max_sends = max_sends
        self.deadline_ms: int | None = None
        self._frame = b""
        self._sends = 0
        self._polls = 0
        self._reply_wait_ms = reply_timeout_ms

    def send(
        self, fields: list[bytes], now_ms: int, reply_timeout_ms: int | None = None
    ) -> None:
        """Start a request. Raises LocalProtocolError unless the link is IDLE."""
        if self.state != s.IDLE:
            raise LocalProtocolError("cannot SEND while %s" % self.state)
        self._frame = encode_frame(fields, self.lrc_skip)
        wait_ms = self.reply_timeout_ms if reply_timeout_ms is None else reply_timeout_ms
        self._reply_wait_ms = wait_ms
        self._input(s.SEND, now_ms)

    def probe(self, now_ms: int) -> None:
        """Send ENQ to ask whether the peer is ready; answered by ProbeResult."""
        self._input(s.PROBE, now_ms)

    def reset(self) -> None:
        """Start afresh after BROKEN, once the transport has been reopened."""
        self._input(s.RESET, 0)

    def handle_timeout(self, now_ms: int) -> list[object]:
        """Call when ``now_ms`` reaches ``deadline_ms``; early calls do nothing."""
        if self.deadline_ms is not None and now_ms - self.deadline_ms >= 0:
            last = self.state == s.NAK_POLL and self._polls >= self.max_enq_polls
            self._input(s.TIMEOUT_LAST if last else s.TIMEOUT, now_ms)
        return self._take_events()

    def _classify(self, item: object) -> str:
        name = _Link._classify(self, item)
        if name == s.NAK and self.state == s.AWAIT_ACK and self._sends >= self.max_sends:
            return s.NAK_LAST
        return name

    def _do_send_frame(self, now_ms: int, item: object) -> None:
        self._sends = 0
        self._do_resend_frame(now_ms, item)

    def _do_resend_frame(self, now_ms: int, item: object) -> None:
        self._sends += 1
        self._polls = 0
        self._out.extend(self._frame)
        self.deadline_ms = now_ms + self.ack_timeout_ms

    def _do_send_enq(self, now_ms: int, item: object) -> None:
        self._out.append(c.ENQ)
        self.deadline_ms = now_ms + self.ack_timeout_ms  # a live peer answers at once

    def _do_poll(self, now_ms: int, item: object) -> None:
        self._polls += 1
        self._out.append(c.ENQ)
        self.deadline_ms = now_ms + self.enq_interval_ms

    def _do_acked(self, now_ms: int, item: object) -> None:
        self.deadline_ms = now_ms + self._reply_wait_ms
        self._emit(Acked())

    def _do_reply(self, now_ms: int, item: object) -> None:
        assert isinstance(item, Frame)
        self.deadline_ms = None
        self._emit(Reply(item.fields))

    def _do_probe_ready(self, now_ms: int, item: object) -> None:
        self.deadline_ms = None
        self._emit(ProbeResult(True))

    def _do_probe_busy(self, now_ms: int, item: object) -> None:
        self.deadline_ms = None
        self._emit(ProbeResult(False))

    def _fail(self, error: Exception) -> None:
        self.deadline_ms = None
        self._emit(Failed(error))

    def _do_fail_unexpected(self, now_ms: int, item: object) -> None:
        self._fail(UnexpectedByte(describe(item), self.state))

    def _do_fail_not_ready(self, now_ms: int, item: object) -> None:
        self._fail(NotReady("peer not ready after %d sends" % self._sends))

    def _do_fail_ack_timeout(self, now_ms: int, item: object) -> None:
        self._fail(AckTimeout("no ACK within %d ms" % self.ack_timeout_ms))

    def _do_fail_reply_timeout(self, now_ms: int, item: object) -> None:
        self._fail(ReplyTimeout("no reply within %d ms of the ACK" % self._reply_wait_ms))

    def _do_fail_corrupt_reply(self, now_ms: int, item: object) -> None:
        self._fail(CorruptReply(describe(item)))

    def _do_reset(self, now_ms: int, item: object) -> None:
        self._decoder.reset()
        self._out = bytearray()
        self.deadline_ms = None


class ServerLink(_Link):
    """The Salto end: ACK/NAK every frame and ENQ, one request at a time."""

    TABLE = s.SERVER

    def __init__(self, lrc_skip: bool = False) -> None:
        super().__init__(s.READY, lrc_skip)
        self._reply = b""
        self._refuse = 0

    def refuse_frames(self, count: int) -> None:
        """Answer the next ``count`` frames NAK ("not ready"); ENQs still get ACK.

        For owners that cannot take a request now (a simulator's fault knob,
        a bridge whose encoder is offline). ``0`` cancels.
        """
        self._refuse = max(0, count)

    @property
    def frames_to_refuse(self) -> int:
        """How many of the next frames will still be refused."""
        return self._refuse

    def _classify(self, item: object) -> str:
        name = _Link._classify(self, item)
        if name == s.FRAME and self._refuse > 0:
            return s.REFUSED
        return name

    def send_reply(self, fields: list[bytes]) -> None:
        """Answer the request in hand. Raises LocalProtocolError unless BUSY."""
        if self.state != s.BUSY:
            raise LocalProtocolError("cannot REPLY while %s" % self.state)
        self._reply = encode_frame(fields, self.lrc_skip)
        self._input(s.REPLY, 0)

    def _do_send_ack(self, now_ms: int, item: object) -> None:
        self._out.append(c.ACK)

    def _do_send_nak(self, now_ms: int, item: object) -> None:
        self._out.append(c.NAK)

    def _do_accept(self, now_ms: int, item: object) -> None:
        assert isinstance(item, Frame)
        self._out.append(c.ACK)
        self._emit(Request(item.fields))

    def _do_reject(self, now_ms: int, item: object) -> None:
        self._out.append(c.NAK)
        self._emit(Rejected(describe(item)))

    def _do_refuse_busy(self, now_ms: int, item: object) -> None:
        self._out.append(c.NAK)
        self._emit(Rejected(Rejected.BUSY))

    def _do_refuse(self, now_ms: int, item: object) -> None:
        self._refuse -= 1
        self._out.append(c.NAK)
        self._emit(Rejected(Rejected.NOT_READY))

    def _do_send_reply(self, now_ms: int, item: object) -> None:
        self._out.extend(self._reply)

    def _do_reply_acked(self, now_ms: int, item: object) -> None:
        self._emit(ReplyAcknowledged(True))

    def _do_reply_naked(self, now_ms: int, item: object) -> None:
        self._emit(ReplyAcknowledged(False))
