"""RS-232: the real client (pyserial) and the simulator over a real pseudo-terminal."""

import os
import tty

import pytest

import protocol
from appliance.space import SpaceClient, SpaceCommands, SpaceSettings, errors
from appliance.space.transport import FdStream, open_serial
from protocol.driver import LinkDriver

from _spacesim import ARRIVAL, DEPARTURE, ENC1, FAST, PHONE, make_space


@pytest.fixture
async def serial_space():
    space = make_space()
    path = space.start_pty()
    yield space, path
    await space.close()


def serial_settings(path, **changes):
    return SpaceSettings(server="serial:" + path, baud_rate=9600, **{**FAST, **changes})


@pytest.mark.parametrize("connection", ["persistent", "per_request"])
async def test_a_desk_day_over_a_serial_line(serial_space, connection):
    space, path = serial_space
    async with SpaceClient(serial_settings(path, connection=connection)) as client:
        desk = SpaceCommands(client)
        assert await desk.ping() is True
        cut = await desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE, count=2)
        assert len(cut.serials) == 2
        card = await desk.read(ENC1)
        assert (card.rooms, card.valid, card.copy) == (("Pitch 12",), True, "copy 1")
        await desk.mobile(PHONE, ["Chalet 3"], ARRIVAL, DEPARTURE)
        await desk.check_out("Pitch 12")
        assert (await desk.read(ENC1)).valid is False
        space.open_door(b"Pitch 12", serial=cut.serials[0].encode())
        trail = await desk.audit("Pitch 12")
        assert [entry.incident for entry in trail] == ["invalid key"]


async def test_vendor_errors_arrive_over_serial(serial_space):
    _, path = serial_space
    async with SpaceClient(serial_settings(path)) as client:
        with pytest.raises(errors.UnknownRoom) as info:
            await SpaceCommands(client).encode(ENC1, ["Pitch 99"], None, None)
    assert "unit map" in str(info.value)


async def test_faults_on_the_serial_line_are_survived(serial_space):
    space, path = serial_space
    async with SpaceClient(serial_settings(path)) as client:
        desk = SpaceCommands(client)
        space.faults.update(split_writes=True, nak_frames=2, garbage="ff41")
        await desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE)
        space.faults.update(corrupt_lrc=1, split_writes=False)
        with pytest.raises(errors.SpaceProtocolError):
            await desk.read(ENC1)
        assert (await desk.read(ENC1)).rooms == ("Pitch 12",)
    assert protocol.Rejected.BUSY not in space.server.rejected


async def test_a_missing_serial_line_is_unavailable():
    settings = serial_settings("/dev/does-not-exist", connect_budget_s=0.0)
    async with SpaceClient(settings) as client:
        with pytest.raises(errors.SpaceUnavailable) as info:
            await client.ping()
    assert "cannot open serial line /dev/does-not-exist" in str(info.value)
    assert info.value.request_may_have_run is False


async def test_simulator_serves_a_line_it_opens_with_pyserial():
    # The simulator's --serial PATH mode: it opens the pty's slave like a
    # real COM port; this side drives the master with the production driver.
    master, slave = os.openpty()
    tty.setraw(slave)
    space = make_space()
    port = open_serial(os.ttyname(slave), 9600)
    space.server.serve_fd(port.fileno(), closer=port)
    stream = FdStream(master)
    try:
        driver = LinkDriver(stream, stream)
        assert await driver.probe() is True
        request = protocol.EncodeCard(b"CN", ENC1.encode(), (b"Pitch 14",))
        reply = protocol.decode_reply(await driver.request(request.fields()))
        assert isinstance(reply, protocol.CardEncoded)
        assert space.state()["rooms"]["Pitch 14"]["checked_in"] is True
    finally:
        await space.close()
        stream.close()
        os.close(slave)
