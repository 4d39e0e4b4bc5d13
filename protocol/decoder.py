"""Incremental, bounded, self-healing stream decoder.

Feed it whatever the transport delivered, in any chunking; it returns the
complete items found so far and keeps the unfinished frame for the next call.

* Outside a frame, ENQ/ACK/NAK become ``Control`` items; other bytes are
  garbage and skipped up to the next STX (reported only if asked for).
* Inside a frame, the first ETX ends it and exactly one more byte is its LRC,
  whatever its value: 0x02, 0x03, 0x06, 0x15 and 0xB3 are all legal LRCs.
* A frame with a bad LRC is reported as ``BadFrame`` and dropped; decoding
  carries on with the next byte, so the next good frame still decodes.
* An STX inside a frame means the frame was cut short (a dropped link, a
  restarted peer): the partial frame is reported and the new one starts.
* The frame buffer never holds more than MAX_FRAME_BYTES; a longer frame is
  reported and dropped (see constants.py for why 2048).
"""

from .constants import CONTROL_BYTES, ETX, LRC_SKIP, MAX_FRAME_BYTES, STX
from .framing import BadFrame, Control, Frame, lrc, split_body

_STX_BYTES = bytes([STX])
_ETX_BYTES = bytes([ETX])


class FrameDecoder:
    """Turns a byte stream into ``Frame``, ``Control`` and ``BadFrame`` items.

    Args:
        max_frame_bytes: cap on one frame, STX through LRC.
        report_garbage: also report skipped bytes outside frames as
            ``BadFrame(GARBAGE)`` (the link uses this to spot a stray byte
            where ACK/NAK belongs).
    """

    def __init__(
        self, max_frame_bytes: int = MAX_FRAME_BYTES, report_garbage: bool = False
    ) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.report_garbage = report_garbage
        self._body = bytearray()  # bytes after STX of the frame being read
        self._in_frame = False
        self._await_lrc = False

    @property
    def buffered(self) -> int:
        """Bytes held for the unfinished frame (never above the cap)."""
        return len(self._body) + (1 if self._in_frame else 0)

    def feed(self, data: bytes) -> list[Frame | Control | BadFrame]:
        """Decode ``data``; return the items completed by it, in order."""
        out: list[Frame | Control | BadFrame] = []
        pos = 0
        while pos < len(data):
            if self._await_lrc:
                self._finish(data[pos], out)
                pos += 1
            elif self._in_frame:
                pos = self._collect(data, pos, out)
            else:
                pos = self._hunt(data, pos, out)
        return out

    def reset(self) -> None:
        """Forget any unfinished frame (after a reconnect)."""
        self._body = bytearray()
        self._in_frame = False
        self._await_lrc = False

    def _hunt(self, data: bytes, pos: int, out: list[Frame | Control | BadFrame]) -> int:
        start = data.find(_STX_BYTES, pos)
        end = len(data) if start < 0 else start
        garbage = bytearray()
        for byte in data[pos:end]:
            if byte in CONTROL_BYTES:
                self._flush_garbage(garbage, out)
                garbage = bytearray()
                out.append(Control(byte))
            else:
                garbage.append(byte)
        self._flush_garbage(garbage, out)
        if start >= 0:
            self._in_frame = True
            return start + 1
        return end

    def _flush_garbage(self, garbage: bytearray, out: list[Frame | Control | BadFrame]) -> None:
        if garbage and self.report_garbage:
            out.append(BadFrame(BadFrame.GARBAGE, bytes(garbage)))

    def _collect(self, data: bytes, pos: int, out: list[Frame | Control | BadFrame]) -> int:
        etx = data.find(_ETX_BYTES, pos)
        stx = data.find(_STX_BYTES, pos)
        truncated = stx >= 0 and (etx < 0 or stx < etx)
        # This frame's bytes in ``data`` end at the new STX, after ETX, or at the end.
        stop = stx if truncated else (len(data) if etx < 0 else etx + 1)
        room = self.max_frame_bytes - 2 - len(self._body)  # minus STX and LRC
        if stop - pos > room:
            self._body.extend(data[pos : pos + room])
            self._drop(BadFrame.TOO_LONG, out)
            return pos + room
        self._body.extend(data[pos:stop])
        if truncated:
            # A new STX before this frame's ETX: the frame was cut short.
            self._drop(BadFrame.TRUNCATED, out)
            self._in_frame = True
            return stx + 1
        self._await_lrc = etx >= 0
        return stop

    def _finish(self, check: int, out: list[Frame | Control | BadFrame]) -> None:
        body = bytes(self._body)
        raw = _STX_BYTES + body + bytes([check])
        self.reset()
        if check != LRC_SKIP and check != lrc(body):
            out.append(BadFrame(BadFrame.BAD_LRC, raw))
            return
        fields = split_body(body)
        if fields is None:
            out.append(BadFrame(BadFrame.NO_SEPARATOR, raw))
            return
        out.append(Frame(fields, check == LRC_SKIP))

    def _drop(self, reason: str, out: list[Frame | Control | BadFrame]) -> None:
        out.append(BadFrame(reason, _STX_BYTES + bytes(self._body)))
        self.reset()
