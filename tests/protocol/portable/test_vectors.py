"""The golden vectors of tests/vectors/frames.txt against the protocol package.

Portable: plain ``test_*`` functions and ``assert``; imports only ``protocol``,
``_support`` and ``_vectors``, so the same file runs on MicroPython. Each test
checks one property over every vector.
"""

import protocol

import _vectors
from _support import chunkings, feed_all, raises

# The notes' §9 V2 and V3, copied from the notes: the file must hold them byte-exactly.
NOTES_V2 = (
    "02 B3 43 4E B3 4F 6E 6C 69 6E 65 20 45 6E 63 6F 64 65 72 20 31 B3 52 B3 52 6F 6F 6D"
    " 20 31 B3 03 8B"
)
NOTES_V3 = "02 B3 43 4E B3 4F 6E 6C 69 6E 65 20 45 6E 63 6F 64 65 72 20 31 B3 03 F7"

MIN_VECTORS = 75
# LRC values a careless stream parser would mistake for framing or control bytes.
TRICKY_LRCS = (0x02, 0x03, 0x06, 0x15, 0xB3)
# Garbage around a vector: no STX, ENQ, ACK or NAK, so no item may come of it.
GARBAGE_BEFORE = bytes([0x00, 0x41, 0x03, 0xB3, 0x0D, 0xFF])
GARBAGE_AFTER = bytes([0x03, 0xB3, 0x7F, 0x00, 0x0D])

START = (2025, 1, 1, 14, 0)  # 1400010125
EXPIRY = (2025, 1, 2, 11, 0)  # 1100020125
ENCODER = b"Online Encoder 1"
PHONE = b"+34619123456"


def framed():
    return [v for v in _vectors.load() if v.direction != "control"]


def item(vector):
    """What FrameDecoder must yield for the vector."""
    if vector.direction == "control":
        return protocol.Control(vector.frame[0])
    return protocol.Frame(vector.fields, vector.lrc_skip)


def same_items(got, want):
    """Equal, and each Frame also agrees on ``lrc_skipped`` (Frame.__eq__ ignores it)."""
    if got != want:
        return False
    for a, b in zip(got, want):
        if isinstance(a, protocol.Frame) and a.lrc_skipped != b.lrc_skipped:
            return False
    return True


def decode(vector, fields=None):
    """The vector's message (or that of ``fields``, decoded in the vector's direction)."""
    fields = vector.fields if fields is None else fields
    if vector.direction == "request":
        return protocol.decode_request(fields)
    return protocol.decode_reply(fields)


def expected_messages():
    """Vector name -> the exact message it decodes to (one or more per message class)."""
    return {
        # Requests.
        "v02-cn-minimal": protocol.EncodeCard(b"CN", ENCODER, (b"Room 1",), eject=b"R"),
        "d-cn2-all-fields": protocol.EncodeCard(
            b"CN", ENCODER, (b"Room 101", b"Room 102", b"Pool", b"Gym"), count=2,
            eject=b"E", granted=(1, 2, 9, 10, 26, 35, 36, 37, 57),
            denied=(58, 59, 60, 61, 62), start=START, expiry=EXPIRY,
            operator=b"Reception Anna",
            print_info=(b"Welcome Family Smith", b"Pitch 12 - 3 nights",
                        b"Wifi: campsite-guest"),
            serial_return=b"1"),
        "d-cc-serial-all": protocol.EncodeCard(
            b"CC", b"Online Encoder 2", (b"Room 101",), expiry=EXPIRY,
            operator=b"Reception", serial_return=b"2"),
        "d-cc3-copies": protocol.EncodeCard(b"CC", ENCODER, (b"Room 7",), count=3),
        "d-ca-one-shot": protocol.EncodeCard(
            b"CA", ENCODER, (b"Room 101",), eject=b"T", operator=b"Night desk"),
        "d-cnm-text-auth-code": protocol.EncodeMobile(
            b"CNM", PHONE, (b"Room 101",), granted=(1, 2), start=START, expiry=EXPIRY,
            operator=b"Reception",
            message=b"Welcome to Camping Sol!\nGate code on arrival.",
            auth_code=b"PARK-AB12"),
        "d-cnm-rb-15-fields": protocol.EncodeMobile(
            b"CNM", b"+31612345678", (b"Room 3", b"Room 4"), start=START, expiry=EXPIRY),
        "d-ccm": protocol.EncodeMobile(
            b"CCM", b"0031612345678", (b"Room 101",), expiry=EXPIRY, operator=b"Reception",
            message=b"Second key for your partner"),
        "d-cnmb": protocol.EncodeMobileBinary(
            b"CNMB", PHONE, (b"Room 101",), start=START, expiry=EXPIRY,
            operator=b"Reception", return_installation_id=b"1"),
        "d-ccmb": protocol.EncodeMobileBinary(
            b"CCMB", PHONE, (b"Room 101",), expiry=EXPIRY, return_installation_id=b"0"),
        "d-co": protocol.CheckOut(b"Room 101"),
        "d-mc": protocol.ModifyCheckIn(
            b"Room 101", new_room=b"Room 102", expiry=(2025, 1, 5, 11, 0),
            auth_code=b"PARK-AB12"),
        "d-lt": protocol.ReadCard(ENCODER, eject=b"E"),
        "d-l2": protocol.ReadTrack(2, ENCODER, eject=b"R"),
        "d-p1": protocol.WriteTrack(1, ENCODER, b"Pitch 12"),
        "d-p3": protocol.WriteTrack(3, ENCODER, b""),
        "d-wr": protocol.AuditRequest(b"WR", b"Door 101"),
        # Replies.
        "v03-cn-reply": protocol.CardEncoded(b"CN", ENCODER),
        "d-cc-reply-serials": protocol.CardEncoded(
            b"CC", b"Online Encoder 2", serials=(b"04A1B2C3", b"04A1B2C4")),
        "d-cnm-reply": protocol.MobileKeySent(b"CNM", PHONE),
        "d-ccm-reply-room": protocol.MobileKeySent(b"CCM", b"0031612345678", room=b"Room 101"),
        "d-cnmb-reply": protocol.MobileKeyBinary(
            b"CNMB", PHONE, bytes.fromhex("11A5C9DF012C4A8061FEACCDE8"),
            installation_id=b"tDexFrFquvhyA7"),
        "d-ccmb-reply": protocol.MobileKeyBinary(
            b"CCMB", PHONE, bytes.fromhex("11A5C9DF012C4A8061FEACCDE8")),
        "d-co-reply": protocol.CheckedOut(b"Room 101"),
        "d-mc-reply": protocol.CheckInModified(b"Room 101"),
        "d-lt-guest-ci": protocol.GuestCard(
            ENCODER, (b"Room 101", b"Pool"), b"CI", b"0",
            granted=(1, 2, 3, 10, 35, 36, 62), start=START, expiry=EXPIRY,
            operator=b"Reception"),
        "d-lt-guest-co-third-copy": protocol.GuestCard(
            ENCODER, (b"Room 101",), b"CO", b"I", start=START, expiry=EXPIRY,
            operator=b"Reception"),
        "d-lt-guest-one-shot": protocol.GuestCard(
            ENCODER, (b"Room 101",), b"CI", b"A", operator=b"Night desk"),
        "d-lt-lm": protocol.OtherCard(ENCODER, b"LM"),
        "d-lt-lc": protocol.OtherCard(ENCODER, b"LC"),
        "d-l3-reply": protocol.TrackRead(3, ENCODER, b"Family Smith"),
        "d-l2-reply": protocol.TrackRead(2, ENCODER),
        "d-p3-reply": protocol.TrackWritten(3, ENCODER),
        "d-wf-guest": protocol.AuditRecord(
            b"WF", b"Door 101", b"21/12", b"10:30", b"0", direction=b"I", card=b"Room 101",
            copy=b"#0"),
        "d-wn-staff": protocol.AuditRecord(
            b"WN", b"Door 101", b"21/12", b"09:15", b"0", direction=b"O", card=b"STAFF   ",
            user=b"John Smith"),
        "d-wr-spare-denied": protocol.AuditRecord(
            b"WR", b"Door 101", b"20/12", b"23:59", b"3", direction=b"I", card=b" " * 8,
            copy=b"S1"),
        "d-wo": protocol.AuditEnd(b"Door 101"),
        "d-we": protocol.AuditError(b"Door 999", b"Unknown door"),
        "d-err-es": protocol.ErrorReply(b"ES"),
        "d-err-nc": protocol.ErrorReply(b"NC", b"Online Encoder 9"),
        "d-err-eg": protocol.ErrorReply(b"EG", PHONE, b"Phone has no JustIN Mobile app"),
    }


MESSAGE_CLASSES = (
    protocol.EncodeCard, protocol.EncodeMobile, protocol.EncodeMobileBinary,
    protocol.CheckOut, protocol.ModifyCheckIn, protocol.ReadCard, protocol.ReadTrack,
    protocol.WriteTrack, protocol.AuditRequest, protocol.CardEncoded,
    protocol.MobileKeySent, protocol.MobileKeyBinary, protocol.CheckedOut,
    protocol.CheckInModified, protocol.GuestCard, protocol.OtherCard, protocol.TrackRead,
    protocol.TrackWritten, protocol.AuditRecord, protocol.AuditEnd, protocol.AuditError,
    protocol.ErrorReply,
)

# (request vector, reply vector): the reply answers the request successfully.
ANSWERED = (
    ("v02-cn-minimal", "v03-cn-reply"),
    ("d-cn2-all-fields", "d-cn2-reply-serial"),
    ("d-cc-serial-all", "d-cc-reply-serials"),
    ("d-ca-one-shot", "d-ca-reply"),
    ("d-cnm-text-auth-code", "d-cnm-reply"),
    ("d-ccm", "d-ccm-reply-room"),
    ("d-cnmb", "d-cnmb-reply"),
    ("d-ccmb", "d-ccmb-reply"),
    ("d-co", "d-co-reply"),
    ("d-mc", "d-mc-reply"),
    ("d-lt", "d-lt-guest-ci"),
    ("d-lt", "d-lt-ld"),
    ("d-l1", "d-l1-reply"),
    ("d-l2", "d-l2-reply"),
    ("d-p3", "d-p3-reply"),
    ("d-wf", "d-wf-guest"),
    ("d-wn", "d-wn-staff"),
    ("d-wr", "d-wr-spare-denied"),
    ("d-wn", "d-wo"),
    ("d-wf", "d-we"),
)


def test_file_holds_the_vectors_and_every_annotation_is_right():
    vectors = _vectors.load()
    assert len(vectors) >= MIN_VECTORS, len(vectors)
    problems = ["%s (line %d): %s" % (v.name, v.line, p) for v in vectors for p in v.problems]
    assert not problems, "\n".join(problems)
    directions = [v.direction for v in vectors]
    for direction in _vectors.DIRECTIONS:
        assert direction in directions, direction


def test_notes_vectors_are_byte_exact():
    v2 = _vectors.by_name("v02-cn-minimal").frame
    assert v2 == bytes.fromhex(NOTES_V2)
    assert len(v2) == 33 and v2[-1] == 0x8B
    skip = _vectors.by_name("v02-cn-minimal-lrc-skip").frame
    assert skip == v2[:-1] + bytes([0x0D])
    v3 = _vectors.by_name("v03-cn-reply").frame
    assert v3 == bytes.fromhex(NOTES_V3)
    assert v3[-1] == 0xF7
    controls = [v.frame for v in _vectors.load() if v.direction == "control"]
    for byte in (protocol.ENQ, protocol.ACK, protocol.NAK):
        assert bytes([byte]) in controls


def test_tricky_lrc_values_are_covered():
    lrcs = [v.frame[-1] for v in framed() if not v.lrc_skip]
    for value in TRICKY_LRCS:
        assert value in lrcs, "no vector with LRC 0x%02X" % value


def test_encode_frame_gives_the_bytes():
    for vector in framed():
        frame = protocol.encode_frame(vector.fields, lrc_skip=vector.lrc_skip)
        assert frame == vector.frame, vector.name
        if vector.lrc_skip:
            assert frame[-1] == protocol.LRC_SKIP, vector.name
        else:
            assert protocol.lrc(frame[1:-1]) == frame[-1], vector.name


def test_decodes_whole_and_one_byte_at_a_time():
    for vector in _vectors.load():
        want = [item(vector)]
        for chunks in chunkings(vector.frame):
            got = feed_all(protocol.FrameDecoder(), chunks)
            assert same_items(got, want), (vector.name, got)
        # Nothing comes out before the last byte.
        decoder = protocol.FrameDecoder()
        for i in range(len(vector.frame) - 1):
            assert decoder.feed(vector.frame[i : i + 1]) == [], (vector.name, i)
        assert decoder.buffered == len(vector.frame) - 1, vector.name
        assert same_items(decoder.feed(vector.frame[-1:]), want), vector.name
        assert decoder.buffered == 0, vector.name


def test_decodes_with_garbage_around():
    for vector in _vectors.load():
        data = GARBAGE_BEFORE + vector.frame + GARBAGE_AFTER
        for chunks in chunkings(data):
            decoder = protocol.FrameDecoder()
            got = feed_all(decoder, chunks)
            assert same_items(got, [item(vector)]), (vector.name, got)
            assert decoder.buffered == 0, vector.name
        got = protocol.FrameDecoder(report_garbage=True).feed(data)
        garbage = protocol.BadFrame(protocol.BadFrame.GARBAGE)
        assert same_items(got, [garbage, item(vector), garbage]), (vector.name, got)
        assert got[0].data == GARBAGE_BEFORE and got[2].data == GARBAGE_AFTER, vector.name


def test_decodes_back_to_back():
    vectors = _vectors.load()
    for i, vector in enumerate(vectors):
        following = vectors[(i + 1) % len(vectors)]
        data = vector.frame + following.frame
        want = [item(vector), item(following)]
        for chunks in chunkings(data):
            got = feed_all(protocol.FrameDecoder(), chunks)
            assert same_items(got, want), (vector.name, following.name, got)


def test_every_message_decodes_and_re_encodes():
    for vector in framed():
        message = decode(vector)
        if vector.reencode:
            assert message.fields() == vector.trimmed(), vector.name
            frame = protocol.encode_frame(message.fields())
            again = protocol.FrameDecoder().feed(frame)
            assert len(again) == 1 and decode(vector, again[0].fields) == message
        if vector.same is not None:
            assert decode(_vectors.by_name(vector.same)) == message, vector.name


def test_trailing_empty_fields_are_accepted():
    untrimmed = [v for v in framed() if v.fields[-1] == b""]
    assert untrimmed, "no vector with trailing empty fields"
    for vector in untrimmed:
        assert decode(vector).fields() == vector.trimmed(), vector.name
        trimmed = protocol.encode_frame(vector.trimmed())
        assert len(trimmed) < len(vector.frame), vector.name


def test_vectors_decode_to_the_expected_messages():
    table = expected_messages()
    covered = []
    for name in table:
        want = table[name]
        vector = _vectors.by_name(name)
        got = decode(vector)
        assert type(got) is type(want), (name, got)
        assert got == want, (name, got, want)
        assert want.fields() == vector.trimmed(), name
        covered.append(type(want))
    for cls in MESSAGE_CLASSES:
        assert cls in covered, cls.__name__


def test_replies_answer_their_requests():
    for request_name, reply_name in ANSWERED:
        request = decode(_vectors.by_name(request_name))
        reply = decode(_vectors.by_name(reply_name))
        assert protocol.check_reply(request, reply) is reply, (request_name, reply_name)


def test_every_error_code_has_a_vector_and_raises_vendor_error():
    request = protocol.ReadCard(ENCODER)
    seen = []
    for vector in framed():
        code = vector.fields[0]
        if code not in protocol.ERROR_CODES:
            continue
        reply = decode(vector)
        assert isinstance(reply, protocol.ErrorReply), vector.name
        assert reply.command == code, vector.name
        assert reply.meaning, vector.name
        err = raises(protocol.VendorError, protocol.check_reply, request, reply)
        assert err.code == code, vector.name
        assert err.meaning == reply.meaning, vector.name
        assert err.target == (vector.fields + [b""])[1], vector.name
        assert err.detail == (vector.fields + [b"", b""])[2], vector.name
        seen.append(code)
    for code in protocol.ERROR_CODES:
        assert code in seen, code
    assert len(protocol.ERROR_CODES) == 13


def test_eg_free_text_is_kept():
    eg = decode(_vectors.by_name("d-err-eg"))
    assert eg.detail == b"Phone has no JustIN Mobile app"
    assert eg.target == PHONE


def test_latin1_reply_text_decodes():
    # §2.4: replies may be Latin-1; fields.Text says receiving accepts any byte.
    vector = _vectors.by_name("d-err-eg-latin1")
    assert 0xE9 in vector.fields[2]
    reply = protocol.decode_reply(vector.fields)
    assert isinstance(reply, protocol.ErrorReply)
    assert reply.detail == b"Carte non valide, r\xe9essayez"
    err = raises(protocol.VendorError, protocol.check_reply, protocol.ReadCard(ENCODER), reply)
    assert err.code == b"EG" and err.detail == reply.detail


def test_control_vectors_decode_to_control():
    controls = [v for v in _vectors.load() if v.direction == "control"]
    assert len(controls) == 3
    for vector in controls:
        got = protocol.FrameDecoder().feed(vector.frame)
        assert got == [protocol.Control(vector.frame[0])], vector.name
        assert vector.frame[0] in (protocol.ENQ, protocol.ACK, protocol.NAK), vector.name
