"""The Space server down "for an hour" (``refuse_connections``) and back, its state intact.

End-to-end tests take it down and up over the control channel, as here. Every
wait is a read bounded by a timeout: the server's answer is an EOF or a byte.
"""

import asyncio
import json

import pytest

import protocol
from appliance.space import SpaceClient, SpaceCommands, errors
from protocol.driver import LinkDriver
from simulators.space.control import send

from _spacesim import ARRIVAL, DEPARTURE, ENC1, address, make_space, settings_for

WAIT_S = 2.0  # a bound on each read, far above loop jitter; never slept
ACK = bytes([protocol.ACK])


@pytest.fixture
async def space():
    """TCP only (overrides conftest's): a serial line has its own test below."""
    simulator = make_space()
    await simulator.start_tcp("127.0.0.1", 0)
    yield simulator
    await simulator.close()


async def ask(control, **request):
    answer = await send(control, json.dumps(request))
    assert answer["ok"] is True, answer
    return answer


async def down(control, is_down=True):
    await ask(control, op="faults", set={"refuse_connections": is_down})


async def connect(space):
    host, _, port = address(space).rpartition(":")
    return await asyncio.open_connection(host, int(port))


async def enq(reader, writer):
    writer.write(bytes([protocol.ENQ]))
    await writer.drain()
    return await asyncio.wait_for(reader.read(1), WAIT_S)


async def closed_without_a_byte(reader, writer):
    try:
        return await asyncio.wait_for(reader.read(100), WAIT_S) == b""
    finally:
        writer.close()


async def test_a_new_connection_is_refused_like_a_stopped_service(space, control):
    await down(control)
    with pytest.raises(ConnectionRefusedError):
        await connect(space)
    assert space.requests == []
    assert space.server.connections_refused == 0  # that counter is for a second PMS


async def test_an_open_connection_is_dropped_when_the_server_goes_down(space, control):
    reader, writer = await connect(space)
    assert await enq(reader, writer) == ACK  # served, then idle
    await down(control)
    assert await closed_without_a_byte(reader, writer)


async def test_back_up_it_answers_and_remembers_the_check_in(space, control):
    async with SpaceClient(settings_for(space)) as client:
        await SpaceCommands(client).encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE)
    await down(control)
    with pytest.raises(ConnectionRefusedError):
        await connect(space)
    await down(control, False)
    await asyncio.wait_for(space.server.serving.wait(), WAIT_S)  # listening on the same port
    state = (await ask(control, op="state"))["state"]
    assert state["rooms"]["Pitch 12"]["checked_in"] is True
    reader, writer = await connect(space)
    assert await enq(reader, writer) == ACK
    reply = await LinkDriver(reader, writer).request(protocol.CheckOut(b"Pitch 12").fields())
    assert reply == [b"CO", b"0", b"Pitch 12"]
    writer.close()


async def test_a_persistent_client_notices_and_recovers(space):
    async with SpaceClient(settings_for(space)) as client:
        desk = SpaceCommands(client)
        await desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE)
        space.faults.update(refuse_connections=True)
        with pytest.raises(errors.SpaceUnavailable):
            await desk.ping()
        assert client.up is False
        space.faults.clear()
        card = await desk.read(ENC1)  # the card cut before the outage
    assert (card.rooms, card.valid) == (("Pitch 12",), True)


async def test_a_serial_line_is_silent_while_down_and_answers_after():
    space = make_space()
    space.start_pty()
    try:
        async with SpaceClient(settings_for(space)) as client:
            desk = SpaceCommands(client)
            space.faults.update(refuse_connections=True)
            with pytest.raises(errors.SpaceUnavailable) as info:
                await desk.ping()
            assert "no ACK" in str(info.value)
            space.faults.update(refuse_connections=False)
            assert await desk.ping() is True
    finally:
        await space.close()
