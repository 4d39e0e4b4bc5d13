"""The async LinkDriver over in-memory streams, against the real ServerLink."""

import protocol
from protocol import aio
from protocol.driver import LinkDriver

from _pipe import Pipe, serve

CN = [b"CN", b"Online Encoder 1", b"R", b"Room 1"]
ACK = bytes([protocol.ACK])
NAK = bytes([protocol.NAK])
ENQ = bytes([protocol.ENQ])


def fast_link():
    return protocol.ClientLink(ack_timeout_ms=200, reply_timeout_ms=500, enq_interval_ms=10)


async def echo(fields):
    await aio.sleep_ms(0)
    return fields[:2]


def wired(handler=echo):
    to_server, to_client = Pipe(), Pipe()
    task = aio.create_task(serve(protocol.ServerLink(), to_server, to_client, handler))
    return LinkDriver(to_client, to_server, fast_link()), task, to_server


async def test_request_returns_reply_fields():
    driver, task, to_server = wired()
    assert await driver.probe() is True
    assert await driver.request(CN) == CN[:2]
    assert await driver.request([b"CO", b"0", b"101"]) == [b"CO", b"0"]
    to_server.close()
    await task


async def test_concurrent_requests_never_interleave():
    seen = []

    async def slow(fields):
        seen.append(fields[0])
        await aio.sleep_ms(5)
        return fields[:1]

    driver, task, to_server = wired(slow)
    first = aio.create_task(driver.request([b"WF", b"door 1"]))
    second = aio.create_task(driver.request([b"WN", b"door 1"]))
    assert await first == [b"WF"]
    assert await second == [b"WN"]
    assert seen == [b"WF", b"WN"]  # the server was never asked while busy
    to_server.close()
    await task


class ScriptedPeer:
    """Answers each chunk the client writes from a script (for NAKs, noise...).

    A ``None`` after an answer closes the stream right after that answer.
    """

    def __init__(self, answers):
        self.answers = list(answers)
        self.written = []
        self.inbound = Pipe()

    def write(self, data):
        self.written.append(bytes(data))
        answer = self.answers.pop(0) if self.answers else b""
        for i in range(len(answer)):  # one byte at a time
            self.inbound.write(answer[i : i + 1])
        if self.answers and self.answers[0] is None:  # None: hang up now
            self.inbound.close()

    async def drain(self):
        pass


async def test_nak_enq_resend_then_reply_split_into_bytes():
    reply = protocol.encode_frame(CN[:2])
    peer = ScriptedPeer([NAK, ACK, ACK + reply])
    driver = LinkDriver(peer.inbound, peer, fast_link())
    assert await driver.request(CN) == CN[:2]
    frame = protocol.encode_frame(CN)
    assert peer.written == [frame, ENQ, frame]


async def test_silent_peer_times_out_and_breaks_the_driver():
    peer = ScriptedPeer([])
    driver = LinkDriver(peer.inbound, peer, fast_link())
    try:
        await driver.request(CN)
        raise AssertionError("no timeout")
    except protocol.AckTimeout:
        pass
    assert driver.broken
    try:
        await driver.request(CN)
        raise AssertionError("a broken driver accepted a request")
    except protocol.LocalProtocolError:
        pass


async def test_peer_closing_mid_exchange_is_link_closed():
    peer = ScriptedPeer([ACK, None])
    driver = LinkDriver(peer.inbound, peer, fast_link())
    try:
        await driver.request(CN)
        raise AssertionError("no error")
    except protocol.LinkClosed:
        pass
    assert driver.broken


class _Reset:
    """A stream whose every read and write fails as a reset connection does."""

    async def read(self, n):
        raise OSError(104, "connection reset by peer")

    def write(self, data):
        raise OSError(32, "broken pipe")

    async def drain(self):
        pass


async def test_reset_stream_is_link_closed_not_a_crash():
    for reader, writer in ((_Reset(), Pipe()), (Pipe(), _Reset())):
        driver = LinkDriver(reader, writer, fast_link())
        try:
            await driver.request(CN)
            raise AssertionError("no error")
        except protocol.LinkClosed as err:
            assert "connection was lost" in str(err)
        assert driver.broken


async def test_events_reach_the_observer():
    seen = []
    reply = protocol.encode_frame(CN[:2])
    peer = ScriptedPeer([ACK + reply])
    driver = LinkDriver(peer.inbound, peer, fast_link(), on_event=seen.append)
    await driver.request(CN)
    assert seen == [protocol.Acked(), protocol.Reply(CN[:2])]
