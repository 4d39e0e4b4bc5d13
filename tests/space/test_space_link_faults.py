"""The client under every fault knob: it recovers, or reports clearly, and
never has two requests on the link at once (the simulator counts any frame
that arrives while it is busy)."""

import asyncio

import pytest

import protocol
from appliance.space import SpaceClient, SpaceCommands, errors

from _spacesim import ARRIVAL, DEPARTURE, ENC1, settings_for


def nothing_interleaved(space):
    assert protocol.Rejected.BUSY not in space.server.rejected


async def cut(desk):
    return await desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE)


async def test_nak_twice_then_accepted(desk, space):
    space.faults.update(nak_frames=2)
    await cut(desk)
    assert space.server.rejected == [protocol.Rejected.NOT_READY] * 2
    assert len(space.requests) == 1  # the frame was resent, the card cut once


async def test_nak_on_every_send_is_unavailable_and_never_ran(desk, space):
    space.faults.update(nak_frames=3)
    with pytest.raises(errors.SpaceUnavailable) as info:
        await cut(desk)
    assert info.value.request_may_have_run is False
    assert "not ready" in str(info.value)
    assert space.requests == []
    await cut(desk)  # the next one goes through on the same link


async def test_slow_ack_within_the_timeout_is_fine(desk, space, client):
    space.faults.update(ack_delay_s=client.settings.ack_timeout_s / 4)
    await cut(desk)


async def test_missing_ack_is_unavailable_then_reconnects(desk, space, client):
    space.faults.update(silent=True)
    with pytest.raises(errors.SpaceUnavailable) as info:
        await cut(desk)
    assert "no ACK" in str(info.value)
    assert client.up is False
    space.faults.update(silent=False)
    await cut(desk)
    assert client.up is True


async def test_reply_timeout_says_the_card_may_have_been_cut(space):
    async with SpaceClient(settings_for(space, card_wait_s=0.05, reply_margin_s=0.0)) as client:
        space.faults.update(reply_delay_s=0.5)
        with pytest.raises(errors.SpaceUnavailable) as info:
            await cut(SpaceCommands(client))
    assert info.value.request_may_have_run is True
    assert "check before repeating" in str(info.value)


async def test_corrupt_reply_is_a_protocol_error_and_the_link_heals(desk, space):
    space.faults.update(corrupt_lrc=1)
    with pytest.raises(errors.SpaceProtocolError) as info:
        await cut(desk)
    assert "bad LRC" in str(info.value) or "BAD_LRC" in str(info.value)
    card = await desk.read(ENC1)
    assert card.rooms == ("Pitch 12",)


async def test_replies_one_byte_at_a_time(desk, space):
    space.faults.update(split_writes=True)
    await cut(desk)
    assert (await desk.read(ENC1)).valid is True
    assert await desk.ping() is True


async def test_garbage_before_the_reply_is_skipped(desk, space):
    space.faults.update(garbage="ff 00 41 42".replace(" ", ""))
    await cut(desk)
    assert space.faults.garbage == b""


async def test_connection_dropped_mid_reply(desk, space, client):
    space.faults.update(drop_mid_frame=1)
    with pytest.raises(errors.SpaceUnavailable) as info:
        await cut(desk)
    assert info.value.request_may_have_run is True
    assert client.up is False
    await cut(desk)  # a clean reconnect
    assert client.up is True


async def test_requests_from_many_callers_never_interleave(desk, space):
    jobs = [desk.encode(enc, [room], ARRIVAL, DEPARTURE)
            for enc, room in (("Online Encoder 1", "Pitch 12"), ("Online Encoder 2", "Pitch 14"),
                              ("Online Encoder 1", "Chalet 3"), ("Online Encoder 2", "Pitch 12"))]
    await asyncio.gather(*jobs)
    nothing_interleaved(space)
    assert [r.rooms[0] for r in space.requests] == [b"Pitch 12", b"Pitch 14", b"Chalet 3",
                                                   b"Pitch 12"]


async def test_busy_encoder_does_not_hold_up_another(space):
    space.set_encoder(b"Online Encoder 1", busy=True)
    async with SpaceClient(settings_for(space, busy_retries=100, busy_retry_s=0.02)) as client:
        desk = SpaceCommands(client)
        done = []

        async def on(encoder, room):
            await desk.encode(encoder, [room], ARRIVAL, DEPARTURE)
            done.append(encoder)

        first = asyncio.ensure_future(on("Online Encoder 1", "Pitch 12"))
        await on("Online Encoder 2", "Pitch 14")
        assert done == ["Online Encoder 2"]  # went past the busy one
        space.set_encoder(b"Online Encoder 1", busy=False)
        await first
    assert done == ["Online Encoder 2", "Online Encoder 1"]
    nothing_interleaved(space)


async def test_busy_encoder_gives_up_after_its_retries(space):
    space.set_encoder(b"Online Encoder 1", busy=True)
    async with SpaceClient(settings_for(space, busy_retries=2, busy_retry_s=0.01)) as client:
        with pytest.raises(errors.EncoderBusy) as info:
            await cut(SpaceCommands(client))
    assert info.value.retry_later is True
    assert [type(r).__name__ for r in space.requests] == ["EncodeCard"] * 3


async def test_bad_field_is_refused_before_anything_is_sent(desk, space):
    with pytest.raises(errors.SpaceRequestError) as info:
        await desk.encode(ENC1, ["A room name far longer than Space allows"], None, None)
    assert "rooms" in str(info.value)
    with pytest.raises(errors.SpaceRequestError, match="phone"):
        await desk.mobile("0612345678", ["Pitch 12"], None, None)
    assert space.requests == []


async def test_a_caller_that_gives_up_is_never_sent(space):
    space.set_encoder(b"Online Encoder 1", card_after_s=0.1)
    async with SpaceClient(settings_for(space)) as client:
        desk = SpaceCommands(client)
        first = asyncio.ensure_future(cut(desk))
        second = asyncio.ensure_future(desk.check_out("Pitch 14"))
        while not space.requests:  # the first is on the link: the second waits in the queue
            await asyncio.sleep(0)
        second.cancel()
        await first
        await desk.ping()  # the queue has moved past the cancelled request
    assert [type(r).__name__ for r in space.requests] == ["EncodeCard"]


async def test_close_fails_what_is_still_queued(space):
    space.set_encoder(b"Online Encoder 1", card_after_s=0.1)
    client = SpaceClient(settings_for(space))
    client.start()
    desk = SpaceCommands(client)
    first = asyncio.ensure_future(cut(desk))
    queued = asyncio.ensure_future(desk.check_out("Pitch 14"))
    while not space.requests:
        await asyncio.sleep(0)
    await client.close()
    with pytest.raises(errors.SpaceUnavailable) as info:
        await queued
    assert info.value.request_may_have_run is False
    with pytest.raises(errors.SpaceError):
        await first


async def test_requests_before_start_are_refused(space):
    client = SpaceClient(settings_for(space))
    with pytest.raises(errors.SpaceUnavailable, match="not started"):
        await client.ping()


async def test_a_busy_encoder_keeps_its_cards_in_order(space):
    space.set_encoder(b"Online Encoder 1", busy=True)
    async with SpaceClient(settings_for(space, busy_retries=100, busy_retry_s=0.02)) as client:
        desk = SpaceCommands(client)
        first = asyncio.ensure_future(desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE))
        while not space.requests:  # the first has met OV and cools down
            await asyncio.sleep(0.005)
        later = asyncio.ensure_future(desk.encode(ENC1, ["Pitch 14"], ARRIVAL, DEPARTURE))
        await desk.encode("Online Encoder 2", ["Chalet 3"], ARRIVAL, DEPARTURE)
        space.set_encoder(b"Online Encoder 1", busy=False)
        await asyncio.gather(first, later)
    cut = [r.rooms[0] for r in space.requests if r.rooms[0] != b"Chalet 3"]
    assert cut[-2:] == [b"Pitch 12", b"Pitch 14"]  # the first asked is the first cut
    assert set(cut[:-2]) == {b"Pitch 12"}  # only the first met OV; the later one waited
