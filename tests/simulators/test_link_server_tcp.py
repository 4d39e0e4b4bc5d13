"""The production LinkDriver against the LinkServer over real TCP sockets."""

import asyncio

import pytest

import protocol
from protocol.driver import LinkDriver
from simulators import desk_demo
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
    assert (reply.target, reply.detail) == (ENC, b"syntax error in field 2")  # the eject
    writer.close()
    await server.close()


async def test_enq_and_frames_are_naked_while_a_request_is_in_hand() -> None:
    release = asyncio.Event()

    async def handler(request: protocol.message.Message) -> protocol.message.Message:
        await release.wait()  # a person who has not placed the card yet
        return protocol.CardEncoded(b"CN", ENC)

    server = LinkServer(handler)
    host, port = await server.start()
    reader, writer = await asyncio.open_connection(host, port)
    frame = protocol.encode_frame(protocol.EncodeCard(b"CN", ENC, (b"101",)).fields())
    for byte in frame:  # delivered one byte at a time
        writer.write(bytes([byte]))
        await writer.drain()
    assert await reader.readexactly(1) == bytes([protocol.ACK])
    writer.write(bytes([protocol.ENQ]) + frame)
    assert await reader.readexactly(2) == bytes([protocol.NAK, protocol.NAK])
    release.set()
    reply = protocol.encode_frame([b"CN", ENC])
    assert await reader.readexactly(len(reply)) == reply
    writer.write(bytes([protocol.ENQ]))
    assert await reader.readexactly(1) == bytes([protocol.ACK])  # ready again
    assert server.rejected == [protocol.Rejected.BUSY]
    writer.close()
    await server.close()


async def test_demo_walks_the_desk_day(capsys: pytest.CaptureFixture[str]) -> None:
    assert await desk_demo.main() == 0
    out = capsys.readouterr().out
    assert "PMS   -> Space  |CN2|Online Encoder 1|E|Pitch 12|" in out
    assert "no card was presented in time" in out
    assert "incident 4" in out  # a key used after its departure time
    assert "WO|Pitch 12|" in out


async def test_a_failing_handler_answers_eg_and_the_link_goes_on() -> None:
    calls = []

    async def handler(request: protocol.message.Message) -> protocol.message.Message:
        calls.append(request)
        if len(calls) == 1:
            raise RuntimeError("simulator bug")
        return protocol.CheckedOut(b"101")

    server = LinkServer(handler)
    host, port = await server.start()
    reader, writer = await asyncio.open_connection(host, port)
    driver = LinkDriver(reader, writer)
    first = await driver.request(protocol.CheckOut(b"101").fields())
    assert first[:1] == [b"EG"] and b"RuntimeError" in first[2]
    assert await driver.request(protocol.CheckOut(b"101").fields()) == [b"CO", b"0", b"101"]
    writer.close()
    await server.close()


async def test_going_down_hangs_up_the_served_and_the_queued_pms_then_serves_again() -> None:
    async def handler(request: protocol.message.Message) -> protocol.message.Message:
        return protocol.CheckedOut(b"101")

    server = LinkServer(handler, second_connection="queue")
    host, port = await server.start()
    served = await asyncio.open_connection(host, port)
    queued = await asyncio.open_connection(host, port)
    served[1].write(bytes([protocol.ENQ]))  # this round trip lets the queued one be accepted
    assert await asyncio.wait_for(served[0].read(1), 2.0) == bytes([protocol.ACK])
    server.faults.update(refuse_connections=True)
    for reader, writer in (served, queued):
        assert await asyncio.wait_for(reader.read(100), 2.0) == b""  # closed, nothing sent
        writer.close()
    server.faults.update(refuse_connections=False)
    await asyncio.wait_for(server.serving.wait(), 2.0)  # listening on the same port again
    reader, writer = await asyncio.open_connection(host, port)
    assert await LinkDriver(reader, writer).request(protocol.CheckOut(b"101").fields()) == [
        b"CO", b"0", b"101"]
    writer.close()
    await server.close()
