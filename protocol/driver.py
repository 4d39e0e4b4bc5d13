"""Async link driver: runs a ClientLink over a stream pair.

One request at a time (the protocol has no message ids, §3.1); a lock
queues concurrent callers. The driver does not reconnect: when the link is
``broken`` (a protocol error, a timeout, a closed stream), the owner opens a
new stream and builds a new driver. Reconnect and retry policy live in the
service, outside the client (style rule 8).

``reader`` needs ``async read(n) -> bytes`` (b'' at end of stream) and
``writer`` needs ``write(data)`` and ``async drain()``: asyncio streams on
CPython and MicroPython both have them.
"""

from . import aio
from .errors import AckTimeout, LinkClosed, LocalProtocolError
from .events import Failed, ProbeResult, Reply
from .link import ClientLink
from .linkstate import BROKEN, IDLE

READ_SIZE = 256  # bytes per read; one typical frame, and small for an MCU


class LinkDriver:
    """Sends requests over ``reader``/``writer`` and returns the replies.

    Args:
        reader, writer: the stream pair.
        link: the ClientLink to drive (its timeouts are the driver's).
        on_event: optional callable given every link event (for logs).
    """

    def __init__(self, reader: object, writer: object, link: ClientLink | None = None,
                 on_event: object = None) -> None:
        self.reader = reader
        self.writer = writer
        self.link = link if link is not None else ClientLink()
        self.on_event = on_event
        self._lock = aio.Lock()
        self._abandoned = False

    @property
    def broken(self) -> bool:
        """True once the link needs a new stream before the next request."""
        return self._abandoned or self.link.state == BROKEN

    async def request(
        self, fields: list[bytes], reply_timeout_ms: int | None = None
    ) -> list[bytes]:
        """Send one request frame and return the reply frame's fields.

        Raises:
            LinkFailure: NotReady, AckTimeout, ReplyTimeout or LinkClosed.
            RemoteProtocolError: UnexpectedByte or CorruptReply.
            LocalProtocolError: bad fields, or the link is broken.
        """
        async with self._lock:
            self._check_usable()
            self.link.send(fields, aio.ticks_ms(), reply_timeout_ms)
            result = await self._run()
            assert isinstance(result, list)
            return result

    async def probe(self) -> bool:
        """Send ENQ; True if the peer answered ACK (ready), False for NAK."""
        async with self._lock:
            self._check_usable()
            self.link.probe(aio.ticks_ms())
            return bool(await self._run())

    def _check_usable(self) -> None:
        if self.broken:
            raise LocalProtocolError("the link is broken: open a new connection")

    async def _run(self) -> object:
        try:
            while True:
                await self._flush()
                for event in await self._next_events():
                    if self.on_event is not None:
                        self.on_event(event)  # type: ignore[operator]
                    if isinstance(event, Failed):
                        raise event.error
                    if isinstance(event, Reply):
                        return event.fields
                    if isinstance(event, ProbeResult):
                        return event.ready
        except BaseException:
            # Cancelled or failed mid-exchange: a late reply could be taken
            # for the next request's, so this stream must not be reused.
            self._abandoned = self._abandoned or self.link.state != IDLE
            raise

    async def _flush(self) -> None:
        data = self.link.data_to_send()
        if data:
            try:
                self.writer.write(data)  # type: ignore[attr-defined]
                # A line nobody reads (a stalled pty, a full socket) must not
                # hold the request past its deadline: bound the write too.
                await aio.wait_for_ms(self.writer.drain(),  # type: ignore[attr-defined]
                                      self.link.ack_timeout_ms)
            except aio.TimeoutError:
                self._abandoned = True
                raise AckTimeout("could not write the frame within %d ms"
                                 % self.link.ack_timeout_ms)
            except OSError as err:
                self._lost(err)

    async def _next_events(self) -> list[object]:
        deadline = self.link.deadline_ms
        wait_ms = 0 if deadline is None else max(0, deadline - aio.ticks_ms())
        try:
            data = await aio.wait_for_ms(self.reader.read(READ_SIZE), wait_ms)  # type: ignore[attr-defined]
        except aio.TimeoutError:
            return self.link.handle_timeout(aio.ticks_ms())
        except OSError as err:
            self._lost(err)
        if not data:
            self._abandoned = True
            raise LinkClosed("the peer closed the connection")
        return self.link.receive_data(bytes(data), aio.ticks_ms())  # type: ignore[call-overload]

    def _lost(self, err: OSError) -> None:
        """A reset or broken stream is a closed link (MicroPython has no chaining)."""
        self._abandoned = True
        raise LinkClosed("the connection was lost: %s" % err)
