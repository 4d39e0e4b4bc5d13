"""The Salto side of the link over asyncio streams, built on ``protocol.ServerLink``.

A ``LinkServer`` runs the real framing, LRC checks and ENQ/ACK/NAK of
``protocol/`` on a TCP port or on a serial line, decodes each request with
``protocol.decode_request`` and writes back whatever the handler returns. A
request that does not decode is answered ES, as Space would (§6).

It keeps reading while the handler works (a person placing a card), so an ENQ
or a second frame in that time is answered NAK, as §10 asks. One PMS
connection at a time: a second one is refused (closed at once) or queued
until the first ends (``second_connection``). ``faults`` holds the fault
knobs (``simulators.faults``), applied here at the byte level;
``refuse_connections`` takes the whole server down (and back) without losing
the simulator's state: it stops listening, so a PMS gets "connection refused"
as from a stopped Space service, and listens again on the same port after.

Simulators supply the handler: ``async handler(request) -> reply``, both
``protocol`` messages.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import protocol
from appliance.space.transport import FdStream, Reader, Writer, close_quietly
from simulators.faults import Faults

log = logging.getLogger("keybridge.simulators.space")

Handler = Callable[[protocol.message.Message], Awaitable[protocol.message.Message]]
Observer = Callable[[str, list[bytes]], None]

REFUSE = "refuse"
QUEUE = "queue"
# A PMS that reconnects at once may beat the end of its own last connection
# (its FIN still in flight): wait this long for the slot before refusing.
REFUSE_GRACE_S = 0.5


class LinkServer:
    """Serves the PMS Industry Standard protocol.

    Args:
        handler: turns one decoded request into its reply message.
        observe: optional callback ``(direction, fields)`` for every frame
            received (``"request"``) and sent (``"reply"``), for logs and demos.
        second_connection: ``"refuse"`` or ``"queue"`` a PMS that connects
            while another is connected.
        faults: the knobs to apply; a fresh ``Faults()`` if not given.
    """

    def __init__(self, handler: Handler, observe: Observer | None = None,
                 second_connection: str = REFUSE, faults: Faults | None = None) -> None:
        if second_connection not in (REFUSE, QUEUE):
            raise ValueError("second_connection must be 'refuse' or 'queue'")
        self.handler = handler
        self.observe = observe
        self.second_connection = second_connection
        self.faults = faults if faults is not None else Faults()
        self.connections_refused = 0
        self.rejected: list[str] = []  # why each NAKed frame was refused, in order
        self._server: asyncio.Server | None = None
        self._slot = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[Writer] = set()
        self._tcp: set[_Connection] = set()  # the TCP ones: a server "down" hangs them up
        self._bound: tuple[str, int] | None = None
        self.serving = asyncio.Event()  # listening on TCP (cleared while "down")
        self._relisten = False
        self.faults.watch(self._faults_changed)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on TCP; return the bound (host, port). Port 0 picks a free one."""
        self._server = await asyncio.start_server(self._accept, host, port)
        bound = self._server.sockets[0].getsockname()
        self._bound = (bound[0], bound[1])
        self.serving.set()
        return self._bound

    @property
    def bound(self) -> tuple[str, int] | None:
        """The TCP (host, port) served, kept while the server is "down"."""
        return self._bound

    def serve_fd(self, fd: int, closer: object = None) -> asyncio.Task[None]:
        """Serve a serial line or pty master already open on ``fd``, until closed."""
        stream = FdStream(fd, closer)
        task = asyncio.get_running_loop().create_task(self._line(stream))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Stop listening, hang up every connection and wait for their tasks."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if await self._admit():
                try:
                    await self._serve_tcp(reader, writer)
                finally:
                    self._slot.release()
        except asyncio.CancelledError:
            pass  # close() hangs up; asyncio's accept callback must not see a cancelled task
        finally:
            self._tasks.discard(task)
            await close_quietly(writer)

    async def _admit(self) -> bool:
        """Take the one-PMS slot for a new TCP connection; False to hang up at once."""
        if self.faults.refuse_connections:
            return False  # the server is down: accepted by the OS, closed unread
        if self.second_connection == QUEUE:
            await self._slot.acquire()
        elif not await self._take_slot(REFUSE_GRACE_S):
            self.connections_refused += 1
            return False  # Space takes one PMS at a time (§3.3)
        return True

    async def _serve_tcp(self, reader: Reader, writer: Writer) -> None:
        if self.faults.refuse_connections:
            return  # the server went down while this one waited for the slot
        connection = _Connection(self, reader, writer)
        self._tcp.add(connection)
        try:
            await connection.run()
        finally:
            self._tcp.discard(connection)

    def _faults_changed(self) -> None:
        # A persistent PMS notices a dead server only when its connection drops.
        if self.faults.refuse_connections:
            if self._server is not None:
                self._server.close()  # new connections are refused by the OS
                self.serving.clear()
            for connection in list(self._tcp):
                connection.hang_up()
        elif self._bound is not None and not self.serving.is_set() and not self._relisten:
            task = asyncio.get_running_loop().create_task(self._listen_again())
            self._relisten = True  # one at a time: two would bind the port twice
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _listen_again(self) -> None:
        assert self._bound is not None
        try:
            self._server = await asyncio.start_server(self._accept, *self._bound)
            self.serving.set()
        finally:
            self._relisten = False

    async def _take_slot(self, grace_s: float) -> bool:
        """Acquire the one-PMS slot within ``grace_s``; False if still taken."""
        try:
            async with asyncio.timeout(grace_s):
                await self._slot.acquire()
        except TimeoutError:
            return False
        return True

    async def _line(self, stream: FdStream) -> None:
        # A serial line outlives its exchanges: after a simulated hang-up the
        # next PMS byte starts afresh. At the line's real end (EIO, a USB
        # adapter unplugged) serving stops, rather than spin on EOF.
        try:
            async with self._slot:
                while await _Connection(self, stream, stream).run():
                    pass
        finally:
            stream.close()

    def note(self, direction: str, fields: list[bytes]) -> None:
        if self.observe is not None:
            self.observe(direction, fields)

    async def answer(self, fields: list[bytes]) -> list[bytes]:
        """The reply fields for one request frame's fields."""
        self.note("request", fields)
        try:
            request = protocol.decode_request(fields)
        except protocol.MalformedMessage as err:
            reply: protocol.message.Message = syntax_error(fields, err)
        else:
            reply = await self.handler(request)
        return reply.fields()


def syntax_error(fields: list[bytes], err: protocol.MalformedMessage) -> protocol.ErrorReply:
    """ES as Space words it: the request's encoder (or phone) echoed, as in its other errors,
    and which field; never this program's own text."""
    target = fields[1] if len(fields) > 1 else b""
    if not all(0x20 <= byte < 0x7F for byte in target) or len(target) > 64:
        target = b""
    where = b" in field %d" % err.number if err.number >= 0 else b""
    return protocol.ErrorReply(b"ES", target, b"syntax error" + where)


class _Connection:
    """One PMS on the line: a reading loop, and at most one request being answered."""

    def __init__(self, server: LinkServer, reader: Reader, writer: Writer) -> None:
        self.server = server
        self.faults = server.faults
        self.reader = reader
        self.writer = writer
        self.link = protocol.ServerLink()
        self._write_lock = asyncio.Lock()
        self._job: asyncio.Task[None] | None = None
        self._hang_up = asyncio.Event()

    async def run(self) -> bool:
        """Serve until the peer leaves; True if we hung up on purpose (a fault)."""
        self.server._writers.add(self.writer)
        reading = asyncio.ensure_future(self._read_loop())
        hang_up = asyncio.ensure_future(self._hang_up.wait())
        try:
            await asyncio.wait((reading, hang_up), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reading, hang_up, self._job):
                if task is not None:
                    task.cancel()
            await asyncio.gather(reading, hang_up, return_exceptions=True)
            if self._job is not None:
                await asyncio.gather(self._job, return_exceptions=True)
            self.server._writers.discard(self.writer)
        return self._hang_up.is_set()

    def hang_up(self) -> None:
        """End ``run()`` soon: the reply in hand, if any, is dropped."""
        self._hang_up.set()

    async def _read_loop(self) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await self.reader.read(protocol.MAX_FRAME_BYTES):
                # A server that is down hears nothing; a serial line has no
                # connection to refuse, so there it means silent.
                if not (self.faults.silent or self.faults.refuse_connections):
                    await self._receive(data)

    async def _receive(self, data: bytes) -> None:
        self.link.refuse_frames(self.faults.nak_frames)
        events = self.link.receive_data(data)
        self.faults.nak_frames = self.link.frames_to_refuse
        self.server.rejected.extend(e.reason for e in events if isinstance(e, protocol.Rejected))
        requests = [e for e in events if isinstance(e, protocol.Request)]
        if requests and self.faults.ack_delay_s:
            await asyncio.sleep(self.faults.ack_delay_s)
        async with self._write_lock:
            await self._write(self.link.data_to_send())
        for request in requests:  # at most one: the link NAKs frames while busy
            self._job = asyncio.ensure_future(self._respond(request.fields))

    async def _respond(self, fields: list[bytes]) -> None:
        try:
            reply = await self.server.answer(fields)
        except Exception as err:  # a handler bug: answer, or the link stays BUSY forever
            log.exception("simulated Space failed on %r", fields)
            reply = protocol.ErrorReply(b"EG", detail=b"simulator error: "
                                        + type(err).__name__.encode()).fields()
        if self.faults.reply_delay_s:
            await asyncio.sleep(self.faults.reply_delay_s)
        async with self._write_lock:
            await self._write(self.link.data_to_send())
            self.link.send_reply(reply)
            frame = self.link.data_to_send()
            self.server.note("reply", reply)
            await self._write_reply(frame)

    async def _write_reply(self, frame: bytes) -> None:
        faults = self.faults
        if faults.garbage:
            garbage, faults.garbage = faults.garbage, b""
            await self._write(garbage)
        if faults.corrupt_lrc:
            faults.corrupt_lrc -= 1
            frame = frame[:-1] + bytes([_wrong_lrc(frame[-1])])
        if faults.drop_mid_frame:
            faults.drop_mid_frame -= 1
            await self._write(frame[: len(frame) // 2])
            self._hang_up.set()
            return
        await self._write(frame)

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        chunks = [data[i : i + 1] for i in range(len(data))] if self.faults.split_writes else [data]
        try:
            for chunk in chunks:
                self.writer.write(chunk)
                await self.writer.drain()
        except ConnectionError:
            self._hang_up.set()


def _wrong_lrc(lrc: int) -> int:
    """A different LRC byte that is not the 0x0D 'skip the check' marker."""
    wrong = lrc ^ 0x01
    return wrong ^ 0x03 if wrong == protocol.LRC_SKIP else wrong
