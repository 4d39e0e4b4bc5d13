"""Forms the notes are unsure of, as PMS clients in the field send them, answered as a real
Space plausibly would (``[rules]`` of the site file), and the strict answer a knob away.

Each request goes as raw fields on a real link, as another PMS would send it: keybridge's
own client never builds these forms (``test_space_client_sends_only_known_forms.py``)."""

import pytest

import protocol
from simulators.space.site import Rules

from _spacesim import ENC1, PHONE, raw_exchange

PITCH = b"Pitch 12"
NAME_30 = b"Maximiliane von Hohenzollern-S"  # 30 characters: over the notes' 24 ([MED])


def card(command, rooms=(PITCH,), print_info=(), granted=b"", serial_return=b""):
    """CN/CC/CA fields: encoder, eject, rooms #3-6, granted #7, print lines #12-14 and the
    serial return #15."""
    fields = [command, ENC1.encode(), b"E", *rooms]
    fields += [b""] * (7 - len(fields)) + [granted, b"", b"", b"", b""]
    lines = list(print_info) + [b""] * (3 - len(print_info))
    return fields + lines + [serial_return]


def strict(space, **changes):
    space.site.rules = Rules(**changes)


async def test_a_print_line_longer_than_24_is_printed(space):
    assert (await raw_exchange(space, card(b"CN", print_info=(NAME_30,))))[0] == b"CN"
    strict(space, print_info_max_chars=24)
    reply = await raw_exchange(space, card(b"CN", print_info=(NAME_30,)))
    assert reply == [b"ES", ENC1.encode(), b"syntax error in field 12"]


async def test_ten_cards_in_one_request_are_cut(space):
    assert (await raw_exchange(space, card(b"CN10")))[0] == b"CN"
    assert space.site.rooms[PITCH].copies == 10
    strict(space, max_keys_per_request=9)
    assert (await raw_exchange(space, card(b"CN10")))[:2] == [b"ES", ENC1.encode()]


async def test_a_one_shot_card_without_a_room_opens_its_shared_doors_once(space):
    reply = await raw_exchange(space, card(b"CA", rooms=(), granted=b"1", serial_return=b"1"))
    assert reply[0] == b"CA"
    (serial,) = reply[2:]
    assert space.open_door(b"Swimming pool", serial=serial) == b"3"  # not granted
    assert space.open_door(b"Barrier", serial=serial) == b"0"
    assert space.open_door(b"Barrier", serial=serial) != b"0"  # once
    read = protocol.decode_reply(await raw_exchange(space, [b"LT", ENC1.encode(), b"E"]))
    assert read.rooms == () and read.copy == b"A"


async def test_a_card_without_a_room_is_an_unknown_room(space):
    assert await raw_exchange(space, card(b"CN", rooms=())) == [b"TD", ENC1.encode()]
    strict(space, card_without_room="refuse")
    assert (await raw_exchange(space, card(b"CA", rooms=())))[:2] == [b"ES", ENC1.encode()]


async def test_a_national_phone_number_is_not_registered(space):
    fields = [b"CNM", b"0612345678", PITCH]
    reply = await raw_exchange(space, fields)
    assert reply[:2] == [b"EG", b"0612345678"] and b"not registered" in reply[2]
    strict(space, national_phone="ES")
    assert await raw_exchange(space, fields) == [b"ES", b"0612345678",
                                                 b"syntax error in field 1"]
    assert (await raw_exchange(space, [b"CNM", PHONE.encode(), PITCH]))[0] == b"CNM"


async def test_forty_characters_of_track_text_are_written(space):
    text = b"T" * 40
    assert (await raw_exchange(space, [b"P1", ENC1.encode(), b"E", text]))[0] == b"P1"
    assert await raw_exchange(space, [b"L1", ENC1.encode(), b"E"]) == [b"L1", ENC1.encode(),
                                                                       text]
    strict(space, track_text_max_chars=24)
    assert (await raw_exchange(space, [b"P1", ENC1.encode(), b"E", text]))[0] == b"ES"


async def test_a_staff_opening_names_copy_zero_in_the_audit_trail(space):
    staff = next(iter(space.site.staff))
    space.open_door(b"Barrier", staff=staff)
    record = protocol.decode_reply(await raw_exchange(space, [b"WF", b"Barrier"]))
    assert record.copy == b"#0"


@pytest.mark.parametrize("site_rules", [{"print_info_max_chars": 65},
                                        {"max_keys_per_request": 0},
                                        {"card_without_room": "maybe"},
                                        {"national_phone": "EX"}])
def test_a_wrong_rule_in_the_site_file_names_the_key(site_rules):
    from simulators.space.site import SiteError, site_from_dict
    with pytest.raises(SiteError) as err:
        site_from_dict({"rules": site_rules}, "space-sim.toml")
    assert "space-sim.toml: [rules] %s" % next(iter(site_rules)) in str(err.value)
