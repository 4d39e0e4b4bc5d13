"""The production LinkDriver against the LinkServer over real TCP sockets."""

import asyncio

import pytest

import protocol
from protocol.driver import LinkDriver
from simulators import protocol_demo
from simulators.link_server import LinkServer

ENC = b"Online Encoder 1"


async def test_requests_over_tcp_reach_the_handler_and_come_back() -> None:
    seen: list[protocol.message.Message] = []

    async def handler(request: protocol.message.Message) -> protocol.message.Message:
        seen.append(request)
        return protocol.CardEncoded(b"CN", ENC, (b"04A1",))

    server = LinkServer(handler)
    host, port = await server.start()
    reader, writer = await asyncio.open_connection(host, port)
    driver = LinkDriver(reader, writer)
    request = protocol.EncodeCard(b"CN", ENC, (b"101",), count=2)
    reply = protocol.decode_reply(await driver.request(request.fields()))
    assert protocol.check_reply(request, reply) == protocol.CardEncoded(b"CN", ENC, (b"04A1",))
    assert seen == [request]
    writer.close()
    await server.close()


async def test_malformed_request_is_answered_es() -> None:
    async def handler(request: protocol.message.Message) -> protocol.message.Message:
        raise AssertionError("a malformed request must not reach the handler")

    server = LinkServer(handler)
    host, port = await server.start()
    reader, writer = await asyncio.open_connection(host, port)
    fields = await LinkDriver(reader, writer).request([b"CN", ENC, b"X", b"101"])
    reply = protocol.decode_reply(fields)
    assert isinstance(reply, protocol.ErrorReply) and reply.command == b"ES"
    assert b"eject" in reply.detail
    writer.close()
    await server.close()


async def test_demo_walks_the_desk_day(capsys: pytest.CaptureFixture[str]) -> None:
    assert await protocol_demo.main() == 0
    out = capsys.readouterr().out
    assert "PMS  -> Salto  |CN2|Online Encoder 1|E|101|" in out
    assert "Salto says ED: timed out waiting for a card" in out
    assert "status=b'CO'" in out  # the card read after check-out reads as checked out
    assert "AuditEnd" in out
