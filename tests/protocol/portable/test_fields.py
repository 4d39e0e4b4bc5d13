"""Field types: dates, authorizations, phones, choices, text limits, groups."""

import protocol
from protocol.fields import (
    AUTHORIZATION_CHARS,
    Authorizations,
    Choice,
    Date,
    Group,
    Hex,
    Invalid,
    Phone,
    Text,
    days_in_month,
)

from _support import raises


def test_date_is_hhmmddmmyy_local_time():
    assert Date().encode((2022, 12, 21, 10, 30)) == b"1030211222"  # the notes' §4.1 example
    assert Date().decode(b"1030211222") == (2022, 12, 21, 10, 30)
    assert Date().encode(None) == b"" and Date().from_wire([b""]) is None


def test_bad_dates_say_what_is_wrong():
    cases = [
        ((2025, 2, 29, 10, 0), "day 29"),
        ((2025, 13, 1, 10, 0), "month 13"),
        ((1999, 1, 1, 10, 0), "year 1999"),
        ((2025, 1, 1, 24, 0), "24:00"),
        ((2025, 1, 1, 10), "tuple"),
        ((2025, 1, 1, 10, "0"), "ints"),
    ]
    for value, words in cases:
        assert words in str(raises(Invalid, Date().encode, value)), value
    for raw in (b"103021122", b"10302112xx", b"9930211222", b"1030311122"):
        raises(Invalid, Date().decode, raw)


def test_leap_years():
    assert days_in_month(2024, 2) == 29 and days_in_month(2100, 2) == 28
    assert days_in_month(2000, 2) == 29 and days_in_month(2025, 4) == 30
    assert Date().decode(b"0000290224") == (2024, 2, 29, 0, 0)


def test_authorization_map_has_62_distinct_characters():
    assert len(AUTHORIZATION_CHARS) == 62 == len(set(AUTHORIZATION_CHARS))
    for forbidden in b"\"'`|~\x02\x03\xb3":
        assert forbidden not in AUTHORIZATION_CHARS


def test_authorizations_examples_from_the_notes():
    auths = Authorizations()
    assert auths.encode((1, 2, 3, 4, 5)) == b"12345"
    assert auths.decode(b"}{_^]") == (58, 59, 60, 61, 62)
    assert auths.encode((10, 35, 36, 62)) == b"az!}"
    assert auths.decode(b"a") == (10,)
    raises(Invalid, auths.encode, (0,))
    raises(Invalid, auths.encode, (63,))
    raises(Invalid, auths.decode, b"~")


def test_phone_numbers_must_be_international():
    phone = Phone()
    assert phone.encode(b"+34619123456") == b"+34619123456"
    assert phone.encode(b"0034619123456") == b"0034619123456"
    for bad in (b"0612345678", b"+0612345678", b"+3461912345678901", b"+346x", b"+123"):
        raises(Invalid, phone.encode, bad)


def test_choices():
    eject = Choice((b"E", b"R", b"T"))
    assert eject.encode(b"T") == b"T"
    assert "E, R, T" in str(raises(Invalid, eject.encode, b"X"))
    serial = Choice((b"0", b"1", b"2"), optional=True)
    assert serial.encode(b"") == b"" and serial.from_wire([b""]) == b""


def test_text_limits_and_bytes():
    room = Text(24, required=True)
    assert room.encode(b"x" * 24) == b"x" * 24
    assert "25 bytes" in str(raises(Invalid, room.encode, b"x" * 25))
    assert "required" in str(raises(Invalid, room.encode, b""))
    assert "bytes" in str(raises(Invalid, room.encode, "101"))
    assert "printable" in str(raises(Invalid, room.encode, b"Do\xe9"))
    assert room.decode(b"Do\xe9") == b"Do\xe9"  # Space may answer in Latin-1
    assert Text(256, allow_lf=True).encode(b"a\nb") == b"a\nb"
    raises(Invalid, Text(256).encode, b"a\nb")


def test_hex_key():
    key = Hex(1024)
    assert key.encode(b"\x11\xa5") == b"11A5"
    assert key.decode(b"11a5") == b"\x11\xa5"
    for bad in (b"1", b"zz"):
        raises(Invalid, key.decode, bad)
    raises(Invalid, key.encode, b"")


def test_group_fills_in_order():
    rooms = Group(Text(24, required=True), 4, minimum=1)
    assert rooms.to_wire((b"101", b"Pool")) == [b"101", b"Pool", b"", b""]
    assert rooms.from_wire([b"101", b"", b"Pool", b""]) == (b"101", b"Pool")
    assert "1 to 4" in str(raises(Invalid, rooms.to_wire, ()))
    raises(Invalid, rooms.to_wire, (b"1", b"2", b"3", b"4", b"5"))
    raises(Invalid, rooms.to_wire, b"101")


def test_field_error_names_the_field():
    err = raises(protocol.FieldError, protocol.EncodeCard, b"CN", b"Enc", (b"101",),
                 start=(2025, 2, 30, 14, 0))
    assert err.field == "start" and err.command == b"CN" and "day 30" in err.reason
    assert "start" in str(err)
