"""Property tests of the stream decoder (CPython only: hypothesis).

Any byte stream, in any chunking: ``FrameDecoder.feed`` never raises, yields
only Frame/Control/BadFrame, stays within its buffer cap, and yields the same
items however the stream is cut. It also heals itself after garbage, bad
LRCs and over-long frames.
"""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol
from protocol import BadFrame, Control, Frame, FrameDecoder, encode_frame, lrc

FAST = settings(max_examples=150, deadline=None, database=None)
FEW = settings(max_examples=40, deadline=None, database=None)

STX, ETX, ENQ, ACK, NAK, SEP = 0x02, 0x03, 0x05, 0x06, 0x15, 0xB3
SPECIAL = [STX, ETX, ENQ, ACK, NAK, SEP, protocol.LRC_SKIP]
REASONS = {BadFrame.BAD_LRC, BadFrame.TRUNCATED, BadFrame.TOO_LONG, BadFrame.NO_SEPARATOR,
           BadFrame.GARBAGE}

# --------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------

FIELD = st.binary(max_size=10).map(lambda b: b.translate(None, bytes([STX, ETX, SEP])))
FIELDS = st.lists(FIELD, min_size=1, max_size=6)
FRAMES = st.tuples(FIELDS, st.booleans()).map(lambda p: encode_frame(p[0], lrc_skip=p[1]))


@st.composite
def bad_lrc_frames(draw):
    frame = encode_frame(draw(FIELDS))
    wrong = draw(st.integers(0, 255).filter(lambda b: b not in (frame[-1], protocol.LRC_SKIP)))
    return frame[:-1] + bytes([wrong])


@st.composite
def cut_frames(draw):
    frame = draw(FRAMES)
    return frame[: draw(st.integers(1, len(frame) - 1))]


PIECES = st.one_of(
    st.binary(max_size=16),
    st.sampled_from(SPECIAL).map(lambda b: bytes([b])),
    FRAMES,
    bad_lrc_frames(),
    cut_frames(),
)
BIASED = st.lists(PIECES, max_size=20).map(b"".join)
STREAMS = st.one_of(st.binary(max_size=400), BIASED)
# Filler that is neither STX, ETX nor a control byte: it never ends a frame.
FILLER_BYTES = bytes(b for b in range(256) if b not in (STX, ETX, ENQ, ACK, NAK))
NO_STX = st.binary(max_size=200).map(lambda b: b.replace(bytes([STX]), b""))


def chunkings(data):
    """Whole, byte by byte, or cut at random points."""

    def split(cuts):
        points = sorted({0, len(data), *cuts})
        return [data[a:b] for a, b in itertools.pairwise(points)]

    return st.one_of(
        st.just([data]),
        st.just([data[i : i + 1] for i in range(len(data))]),
        st.lists(st.integers(0, len(data)), max_size=30).map(split),
    )


def feed(decoder, chunks, cap=protocol.MAX_FRAME_BYTES):
    """Feed every chunk; check types and the buffer cap after each feed."""
    items = []
    for chunk in chunks:
        out = decoder.feed(chunk)
        assert isinstance(out, list)
        items.extend(out)
        assert 0 <= decoder.buffered <= cap
    for item in items:
        assert type(item) in (Frame, Control, BadFrame), item
        if isinstance(item, Control):
            assert item.byte in (ENQ, ACK, NAK)
        elif isinstance(item, BadFrame):
            assert item.reason in REASONS
            assert isinstance(item.data, bytes)
            assert len(item.data) <= cap
            assert item.reason != BadFrame.GARBAGE or decoder.report_garbage
        else:
            assert item.fields, "a frame has at least field #0"
            for value in item.fields:
                assert isinstance(value, bytes)
                assert not set(value) & {STX, ETX, SEP}
    return items


def key(item):
    """What must not depend on chunking (brief: type + fields / byte / reason)."""
    if isinstance(item, Frame):
        return ("frame", tuple(item.fields), item.lrc_skipped)
    if isinstance(item, Control):
        return ("control", item.byte)
    return ("bad", item.reason)


def key_with_data(item):
    return key(item) + ((item.data,) if isinstance(item, BadFrame) else ())


def merged_garbage(items):
    """Keys with runs of GARBAGE items merged (their split follows the chunks)."""
    out = []
    for item in items:
        if isinstance(item, BadFrame) and item.reason == BadFrame.GARBAGE:
            if out and out[-1][:2] == ("bad", BadFrame.GARBAGE):
                out[-1] = ("bad", BadFrame.GARBAGE, out[-1][2] + item.data)
            else:
                out.append(("bad", BadFrame.GARBAGE, item.data))
        else:
            out.append(key(item))
    return out


# --------------------------------------------------------------------------
# Any input
# --------------------------------------------------------------------------


@pytest.mark.parametrize("cap", [protocol.MAX_FRAME_BYTES, 8])
@FAST
@given(stream=STREAMS, data=st.data())
def test_any_stream_any_chunking_same_items(cap, stream, data):
    """Whole, byte by byte and randomly cut give the same items (a small cap too)."""
    whole = [key(i) for i in feed(FrameDecoder(max_frame_bytes=cap), [stream], cap)]
    bytewise = [stream[i : i + 1] for i in range(len(stream))]
    chunks = data.draw(chunkings(stream), label="chunks")
    assert b"".join(chunks) == stream
    for cut in (bytewise, chunks):
        pieces = feed(FrameDecoder(max_frame_bytes=cap), cut, cap)
        assert [key(i) for i in pieces] == whole


@FAST
@given(stream=STREAMS, data=st.data())
def test_dropped_bytes_reported_do_not_depend_on_chunking(stream, data):
    """BadFrame.data ('the dropped bytes') is the same however the stream is cut."""
    whole = feed(FrameDecoder(), [stream])
    pieces = feed(FrameDecoder(), data.draw(chunkings(stream), label="chunks"))
    assert [key_with_data(i) for i in pieces] == [key_with_data(i) for i in whole]


@FAST
@given(stream=STREAMS, data=st.data())
def test_reported_garbage_does_not_depend_on_chunking(stream, data):
    whole = feed(FrameDecoder(report_garbage=True), [stream])
    pieces = feed(FrameDecoder(report_garbage=True), data.draw(chunkings(stream)))
    assert merged_garbage(pieces) == merged_garbage(whole)


@FAST
@given(stream=st.binary(max_size=3000), data=st.data())
def test_buffer_never_exceeds_the_cap(stream, data):
    decoder = FrameDecoder()
    feed(decoder, data.draw(chunkings(stream)))
    decoder.reset()
    assert decoder.buffered == 0


@FAST
@given(stream=STREAMS)
def test_frames_found_in_a_stream_are_framed_correctly(stream):
    """Every Frame yielded re-encodes to bytes that occur in the stream."""
    for item in feed(FrameDecoder(), [stream]):
        if isinstance(item, Frame):
            wire = encode_frame(item.fields, lrc_skip=item.lrc_skipped)
            # A tolerated missing final separator makes the frame one byte shorter.
            body = wire[:-1]
            short = body[:-2] + body[-1:]
            assert body in stream or short in stream


# --------------------------------------------------------------------------
# Self-healing
# --------------------------------------------------------------------------


@FAST
@given(garbage=NO_STX, fields=FIELDS, lrc_skip=st.booleans(), data=st.data())
def test_frame_after_garbage_without_stx_is_decoded(garbage, fields, lrc_skip, data):
    stream = garbage + encode_frame(fields, lrc_skip=lrc_skip)
    items = feed(FrameDecoder(), data.draw(chunkings(stream)))
    assert items[-1] == Frame(fields)
    controls = [b for b in garbage if b in (ENQ, ACK, NAK)]
    assert items[:-1] == [Control(b) for b in controls]


@FAST
@given(prefix=STREAMS, fields=FIELDS, data=st.data())
def test_etx_and_one_byte_resynchronise_after_anything(prefix, fields, data):
    """Whatever state a prefix leaves, ETX + a non-STX byte ends it; the next frame decodes."""
    stream = prefix + bytes([ETX, 0x00]) + encode_frame(fields)
    items = feed(FrameDecoder(), data.draw(chunkings(stream)))
    assert items[-1] == Frame(fields)
    assert items[-1].fields == fields


@FAST
@given(bad=bad_lrc_frames(), fields=FIELDS, data=st.data())
def test_bad_lrc_is_reported_and_the_next_frame_decodes(bad, fields, data):
    good = encode_frame(fields)
    stream = bad + good
    items = feed(FrameDecoder(), data.draw(chunkings(stream)))
    skipped = good[-1] == protocol.LRC_SKIP  # a computed LRC of 0x0D reads as "skip"
    assert [key(i) for i in items] == [
        ("bad", BadFrame.BAD_LRC),
        ("frame", tuple(fields), skipped),
    ]
    assert items[0].data == bad
    assert lrc(bad[1:-1]) != bad[-1]


@FEW
@given(
    extra=st.integers(0, 600),
    filler=st.binary(min_size=1, max_size=64).map(
        lambda b: bytes(FILLER_BYTES[x % len(FILLER_BYTES)] for x in b)
    ),
    fields=FIELDS,
    data=st.data(),
)
def test_over_long_frame_is_dropped_and_the_next_frame_decodes(extra, filler, fields, data):
    """STX, then more than MAX_FRAME_BYTES without ETX, then a good frame."""
    length = protocol.MAX_FRAME_BYTES + extra
    body = (filler * (length // len(filler) + 1))[:length]
    stream = bytes([STX, SEP]) + body + encode_frame(fields)
    decoder = FrameDecoder()
    items = feed(decoder, data.draw(chunkings(stream), label="chunks"))
    assert [key(i) for i in items] == [
        ("bad", BadFrame.TOO_LONG),
        ("frame", tuple(fields), encode_frame(fields)[-1] == protocol.LRC_SKIP),
    ]
    assert items[0].data.startswith(bytes([STX, SEP]))
    assert decoder.buffered == 0


def test_over_long_frame_in_one_chunk_is_reported_too_long():
    """The simplest case of the property above, fed as a single chunk."""
    good = encode_frame([b"LT", b"Encoder 1"])
    stream = bytes([STX, SEP]) + b"A" * (protocol.MAX_FRAME_BYTES + 100) + good
    items = FrameDecoder().feed(stream)
    assert [key(i) for i in items] == [
        ("bad", BadFrame.TOO_LONG),
        ("frame", (b"LT", b"Encoder 1"), False),
    ]
