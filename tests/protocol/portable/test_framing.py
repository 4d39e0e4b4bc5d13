"""encode_frame, lrc and the readable form."""

import protocol

from _support import raises


def test_encode_frame_layout():
    frame = protocol.encode_frame([b"CO", b"0", b"101"])
    assert frame == b"\x02\xb3CO\xb30\xb3101\xb3\x03" + bytes([protocol.lrc(frame[1:-1])])


def test_lrc_is_xor_after_stx_through_etx():
    assert protocol.lrc(b"") == 0
    assert protocol.lrc(b"\xb3\x03") == 0xB0
    assert protocol.lrc(bytearray(b"\x01\x02\x04")) == 0x07


def test_forbidden_bytes_are_refused():
    for byte in (0x02, 0x03, 0xB3):
        err = raises(protocol.LocalProtocolError, protocol.encode_frame,
                     [b"CN", b"a" + bytes([byte])])
        assert "field #1" in str(err) and ("0x%02X" % byte) in str(err)


def test_fields_must_be_bytes_and_present():
    assert "bytes" in str(raises(protocol.LocalProtocolError, protocol.encode_frame, ["CN"]))
    raises(protocol.LocalProtocolError, protocol.encode_frame, [])


def test_frame_longer_than_the_cap_is_refused():
    raises(protocol.LocalProtocolError, protocol.encode_frame,
           [b"CN", b"x" * protocol.MAX_FRAME_BYTES])


def test_readable_form():
    assert protocol.readable([b"CN", b"Online Encoder 1", b""]) == "|CN|Online Encoder 1||"
    assert protocol.readable([b"a|b\n\xe9"]) == "|a\\x7cb\\x0a\\xe9|"


def test_control_and_badframe_repr():
    assert repr(protocol.Control(0x06)) == "Control(0x06)"
    assert "bad LRC" in repr(protocol.BadFrame(protocol.BadFrame.BAD_LRC, b"ab"))
    assert protocol.Frame([b"A"]) != protocol.Control(0x06)
