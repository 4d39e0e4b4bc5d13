"""ServerLink, the Salto end of the link (§3.1, §10)."""

import protocol
from protocol import linkstate as s

from _support import raises

CN = [b"CN", b"Online Encoder 1", b"R", b"Room 1"]
CN_FRAME = protocol.encode_frame(CN)
ACK = bytes([protocol.ACK])
NAK = bytes([protocol.NAK])
ENQ = bytes([protocol.ENQ])


def busy_server():
    server = protocol.ServerLink()
    assert server.receive_data(CN_FRAME) == [protocol.Request(CN)]
    assert server.data_to_send() == ACK
    return server


def test_enq_is_acked_when_ready():
    server = protocol.ServerLink()
    assert server.receive_data(ENQ) == []
    assert server.data_to_send() == ACK


def test_frame_acked_then_reply():
    server = busy_server()
    server.send_reply([b"CN", b"Online Encoder 1"])
    assert server.data_to_send() == protocol.encode_frame([b"CN", b"Online Encoder 1"])
    assert server.state == s.REPLIED


def test_busy_naks_enq_and_frames():
    server = busy_server()
    assert server.receive_data(ENQ) == []
    assert server.data_to_send() == NAK
    assert server.receive_data(CN_FRAME) == [protocol.Rejected(protocol.Rejected.BUSY)]
    assert server.data_to_send() == NAK
    assert server.state == s.BUSY


def test_refused_frames_are_naked_while_enq_still_acked():
    server = protocol.ServerLink()
    server.refuse_frames(2)
    not_ready = protocol.Rejected(protocol.Rejected.NOT_READY)
    assert server.receive_data(CN_FRAME + ENQ + CN_FRAME) == [not_ready, not_ready]
    assert server.data_to_send() == NAK + ACK + NAK
    assert server.frames_to_refuse == 0
    assert server.receive_data(CN_FRAME) == [protocol.Request(CN)]
    assert server.data_to_send() == ACK


def test_bad_lrc_is_naked_and_next_frame_accepted():
    server = protocol.ServerLink()
    bad = CN_FRAME[:-1] + bytes([CN_FRAME[-1] ^ 1])
    assert server.receive_data(bad + CN_FRAME) == [
        protocol.Rejected(protocol.BadFrame.BAD_LRC), protocol.Request(CN)]
    assert server.data_to_send() == NAK + ACK


def test_lrc_skip_frames_are_accepted():
    server = protocol.ServerLink()
    assert server.receive_data(protocol.encode_frame(CN, lrc_skip=True)) == [protocol.Request(CN)]


def test_ack_or_nak_after_reply_is_tolerated():
    for answer, ok in ((ACK, True), (NAK, False)):
        server = busy_server()
        server.send_reply([b"CN", b"Online Encoder 1"])
        server.data_to_send()
        assert server.receive_data(answer) == [protocol.ReplyAcknowledged(ok)]
        assert server.state == s.READY and server.data_to_send() == b""


def test_no_ack_after_reply_is_fine_too():
    server = busy_server()
    server.send_reply([b"CN", b"Online Encoder 1"])
    assert server.receive_data(CN_FRAME) == [protocol.Request(CN)]
    assert server.data_to_send().endswith(ACK)


def test_reply_only_when_busy():
    server = protocol.ServerLink()
    raises(protocol.LocalProtocolError, server.send_reply, [b"CN"])
    assert server.state == s.READY


def test_garbage_is_ignored_and_strays_reported():
    server = protocol.ServerLink()
    assert server.receive_data(b"\x00junk") == []
    assert server.receive_data(ACK) == [protocol.Stray(protocol.Control(protocol.ACK))]
    assert server.data_to_send() == b""
