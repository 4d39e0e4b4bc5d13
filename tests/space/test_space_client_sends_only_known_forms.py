"""keybridge's own Space client sends only what the notes rate safe, though the decoder and
the simulator take more (``test_space_evidence.py``): each lenient form is refused before a
byte goes out, or split into known ones. What Space received is the simulator's record."""

import pytest

import protocol
from appliance.space.errors import SpaceRequestError

from _spacesim import ARRIVAL, DEPARTURE, ENC1

NAME_30 = "Maximiliane von Hohenzollern-S"


async def test_a_print_line_longer_than_24_is_never_sent(desk, space):
    with pytest.raises(SpaceRequestError, match="print_info"):
        await desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE, print_info=[NAME_30])
    assert space.requests == []


async def test_ten_cards_go_as_cn9_and_a_copy_never_cn10(desk, space):
    await desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE, count=10)
    sent = [(request.command, request.count) for request in space.requests]
    assert sent == [(b"CN", 9), (b"CC", None)]
    with pytest.raises(SpaceRequestError):
        await desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE, count=11)


async def test_a_card_without_a_room_is_never_sent(desk, space):
    for one_shot in (False, True):
        with pytest.raises(SpaceRequestError, match="rooms"):
            await desk.encode(ENC1, [], ARRIVAL, DEPARTURE, one_shot=one_shot)
    assert space.requests == []


async def test_a_national_phone_number_is_never_sent(desk, space):
    with pytest.raises(SpaceRequestError, match="international"):
        await desk.mobile("0612345678", ["Chalet 3"], ARRIVAL, DEPARTURE)
    assert space.requests == []


async def test_forty_characters_of_track_text_are_never_sent(desk, space):
    with pytest.raises(SpaceRequestError, match="text"):
        await desk.write_track(ENC1, 1, "T" * 40)
    assert space.requests == []


def test_what_is_taken_but_never_sent_is_refused_on_the_way_out():
    taken = protocol.decode_request([b"CN10", ENC1.encode(), b"E", b"Pitch 12"])
    with pytest.raises(protocol.FieldError) as err:
        taken.fields()
    assert err.value.field == "count"
