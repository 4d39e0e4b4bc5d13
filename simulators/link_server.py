"""The Salto side of the link over asyncio streams, built on ``protocol.ServerLink``.

A ``LinkServer`` owns one connection at a time: it runs the real framing,
LRC checks and ENQ/ACK/NAK of ``protocol/``, decodes each request with
``protocol.decode_request`` and writes back whatever the handler returns.
A request that does not decode is answered ES, as Space would (§6).

Simulators supply the handler: ``async handler(request) -> reply``, where
both are ``protocol`` messages.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import protocol

Handler = Callable[[protocol.message.Message], Awaitable[protocol.message.Message]]
Observer = Callable[[str, list[bytes]], None]


class LinkServer:
    """Serves the PMS Industry Standard protocol on a TCP port.

    Args:
        handler: turns one decoded request into its reply message.
        observe: optional callback ``(direction, fields)`` for every frame
            received (``"request"``) and sent (``"reply"``), for logs and demos.
    """

    def __init__(self, handler: Handler, observe: Observer | None = None) -> None:
        self.handler = handler
        self.observe = observe
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen; return the bound (host, port). Port 0 picks a free one."""
        self._server = await asyncio.start_server(self._serve, host, port)
        bound = self._server.sockets[0].getsockname()
        return bound[0], bound[1]

    async def close(self) -> None:
        """Stop listening, close open connections and wait for their handlers."""
        if self._server is not None:
            self._server.close()
        for writer in self._connections:
            writer.close()  # the handler then reads EOF and returns by itself
        await asyncio.gather(*self._connections.values(), return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = protocol.ServerLink()
        task = asyncio.current_task()
        assert task is not None
        self._connections[writer] = task
        try:
            while data := await reader.read(protocol.MAX_FRAME_BYTES):
                for event in link.receive_data(data):
                    await self._flush(link, writer)
                    if isinstance(event, protocol.Request):
                        await self._answer(link, event.fields)
                await self._flush(link, writer)
        except ConnectionError:
            pass  # the client went away; the next one starts afresh
        finally:
            del self._connections[writer]
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, link: protocol.ServerLink, fields: list[bytes]) -> None:
        self._note("request", fields)
        try:
            request = protocol.decode_request(fields)
        except protocol.MalformedMessage as err:
            reply: protocol.message.Message = protocol.ErrorReply(
                b"ES", detail=str(err).encode("ascii", "replace")[:256]
            )
        else:
            reply = await self.handler(request)
        link.send_reply(reply.fields())
        self._note("reply", reply.fields())

    def _note(self, direction: str, fields: list[bytes]) -> None:
        if self.observe is not None:
            self.observe(direction, fields)

    @staticmethod
    async def _flush(link: protocol.ServerLink, writer: asyncio.StreamWriter) -> None:
        data = link.data_to_send()
        if data:
            writer.write(data)
            await writer.drain()
