"""Messages: layouts, command suffixes, round trips and reply matching."""

import protocol

from _support import raises

ENC = b"Online Encoder 1"


def test_cn_count_suffix():
    msg = protocol.EncodeCard(b"CN", ENC, (b"101",), count=2)
    assert msg.fields()[0] == b"CN2"
    assert protocol.decode_request(msg.fields()) == msg
    assert protocol.decode_request([b"CN", ENC, b"E", b"101"]).count is None
    for bad in (0, 10):
        err = raises(protocol.FieldError, protocol.EncodeCard, b"CN", ENC, (b"101",), count=bad)
        assert err.field == "count"
    raises(protocol.MalformedMessage, protocol.decode_request, [b"CN0", ENC, b"E", b"101"])
    raises(protocol.MalformedMessage, protocol.decode_request, [b"CNX", ENC, b"E", b"101"])


def test_cn_full_layout_positions():
    msg = protocol.EncodeCard(b"CA", ENC, (b"101", b"Pool"), eject=b"R", granted=(1, 36),
                              denied=(62,), start=(2025, 1, 1, 14, 0),
                              expiry=(2025, 1, 2, 11, 0), operator=b"desk",
                              print_info=(b"line 1", b"line 2", b"line 3"),
                              serial_return=b"1")
    assert msg.fields() == [b"CA", ENC, b"R", b"101", b"Pool", b"", b"", b"1!", b"}",
                            b"1400010125", b"1100020125", b"desk", b"line 1", b"line 2",
                            b"line 3", b"1"]


def test_mobile_layout_has_no_eject():
    msg = protocol.EncodeMobile(b"CCM", b"+34619123456", (b"101",), granted=(2,),
                                message=b"Hi", auth_code=b"PLATE1")
    fields = msg.fields()
    assert fields[1] == b"+34619123456" and fields[2] == b"101" and fields[6] == b"2"
    assert fields[14] == b"Hi" and fields[15] == b"PLATE1" and len(fields) == 16
    assert protocol.decode_request(fields) == msg


def test_binary_mobile_key():
    req = protocol.EncodeMobileBinary(b"CNMB", b"+34619123456", (b"101",),
                                      return_installation_id=b"1")
    assert req.fields()[14] == b"1" and protocol.decode_request(req.fields()) == req
    reply = protocol.decode_reply([b"CNMB", b"+34619123456", b"11A5C9DF012C4A8061FEACCDE8",
                                   b"tDexFrFquvhyA7"])
    assert reply.key == bytes.fromhex("11A5C9DF012C4A8061FEACCDE8")
    assert reply.installation_id == b"tDexFrFquvhyA7"
    assert protocol.check_reply(req, reply) is reply


def test_tracks():
    assert protocol.ReadTrack(3, ENC).fields() == [b"L3", ENC, b"E"]
    assert protocol.decode_request([b"P1", ENC, b"R", b"hello"]) == protocol.WriteTrack(
        1, ENC, b"hello", eject=b"R")
    raises(protocol.FieldError, protocol.ReadTrack, 4, ENC)
    raises(protocol.MalformedMessage, protocol.decode_request, [b"L4", ENC, b"E"])
    reply = protocol.decode_reply([b"L2", ENC, b"text"])
    assert reply.track == 2 and reply.text == b"text"
    raises(protocol.MalformedMessage, protocol.check_reply, protocol.ReadTrack(1, ENC), reply)


def test_lt_replies():
    guest = protocol.decode_reply([b"LT", ENC, b"101", b"", b"", b"", b"CO", b"A", b"12",
                                   b"1400010125", b"1100020125", b"desk"])
    assert type(guest) is protocol.GuestCard
    assert guest.status == b"CO" and guest.copy == b"A" and guest.granted == (1, 2)
    for kind in (b"LM", b"LR", b"LC", b"LD"):
        other = protocol.decode_reply([b"LT", ENC, kind])
        assert type(other) is protocol.OtherCard and other.card_type == kind
        assert protocol.check_reply(protocol.ReadCard(ENC), other) is other


def test_audit_records():
    staff = protocol.decode_reply([b"WN", b"Door 1", b"21/12", b"10:30", b"0", b"I",
                                   b"STAFF   ", b"", b"Bob"])
    assert staff.card == b"STAFF   " and staff.user == b"Bob"
    raises(protocol.MalformedMessage, protocol.decode_reply,
           [b"WN", b"Door 1", b"21-12", b"10:30", b"0"])
    request = protocol.AuditRequest(b"WN", b"Door 1")
    for reply in (staff, protocol.AuditEnd(b"Door 1"), protocol.AuditError(b"Door 1", b"db")):
        assert protocol.check_reply(request, reply) is reply


def test_every_error_code_becomes_a_vendor_error():
    assert len(protocol.ERROR_CODES) == 13
    for code in protocol.ERROR_CODES:
        reply = protocol.decode_reply([code, ENC, b"something"])
        err = raises(protocol.VendorError, protocol.check_reply, protocol.ReadCard(ENC), reply)
        assert err.code == code and err.meaning == protocol.ERROR_CODES[code]
        assert err.target == ENC and err.detail == b"something"


def test_reply_must_answer_the_request():
    cn = protocol.EncodeCard(b"CN", ENC, (b"101",))
    raises(protocol.MalformedMessage, protocol.check_reply, cn, protocol.CardEncoded(b"CC", ENC))
    raises(protocol.MalformedMessage, protocol.check_reply, cn, protocol.CheckedOut(b"101"))
    assert protocol.check_reply(cn, protocol.CardEncoded(b"CN", ENC, (b"04A1B2",)))


def test_unknown_and_empty_commands():
    for fields in ([b"XX", b"1"], [b""], []):
        raises(protocol.MalformedMessage, protocol.decode_request, fields)
    err = raises(protocol.MalformedMessage, protocol.decode_reply, [b"ZZ"])
    assert "unknown command" in str(err)


def test_unexpected_extra_fields_are_refused_but_empty_ones_accepted():
    raises(protocol.MalformedMessage, protocol.decode_request, [b"LT", ENC, b"E", b"extra"])
    assert protocol.decode_request([b"LT", ENC, b"E", b"", b""]) == protocol.ReadCard(ENC)


def test_checkout_and_modify():
    assert protocol.CheckOut(b"101").fields() == [b"CO", b"0", b"101"]
    raises(protocol.MalformedMessage, protocol.decode_request, [b"CO", b"1", b"101"])
    mc = protocol.ModifyCheckIn(b"101", expiry=(2025, 1, 3, 11, 0))
    assert mc.fields() == [b"MC", b"101", b"", b"1100030125"]
    assert protocol.decode_request(mc.fields()) == mc
    assert protocol.check_reply(mc, protocol.CheckInModified(b"101"))


def test_wrong_command_for_class_is_a_field_error():
    err = raises(protocol.FieldError, protocol.EncodeCard, b"CX", ENC, (b"101",))
    assert err.field == "command"
    raises(protocol.FieldError, protocol.AuditRequest, b"WX", b"door")


def test_content_in_a_layout_gap_is_refused():
    # CNM fields #11-#13 are the empty text-line slots of CN (§5.3).
    fields = protocol.EncodeMobile(b"CNM", b"+34619123456", (b"101",), message=b"Hi").fields()
    fields[12] = b"lost"
    err = raises(protocol.MalformedMessage, protocol.decode_request, fields)
    assert "#12" in str(err)


def test_replies_may_carry_latin1_but_requests_may_not():
    reply = protocol.ErrorReply(b"EG", ENC, b"Carte non valide, r\xe9essayez")
    assert protocol.decode_reply(reply.fields()) == reply
    err = raises(protocol.FieldError, protocol.EncodeCard, b"CN", ENC, (b"Ch\xe2teau",))
    assert err.field == "rooms" and "ASCII" in err.reason
    raises(protocol.FieldError, protocol.ErrorReply, b"EG", ENC, b"bad \xb3")


def test_guest_card_room_may_not_look_like_a_card_type():
    err = raises(protocol.FieldError, protocol.GuestCard, ENC, (b"LM",), b"CI", b"0")
    assert err.field == "rooms"


def test_reply_suffixes_are_validated():
    assert raises(protocol.FieldError, protocol.CardEncoded, b"CN", ENC, count=0).field == "count"
    assert raises(protocol.FieldError, protocol.TrackRead, 0, ENC).field == "track"
    assert raises(protocol.FieldError, protocol.TrackWritten, 4, ENC).field == "track"
    err = raises(protocol.MalformedMessage, protocol.decode_reply, [b"L0", ENC])
    assert err.field == "track"


def test_mixed_authorizations_name_the_field():
    err = raises(protocol.FieldError, protocol.EncodeCard, b"CN", ENC, (b"101",),
                 granted=(1, "a"))
    assert err.field == "granted"


def test_forms_clients_in_the_field_send_are_taken_but_never_sent():
    """Postel: where the notes are unsure, what arrives is taken (the simulator's site rules
    answer it as Space would); what goes out keeps to the notes' limits."""
    ten = protocol.decode_request([b"CN10", ENC, b"E", b"101"])
    assert ten.count == 10
    assert raises(protocol.FieldError, ten.fields).field == "count"
    no_room = protocol.decode_request([b"CA", ENC, b"E", b"", b"", b"", b"", b"1"])
    assert no_room.rooms == () and no_room.granted == (1,)
    assert raises(protocol.FieldError, no_room.fields).field == "rooms"
    long_line = b"M" * 30
    printed = protocol.decode_request([b"CN", ENC, b"E", b"101"] + [b""] * 8 + [long_line])
    assert printed.print_info == (long_line,)
    assert raises(protocol.FieldError, printed.fields).field == "print_info"
    national = protocol.decode_request([b"CNM", b"0612345678", b"101"])
    assert national.phone == b"0612345678"
    assert raises(protocol.FieldError, national.fields).field == "phone"
    track = protocol.decode_request([b"P1", ENC, b"E", b"T" * 40])
    assert raises(protocol.FieldError, track.fields).field == "text"
    latin = protocol.decode_request([b"CN", ENC, b"E", b"101", b"", b"", b"", b"", b"", b"",
                                     b"", b"Jos\xe9"])
    assert latin.operator == b"Jos\xe9"


def test_a_control_byte_is_refused_even_on_receipt_and_the_field_is_numbered():
    err = raises(protocol.MalformedMessage, protocol.decode_request,
                 [b"CN", ENC, b"E", b"Room\x1b1"])
    assert err.field == "rooms" and err.number == 3
    assert raises(protocol.MalformedMessage, protocol.decode_request, [b"XX"]).number == 0
    bad = raises(protocol.MalformedMessage, protocol.decode_request, [b"CNM", b"06-12", b"101"])
    assert "b'" not in str(bad)  # no Python bytes literal in a message a person reads
