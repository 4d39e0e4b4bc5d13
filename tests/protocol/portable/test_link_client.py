"""ClientLink, the PMS end of the link (§3.1, §3.2), driven byte by byte."""

import protocol
from protocol import linkstate as s

from _support import raises

CN = [b"CN", b"Online Encoder 1", b"R", b"Room 1"]
CN_FRAME = protocol.encode_frame(CN)
REPLY = [b"CN", b"Online Encoder 1"]
REPLY_FRAME = protocol.encode_frame(REPLY)
ACK = bytes([protocol.ACK])
NAK = bytes([protocol.NAK])
ENQ = bytes([protocol.ENQ])


def fast_link():
    return protocol.ClientLink(ack_timeout_ms=100, reply_timeout_ms=1000,
                               enq_interval_ms=20, max_enq_polls=3, max_sends=3)


def sent_request(link=None, now=0):
    link = link or fast_link()
    link.send(CN, now)
    assert link.data_to_send() == CN_FRAME
    return link


def test_request_ack_reply():
    link = sent_request()
    assert link.state == s.AWAIT_ACK and link.deadline_ms == 100
    assert link.receive_data(ACK, 5) == [protocol.Acked()]
    assert link.state == s.AWAIT_REPLY and link.deadline_ms == 1005
    assert link.receive_data(REPLY_FRAME, 900) == [protocol.Reply(REPLY)]
    assert link.state == s.IDLE and link.deadline_ms is None
    assert link.data_to_send() == b""  # the client does not ACK replies (§3.1)


def test_ack_and_reply_in_one_chunk_and_split_anywhere():
    for cut in range(len(ACK + REPLY_FRAME) + 1):
        link = sent_request()
        data = ACK + REPLY_FRAME
        events = link.receive_data(data[:cut], 1) + link.receive_data(data[cut:], 2)
        assert events == [protocol.Acked(), protocol.Reply(REPLY)], cut


def test_nak_then_enq_polls_then_resend():
    link = sent_request()
    assert link.receive_data(NAK, 1) == []
    assert link.state == s.NAK_POLL and link.data_to_send() == ENQ
    assert link.receive_data(NAK, 2) == []  # still busy: wait out the interval
    assert link.data_to_send() == b""
    assert link.handle_timeout(21) == [] and link.data_to_send() == ENQ
    assert link.receive_data(ACK, 25) == []
    assert link.state == s.AWAIT_ACK and link.data_to_send() == CN_FRAME
    assert link.receive_data(ACK + REPLY_FRAME, 30) == [protocol.Acked(), protocol.Reply(REPLY)]


def test_three_naks_give_not_ready_and_link_stays_usable():
    link = sent_request()
    for _ in range(2):
        link.receive_data(NAK, 0)
        assert link.data_to_send() == ENQ
        link.receive_data(ACK, 0)
        assert link.data_to_send() == CN_FRAME
    events = link.receive_data(NAK, 0)
    assert events == [protocol.Failed(protocol.NotReady("x"))]
    assert not events[0].error.request_may_have_run
    assert link.state == s.IDLE
    sent_request(link)  # nothing was left in flight


def test_enq_polls_unanswered_give_not_ready():
    link = sent_request()
    link.receive_data(NAK, 0)
    sent = [link.data_to_send()]
    now = 0
    events = []
    while not events:
        now = link.deadline_ms
        events = link.handle_timeout(now)
        sent.append(link.data_to_send())
    assert sent == [ENQ, ENQ, ENQ, b""]  # max_enq_polls ENQs, 20 ms apart
    assert now == 60
    assert type(events[0].error) is protocol.NotReady and link.state == s.IDLE


def test_unexpected_byte_where_ack_belongs_is_a_protocol_error():
    for junk in (b"\x41", ENQ, REPLY_FRAME):
        link = sent_request()
        events = link.receive_data(junk, 1)
        assert len(events) == 1 and type(events[0].error) is protocol.UnexpectedByte, junk
        assert link.state == s.BROKEN
        raises(protocol.LocalProtocolError, link.send, CN, 2)
        link.reset()
        assert link.state == s.IDLE


def test_ack_timeout_breaks_the_link():
    link = sent_request()
    assert link.handle_timeout(99) == []  # early: nothing happens
    events = link.handle_timeout(100)
    assert type(events[0].error) is protocol.AckTimeout and link.state == s.BROKEN
    assert link.receive_data(ACK + REPLY_FRAME, 101) == []  # late answers are ignored


def test_reply_timeout_and_per_request_override():
    link = fast_link()
    link.send(CN, 0, reply_timeout_ms=50000)
    link.receive_data(ACK, 10)
    assert link.deadline_ms == 50010
    events = link.handle_timeout(50010)
    assert type(events[0].error) is protocol.ReplyTimeout
    assert events[0].error.request_may_have_run


def test_corrupt_reply_is_reported():
    link = sent_request()
    link.receive_data(ACK, 1)
    bad = REPLY_FRAME[:-1] + bytes([REPLY_FRAME[-1] ^ 0xFF])
    events = link.receive_data(bad, 2)
    assert type(events[0].error) is protocol.CorruptReply and link.state == s.BROKEN


def test_noise_while_awaiting_reply_is_skipped():
    link = sent_request()
    events = link.receive_data(ACK + b"\x00\xff" + ACK + REPLY_FRAME, 1)
    assert events == [protocol.Acked(), protocol.Reply(REPLY)]


def test_probe():
    link = fast_link()
    link.probe(0)
    assert link.data_to_send() == ENQ and link.state == s.PROBING
    assert link.receive_data(ACK, 1) == [protocol.ProbeResult(True)]
    link.probe(2)
    assert link.receive_data(NAK, 3) == [protocol.ProbeResult(False)]
    link.probe(4)
    assert type(link.handle_timeout(104)[0].error) is protocol.AckTimeout


def test_stray_input_while_idle_is_reported_not_fatal():
    link = fast_link()
    assert link.receive_data(REPLY_FRAME, 0) == [protocol.Stray(protocol.Frame(REPLY))]
    assert link.state == s.IDLE


def test_one_request_at_a_time():
    link = sent_request()
    err = raises(protocol.LocalProtocolError, link.send, CN, 1)
    assert "AWAIT_ACK" in str(err)
    raises(protocol.LocalProtocolError, link.probe, 1)


def test_lrc_skip_on_send():
    link = protocol.ClientLink(lrc_skip=True)
    link.send(CN, 0)
    assert link.data_to_send()[-1] == protocol.LRC_SKIP
