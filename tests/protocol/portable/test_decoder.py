"""FrameDecoder: chunking, garbage, bad LRC, truncation and the buffer cap."""

import protocol
from protocol import BadFrame, Control, Frame

from _support import chunkings, feed_all

CN = [b"CN", b"Online Encoder 1", b"R", b"Room 1"]
FRAME = protocol.encode_frame(CN)


def decode(data, **kwargs):
    return protocol.FrameDecoder(**kwargs).feed(data)


def test_public_api_example():
    assert decode(FRAME) == [Frame(CN)]
    assert decode(FRAME)[0].fields == CN
    assert protocol.lrc(FRAME[1:-1]) == 0x8B


def test_any_chunking_gives_the_same_items():
    data = b"\x06" + FRAME + b"\x15\x05" + FRAME
    want = [Control(0x06), Frame(CN), Control(0x15), Control(0x05), Frame(CN)]
    for chunks in chunkings(data):
        assert feed_all(protocol.FrameDecoder(), chunks) == want
    for cut in range(len(data)):
        decoder = protocol.FrameDecoder()
        assert decoder.feed(data[:cut]) + decoder.feed(data[cut:]) == want


def test_garbage_is_skipped_to_the_next_stx():
    assert decode(b"\x00\xffnoise" + FRAME + b"tail") == [Frame(CN)]
    reported = decode(b"noise" + FRAME, report_garbage=True)
    assert reported == [BadFrame(BadFrame.GARBAGE), Frame(CN)]
    assert reported[0].data == b"noise"


def test_bad_lrc_is_reported_and_the_next_frame_still_decodes():
    bad = FRAME[:-1] + bytes([FRAME[-1] ^ 0x40])
    items = decode(bad + FRAME)
    assert items == [BadFrame(BadFrame.BAD_LRC), Frame(CN)]
    assert items[0].data == bad


def test_lrc_skip_is_honoured():
    skipped = protocol.encode_frame(CN, lrc_skip=True)
    assert skipped[-1] == 0x0D
    items = decode(skipped)
    assert items == [Frame(CN)] and items[0].lrc_skipped


def test_lrc_byte_may_be_a_control_byte():
    # Find rooms whose frames have LRC 0x02, 0x03, 0x05, 0x06, 0x15, 0xB3:
    # the byte after ETX is always the LRC, never a new STX or an ACK.
    # ASCII fields XOR below 0x80, so the high bit comes from an odd number
    # of separators: try frames of two and of three fields.
    found = {}
    for a in range(0x20, 0x7F):
        for b in range(0x20, 0x7F):
            text = bytes([a, b])
            for fields in ([b"LT", text], [b"CO", b"0", text]):
                frame = protocol.encode_frame(fields)
                if frame[-1] in (0x02, 0x03, 0x05, 0x06, 0x15, 0xB3):
                    found[frame[-1]] = (fields, frame)
    assert sorted(found) == [0x02, 0x03, 0x05, 0x06, 0x15, 0xB3]
    for fields, frame in found.values():
        for chunks in chunkings(frame + frame):
            assert feed_all(protocol.FrameDecoder(), chunks) == [Frame(fields), Frame(fields)]


def test_truncated_frame_then_new_frame():
    items = decode(FRAME[:10] + FRAME)
    assert items == [BadFrame(BadFrame.TRUNCATED), Frame(CN)]


def test_trailing_empty_fields_are_kept_in_the_frame():
    fields = CN + [b"", b""]
    assert decode(protocol.encode_frame(fields)) == [Frame(fields)]


def test_missing_final_separator_is_tolerated():
    body = b"\xb3CN\xb3Enc\x03"
    assert decode(b"\x02" + body + bytes([protocol.lrc(body)])) == [Frame([b"CN", b"Enc"])]


def test_frame_without_leading_separator_is_bad():
    body = b"CN\xb3\x03"
    assert decode(b"\x02" + body + bytes([protocol.lrc(body)])) == [
        BadFrame(BadFrame.NO_SEPARATOR)]


def test_buffer_is_capped_and_decoding_recovers():
    decoder = protocol.FrameDecoder()
    items = decoder.feed(b"\x02\xb3" + b"A" * 5000)
    assert items == [BadFrame(BadFrame.TOO_LONG)]
    assert len(items[0].data) <= protocol.MAX_FRAME_BYTES
    assert decoder.buffered <= protocol.MAX_FRAME_BYTES
    assert decoder.feed(b"A" * 100 + FRAME) == [Frame(CN)]


def test_cap_counts_a_frame_fed_in_small_chunks():
    decoder = protocol.FrameDecoder(max_frame_bytes=64)
    items = []
    for _ in range(40):
        items += decoder.feed(b"\x02\xb3" if not items and _ == 0 else b"AB")
        assert decoder.buffered <= 64
    assert items == [BadFrame(BadFrame.TOO_LONG)]


def test_largest_frame_fits_exactly():
    # STX, SEP, "CN", SEP, field, SEP, ETX, LRC: 8 bytes besides the field.
    fields = [b"CN", b"x" * (protocol.MAX_FRAME_BYTES - 8)]
    frame = protocol.encode_frame(fields)
    assert len(frame) == protocol.MAX_FRAME_BYTES
    assert decode(frame) == [Frame(fields)]


def test_reset_forgets_a_partial_frame():
    decoder = protocol.FrameDecoder()
    decoder.feed(FRAME[:5])
    decoder.reset()
    assert decoder.buffered == 0
    assert decoder.feed(FRAME[5:] + FRAME) == [Frame(CN)]


def test_overlong_frame_cut_by_a_new_stx_in_one_chunk_is_too_long():
    decoder = protocol.FrameDecoder(max_frame_bytes=64)
    items = decoder.feed(b"\x02\xb3" + b"A" * 100 + FRAME)
    assert items == [BadFrame(BadFrame.TOO_LONG), Frame(CN)]


def test_truncated_frame_data_does_not_depend_on_chunking():
    data = b"\x02\x00" + FRAME
    for chunks in chunkings(data):
        items = feed_all(protocol.FrameDecoder(), chunks)
        assert items == [BadFrame(BadFrame.TRUNCATED), Frame(CN)]
        assert items[0].data == b"\x02\x00"
