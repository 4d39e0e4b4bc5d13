"""The simulated Space behaves as Space does, seen through the real client and link.

Every test talks to the simulator over TCP with ``SpaceCommands`` (the desk)
and uses the simulator's own control methods only to play the person at the
desk or the guest at the door: place a card, open a door, move the clock.
"""

import asyncio
import datetime

import pytest

import protocol
from appliance.space import SpaceCommands, errors

from _spacesim import ARRIVAL, DEPARTURE, ENC1, ENC2, NOW, PHONE, raw_exchange

PITCH = b"Pitch 12"
DAY = datetime.timedelta(days=1)


async def cut(desk, room="Pitch 12", **options):
    """Cut keys for ``room`` on encoder 1; return their serials as wire bytes."""
    done = await desk.encode(ENC1, [room], ARRIVAL, DEPARTURE, **options)
    return [s.encode() for s in done.serials]


def check_refusal(err, cls, code, meaning_words):
    """The typed error, its code, and a message with the vendor's meaning and the hint."""
    assert type(err) is cls
    assert err.code == code
    assert meaning_words in err.meaning
    assert err.meaning in str(err)
    assert err.hint in str(err)
    assert "(%s)" % code in str(err)


# -- CN: a new key generation ------------------------------------------------------


async def test_a_new_key_stops_the_earlier_key_opening_the_door(desk, space):
    (earlier,) = await cut(desk)
    (newer,) = await cut(desk)
    assert space.open_door(PITCH, serial=earlier) == b"2"
    assert space.open_door(PITCH, serial=newer) == b"0"


async def test_a_new_key_reads_back_as_written(desk):
    await desk.encode(ENC1, ["Pitch 12", "Pitch 14"], ARRIVAL, DEPARTURE, granted=[3, 1])
    card = await desk.read(ENC1)
    assert card.kind == "guest"
    assert card.rooms == ("Pitch 12", "Pitch 14")
    assert card.valid is True
    assert card.copy == "original"
    assert card.authorizations == (1, 3)
    assert card.valid_from == ARRIVAL
    assert card.valid_until == DEPARTURE
    assert card.operator == "keybridge"


async def test_the_printed_lines_are_on_the_card_each_copy_carries_its_own(desk, space):
    """What Space's card printer puts on the card's face (CN fields 12-14), kept per card
    so the demo can show a licence plate printed as the last line."""
    (first,) = await cut(desk, print_info=["Zoe Doe", "Pitch 12", "AB-123-C"])
    done = await desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE, copy=True,
                             print_info=["Kids"])
    cards = space.state()["cards"]
    assert cards[first.decode()]["printed"] == ["Zoe Doe", "Pitch 12", "AB-123-C"]
    assert cards[done.serials[0]]["printed"] == ["Kids"]


async def test_a_key_opens_its_rooms_and_its_authorized_doors_only(desk, space):
    done = await desk.encode(ENC1, ["Pitch 12", "Pitch 14"], ARRIVAL, DEPARTURE, granted=[3])
    serial = done.serials[0].encode()
    assert space.open_door(b"Pitch 12", serial=serial) == b"0"
    assert space.open_door(b"Pitch 14", serial=serial) == b"0"
    assert space.open_door(b"Swimming pool", serial=serial) == b"0"
    assert space.open_door(b"Barrier", serial=serial) == b"3"
    assert space.open_door(b"Chalet 3", serial=serial) == b"3"


async def test_a_new_key_on_a_card_space_cannot_use_leaves_the_old_key_working(desk, space):
    (key,) = await cut(desk)
    space.place_card(ENC1.encode(), kind="foreign")
    with pytest.raises(errors.CardUnreadable):
        await cut(desk)
    assert space.open_door(PITCH, serial=key) == b"0"


async def test_every_room_of_a_key_must_be_known_to_space(desk):
    with pytest.raises(errors.UnknownRoom) as info:
        await desk.encode(ENC1, ["Pitch 12", "Nowhere"], ARRIVAL, DEPARTURE)
    assert info.value.code == "TD"


async def test_every_room_of_a_key_must_be_in_service(desk):
    with pytest.raises(errors.RoomOutOfService) as info:
        await desk.encode(ENC1, ["Pitch 12", "Chalet 7"], ARRIVAL, DEPARTURE)
    assert info.value.code == "OS"


# -- CC: copies ----------------------------------------------------------------------


async def test_copies_are_numbered_one_two_then_three_or_later(desk):
    await cut(desk)
    numbers = []
    for _ in range(3):
        await cut(desk, copy=True)
        numbers.append((await desk.read(ENC1)).copy)
    assert numbers == ["copy 1", "copy 2", "copy 3 or later"]


async def test_a_copy_leaves_the_original_working(desk, space):
    (original,) = await cut(desk)
    (copy,) = await cut(desk, copy=True)
    assert space.open_door(PITCH, serial=original) == b"0"
    assert space.open_door(PITCH, serial=copy) == b"0"


async def test_a_copy_of_a_checked_out_room_is_refused(desk):
    await cut(desk)
    await desk.check_out("Pitch 12")
    with pytest.raises(errors.RoomCheckedOut) as info:
        await cut(desk, copy=True)
    check_refusal(info.value, errors.RoomCheckedOut, "EA", "checked out")
    assert "cut a new card instead" in info.value.hint


async def test_a_copy_of_a_room_never_checked_in_is_refused(desk):
    with pytest.raises(errors.RoomCheckedOut):
        await cut(desk, "Pitch 14", copy=True)


async def test_ten_keys_in_one_go_go_as_nine_new_keys_then_a_copy(desk, space):
    serials = await cut(desk, count=10)
    assert len(set(serials)) == 10
    encodes = [r for r in space.requests if isinstance(r, protocol.EncodeCard)]
    assert [(r.command, r.count) for r in encodes] == [(b"CN", 9), (b"CC", None)]
    assert all(space.open_door(PITCH, serial=s) == b"0" for s in serials)


async def test_the_eleventh_key_of_a_room_is_refused_with_the_limit(desk, space):
    await cut(desk, count=10)
    with pytest.raises(errors.GeneralError) as info:
        await cut(desk, copy=True)
    check_refusal(info.value, errors.GeneralError, "EG", "general error")
    assert "at most 10 keys" in str(info.value)
    assert space.state()["rooms"]["Pitch 12"]["keys"] == 10


async def test_the_copy_limit_follows_the_site_option(desk, space):
    space.site.options.max_copies = 2
    await cut(desk)
    await cut(desk, copy=True)
    with pytest.raises(errors.GeneralError) as info:
        await cut(desk, copy=True)
    assert "at most 2 keys" in info.value.detail


async def test_a_copy_inherits_the_authorizations_of_the_check_in(desk, space):
    await cut(desk, granted=[1, 3])
    (copy,) = await cut(desk, copy=True)
    assert (await desk.read(ENC1)).authorizations == (1, 3)
    assert space.open_door(b"Swimming pool", serial=copy) == b"0"


async def test_a_copy_with_an_authorization_denied_does_not_open_that_door(desk, space):
    await cut(desk, granted=[1, 3])
    (copy,) = await cut(desk, copy=True, denied=[3])
    assert space.open_door(b"Swimming pool", serial=copy) == b"3"
    assert space.open_door(b"Barrier", serial=copy) == b"0"


async def test_a_new_key_starts_the_copy_count_again(desk):
    await cut(desk, count=10)
    await cut(desk)
    await cut(desk, copy=True)
    assert (await desk.read(ENC1)).copy == "copy 1"


# -- CA: one-shot keys -----------------------------------------------------------------


async def test_a_one_shot_key_reads_back_as_one_shot(desk):
    await cut(desk)
    await cut(desk, one_shot=True)
    card = await desk.read(ENC1)
    assert card.copy == "one-shot"
    assert card.valid is True


async def test_a_one_shot_key_opens_the_door_once(desk, space):
    await cut(desk)
    (once,) = await cut(desk, one_shot=True)
    assert space.open_door(PITCH, serial=once) == b"0"
    assert space.open_door(PITCH, serial=once) == b"2"
    assert (await desk.read(ENC1)).valid is False


async def test_a_one_shot_key_does_not_count_against_the_copy_limit(desk):
    await cut(desk, count=10)
    await cut(desk, one_shot=True)
    assert (await desk.read(ENC1)).copy == "one-shot"


# -- CO: check-out -------------------------------------------------------------------------


async def test_a_key_of_a_checked_out_room_reads_as_no_longer_valid(desk):
    await cut(desk)
    await cut(desk, copy=True)
    await desk.check_out("Pitch 12")
    card = await desk.read(ENC1)
    assert card.copy == "copy 1"
    assert card.valid is False


async def test_check_out_stops_the_keys_opening_the_door(desk, space):
    (key,) = await cut(desk)
    await desk.check_out("Pitch 12")
    assert space.open_door(PITCH, serial=key) == b"2"


async def test_without_remove_access_on_checkout_keys_open_until_expiry(desk, space):
    space.site.options.remove_access_on_checkout = False
    (key,) = await cut(desk)
    await desk.check_out("Pitch 12")
    assert space.open_door(PITCH, serial=key) == b"0"
    space.clock.set(DEPARTURE)
    assert space.open_door(PITCH, serial=key) == b"4"


async def test_check_out_of_a_room_out_of_service_is_refused(desk):
    with pytest.raises(errors.RoomOutOfService):
        await desk.check_out("Chalet 7")


# -- validity windows -----------------------------------------------------------------------


async def test_a_key_opens_until_its_expiry(desk, space):
    (key,) = await cut(desk)
    space.clock.set(DEPARTURE - datetime.timedelta(minutes=1))
    assert space.open_door(PITCH, serial=key) == b"0"
    space.clock.set(DEPARTURE)
    assert space.open_door(PITCH, serial=key) == b"4"


async def test_an_expired_key_reads_as_no_longer_valid(desk, space):
    await cut(desk)
    space.clock.set(DEPARTURE)
    assert (await desk.read(ENC1)).valid is False


async def test_a_key_for_a_stay_not_begun_reads_valid_but_does_not_open(desk, space):
    (key,) = await cut(desk)
    space.clock.set(ARRIVAL - datetime.timedelta(minutes=1))
    assert (await desk.read(ENC1)).valid is True
    assert space.open_door(PITCH, serial=key) == b"4"
    space.clock.set(ARRIVAL)
    assert space.open_door(PITCH, serial=key) == b"0"


# -- LT: cards that are not guest cards ----------------------------------------------------


@pytest.mark.parametrize(("kind", "read_as"), [
    ("staff", "staff"), ("spare", "spare"), ("invalid", "invalid"),
    ("blank", "unidentified"), ("foreign", "unidentified")])
async def test_a_card_that_is_not_a_guest_card_reads_as_its_kind(desk, space, kind, read_as):
    space.place_card(ENC2.encode(), kind=kind)
    card = await desk.read(ENC2)
    assert card.kind == read_as
    assert card.rooms == ()
    assert card.valid is None


# -- every error code the simulator gives ---------------------------------------------------


async def test_an_unknown_encoder_is_not_reachable(desk):
    with pytest.raises(errors.EncoderOffline) as info:
        await desk.read("Online Encoder 9")
    check_refusal(info.value, errors.EncoderOffline, "NC", "no communication")
    assert info.value.target == "Online Encoder 9"
    assert info.value.retry_later is True


async def test_an_offline_encoder_is_not_reachable(desk):
    with pytest.raises(errors.EncoderOffline) as info:
        await desk.encode("Back Office", ["Pitch 12"], ARRIVAL, DEPARTURE)
    check_refusal(info.value, errors.EncoderOffline, "NC", "no communication")
    assert "switched on" in str(info.value)


async def test_a_busy_encoder_is_tried_again_then_reported_busy(desk, space):
    space.set_encoder(ENC1.encode(), busy=True)
    with pytest.raises(errors.EncoderBusy) as info:
        await desk.read(ENC1)
    check_refusal(info.value, errors.EncoderBusy, "OV", "still busy")
    assert len([r for r in space.requests if isinstance(r, protocol.ReadCard)]) == 6


async def test_an_encoder_no_longer_busy_works_again(desk, space):
    space.set_encoder(ENC1.encode(), busy=True)
    with pytest.raises(errors.EncoderBusy):
        await desk.read(ENC1)
    space.set_encoder(ENC1.encode(), busy=False)
    assert (await desk.read(ENC1)).kind == "unidentified"


async def test_a_badly_inserted_card_is_a_card_error(desk, space):
    space.place_card(ENC1.encode(), kind="badly_inserted")
    with pytest.raises(errors.CardNotInserted) as info:
        await desk.read(ENC1)
    check_refusal(info.value, errors.CardNotInserted, "EP", "badly inserted")
    assert "flat on the encoder" in str(info.value)


async def test_a_foreign_card_cannot_become_a_key(desk, space):
    space.place_card(ENC1.encode(), kind="foreign")
    with pytest.raises(errors.CardUnreadable) as info:
        await cut(desk)
    check_refusal(info.value, errors.CardUnreadable, "EF", "another system")
    assert space.state()["rooms"]["Pitch 12"]["checked_in"] is False


async def test_an_unknown_room_is_refused(desk):
    with pytest.raises(errors.UnknownRoom) as info:
        await cut(desk, "Pitch 99")
    check_refusal(info.value, errors.UnknownRoom, "TD", "unknown room")
    assert info.value.target == "Pitch 99"


async def test_no_card_on_the_encoder_times_out(desk, space):
    space.remove_card(ENC1.encode())
    with pytest.raises(errors.CardTimeout) as info:
        await desk.read(ENC1)
    check_refusal(info.value, errors.CardTimeout, "ED", "waiting for a card")
    assert "place the card" in str(info.value)


async def test_a_card_placed_while_the_encoder_waits_is_used(desk, space):
    space.remove_card(ENC1.encode())
    asked = asyncio.Event()
    space.server.observe = lambda direction, _fields: direction == "request" and asked.set()
    reading = asyncio.ensure_future(desk.read(ENC1))
    await asked.wait()  # the encoder is now waiting for a card
    space.place_card(ENC1.encode(), kind="staff")
    assert (await reading).kind == "staff"


async def test_a_room_out_of_service_gets_no_key(desk):
    with pytest.raises(errors.RoomOutOfService) as info:
        await cut(desk, "Chalet 7")
    check_refusal(info.value, errors.RoomOutOfService, "OS", "out of service")
    assert "back in service" in str(info.value)


async def test_a_room_encoded_at_another_station_is_refused(desk, space):
    space.set_room(PITCH, elsewhere=True)
    with pytest.raises(errors.EncodingElsewhere) as info:
        await cut(desk)
    check_refusal(info.value, errors.EncodingElsewhere, "EO", "another station")
    assert info.value.retry_later is True


async def test_a_staff_card_is_not_overwritten(desk, space):
    space.place_card(ENC1.encode(), kind="staff", holder=b"Anna")
    with pytest.raises(errors.StaffCard) as info:
        await cut(desk)
    check_refusal(info.value, errors.StaffCard, "EV", "staff user")
    assert "use a guest card" in str(info.value)
    assert (await desk.read(ENC1)).kind == "staff"


async def test_a_mobile_key_for_an_unregistered_phone_is_refused(desk):
    with pytest.raises(errors.GeneralError) as info:
        await desk.mobile("+34600111222", ["Chalet 3"], ARRIVAL, DEPARTURE)
    # EG naming the phone: its own hint, for the desk to tell the guest what to do.
    check_refusal(info.value, errors.PhoneNotRegistered, "EG", "general error")
    assert "not registered" in str(info.value) and "open JustIN Mobile" in info.value.hint
    assert info.value.target == "+34600111222"


async def test_a_missing_database_fails_every_request(desk, space):
    space.site.database_missing = True
    with pytest.raises(errors.DatabaseUnavailable) as info:
        await desk.read(ENC1)
    check_refusal(info.value, errors.DatabaseUnavailable, "NF", "database")
    with pytest.raises(errors.DatabaseUnavailable):
        await desk.check_out("Pitch 12")


@pytest.mark.parametrize(("fields", "field"), [
    ([b"XX", b"foo"], 0), ([b"LT", b""], 1), ([b"CN", b"Online Encoder 1", b"X"], 2)])
async def test_a_request_that_does_not_decode_is_a_syntax_error(space, fields, field):
    reply = await raw_exchange(space, fields)
    assert reply[0] == b"ES"
    err = errors.refusal(protocol.decode_reply(reply).to_error())
    check_refusal(err, errors.SyntaxRejected, "ES", "syntax error")
    # As Space words it: the encoder echoed, which field; no text of this program.
    assert reply[1:] == [fields[1], b"syntax error in field %d" % field]
    assert space.requests == []


# -- JustIN Mobile keys ---------------------------------------------------------------------


async def test_a_mobile_key_goes_to_a_registered_phone_and_opens_the_door(desk, space):
    key = await desk.mobile(PHONE, ["Chalet 3"], ARRIVAL, DEPARTURE, message="Welcome")
    assert key.phone == PHONE
    assert space.open_door(b"Chalet 3", phone=PHONE.encode()) == b"0"
    assert space.open_door(b"Pitch 12", phone=PHONE.encode()) == b"3"


async def test_a_mobile_key_replaces_the_room_cards(desk, space):
    (card,) = await cut(desk, "Chalet 3")
    await desk.mobile(PHONE, ["Chalet 3"], ARRIVAL, DEPARTURE)
    assert space.open_door(b"Chalet 3", serial=card) == b"2"


async def test_a_mobile_copy_of_a_checked_out_room_is_refused(desk):
    await desk.mobile(PHONE, ["Chalet 3"], ARRIVAL, DEPARTURE)
    await desk.check_out("Chalet 3")
    with pytest.raises(errors.RoomCheckedOut) as info:
        await desk.mobile("+34619123456", ["Chalet 3"], ARRIVAL, DEPARTURE, copy=True)
    assert info.value.code == "EA"


async def test_a_mobile_copy_goes_to_a_second_phone(desk, space):
    await desk.mobile(PHONE, ["Chalet 3"], ARRIVAL, DEPARTURE)
    await desk.mobile("+34619123456", ["Chalet 3"], ARRIVAL, DEPARTURE, copy=True)
    assert space.open_door(b"Chalet 3", phone=b"+34619123456") == b"0"
    assert space.open_door(b"Chalet 3", phone=PHONE.encode()) == b"0"


async def test_a_binary_mobile_key_comes_back_as_hex_with_an_installation_id(desk, space):
    key = await desk.mobile(PHONE, ["Chalet 3"], ARRIVAL, DEPARTURE, binary=True)
    assert key.key_hex
    assert len(key.key_hex) % 2 == 0
    assert all(c in "0123456789ABCDEF" for c in key.key_hex)
    assert len(key.installation_id) == 14
    assert key.installation_id.isalnum()
    assert space.open_door(b"Chalet 3", phone=PHONE.encode()) == b"0"


async def test_a_mobile_message_reaches_space_in_ascii(desk, space):
    await desk.mobile(PHONE, ["Chalet 3"], ARRIVAL, DEPARTURE, message="Welkom Doé")
    assert space.requests[-1].message == b"Welkom Doe"


async def test_the_operator_reaches_space_in_ascii(client, space):
    desk = SpaceCommands(client, operator="Zoë Straße")
    await desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE)
    assert space.requests[-1].operator == b"Zoe Strasse"
    assert (await desk.read(ENC1)).operator == "Zoe Strasse"


# -- MC: modify a check-in -------------------------------------------------------------------


async def test_a_longer_stay_lets_the_key_open_past_the_old_expiry(desk, space):
    (key,) = await cut(desk)
    await desk.modify("Pitch 12", valid_until=DEPARTURE + DAY)
    space.clock.set(DEPARTURE + datetime.timedelta(hours=1))
    assert space.open_door(PITCH, serial=key) == b"0"
    assert (await desk.read(ENC1)).valid_until == DEPARTURE + DAY


async def test_a_shorter_stay_stops_the_key_early(desk, space):
    (key,) = await cut(desk)
    await desk.modify("Pitch 12", valid_until=NOW + datetime.timedelta(hours=1))
    space.clock.advance(2 * 3600)
    assert space.open_door(PITCH, serial=key) == b"4"


async def test_modifying_a_room_not_checked_in_is_refused(desk):
    with pytest.raises(errors.GeneralError) as info:
        await desk.modify("Pitch 14", valid_until=DEPARTURE)
    check_refusal(info.value, errors.GeneralError, "EG", "general error")
    assert "not checked in" in str(info.value)


async def test_modifying_a_checked_out_room_is_refused(desk):
    await cut(desk)
    await desk.check_out("Pitch 12")
    with pytest.raises(errors.GeneralError):
        await desk.modify("Pitch 12", valid_until=DEPARTURE + DAY)


async def test_moving_a_check_in_to_another_room(desk, space):
    await cut(desk)
    await desk.modify("Pitch 12", new_room="Pitch 14")
    rooms = space.state()["rooms"]
    assert rooms["Pitch 12"]["checked_in"] is False
    assert rooms["Pitch 14"]["checked_in"] is True
    assert space.site.rooms[b"Pitch 14"].expiry == space.site.rooms[b"Pitch 12"].expiry


# -- tracks ------------------------------------------------------------------------------------


async def test_a_written_track_reads_back(desk):
    await desk.write_track(ENC1, 2, "Booking 4711")
    assert await desk.read_track(ENC1, 2) == "Booking 4711"
    assert await desk.read_track(ENC1, 1) == ""


async def test_a_track_stays_with_the_card(desk, space):
    (key,) = await cut(desk)
    await desk.write_track(ENC1, 1, "Late arrival")
    space.place_card(ENC1.encode(), kind="blank")
    assert await desk.read_track(ENC1, 1) == ""
    space.place_card(ENC1.encode(), serial=key)
    assert await desk.read_track(ENC1, 1) == "Late arrival"


async def test_a_staff_card_track_is_not_written(desk, space):
    space.place_card(ENC1.encode(), kind="staff")
    with pytest.raises(errors.StaffCard):
        await desk.write_track(ENC1, 1, "x")


# -- audit trails -------------------------------------------------------------------------------


async def test_door_openings_are_listed_newest_first(desk, space):
    (old,) = await cut(desk)
    (key,) = await cut(desk)
    (elsewhere,) = await cut(desk, "Pitch 14")
    space.open_door(PITCH, serial=key)
    space.open_door(PITCH, serial=old)
    space.open_door(PITCH, serial=elsewhere)
    space.clock.set(DEPARTURE)
    space.open_door(PITCH, serial=key)
    trail = await desk.audit("Pitch 12")
    assert [e.incident for e in trail] == [
        "expired key", "access denied", "invalid key", "opened"]
    assert [(e.date, e.time) for e in trail] == [
        ("04/07", "11:00"), ("01/07", "15:00"), ("01/07", "15:00"), ("01/07", "15:00")]
    assert [e.card for e in trail] == ["Pitch 12", "Pitch 14", "Pitch 12", "Pitch 12"]
    assert trail[-1].copy == "#0"
    assert trail[-1].direction == "in"


async def test_audit_dates_follow_the_site_format(desk, space):
    (key,) = await cut(desk)
    space.site.audit_date_format = "mm/dd"
    space.open_door(PITCH, serial=key)
    (entry,) = await desk.audit("Pitch 12")
    assert entry.date == "07/01"


async def test_a_staff_opening_shows_staff_and_the_user(desk, space):
    space.open_door(b"Barrier", staff=b"Maintenance")
    (entry,) = await desk.audit("Barrier")
    assert (entry.incident, entry.card, entry.user) == ("opened", "STAFF", "Maintenance")


async def test_copies_and_one_shot_keys_are_told_apart_in_the_trail(desk, space):
    await cut(desk)
    (copy,) = await cut(desk, copy=True)
    (once,) = await cut(desk, one_shot=True)
    space.open_door(PITCH, serial=copy)
    space.open_door(PITCH, serial=once)
    assert [e.copy for e in await desk.audit("Pitch 12")] == ["@1", "#1"]


async def test_a_door_never_opened_has_an_empty_trail(desk):
    assert await desk.audit("Shower block") == []


async def test_reading_the_trail_twice_gives_it_twice(desk, space):
    (key,) = await cut(desk)
    space.open_door(PITCH, serial=key)
    space.open_door(PITCH, serial=key)
    first = await desk.audit("Pitch 12")
    assert await desk.audit("Pitch 12") == first
    assert len(first) == 2


async def test_two_walks_at_once_each_get_the_whole_trail(desk, space):
    """WN goes on from the last WF: the door-event poller and a reconciliation walking at
    the same time must not move each other's place in the trail."""
    (key,) = await cut(desk)
    for minutes in range(6):
        space.clock.set(NOW + datetime.timedelta(minutes=minutes))
        space.open_door(PITCH, serial=key)
    one, other = await asyncio.gather(desk.audit("Pitch 12"), desk.audit("Pitch 12"))
    assert len(one) == 6 and one == other
    assert [e.time for e in one] == sorted((e.time for e in one), reverse=True)


async def test_the_trail_of_an_unknown_door_is_unavailable(desk):
    with pytest.raises(errors.AuditUnavailable) as info:
        await desk.audit("Sauna")
    assert info.value.code == "WE"
    assert info.value.target == "Sauna"
    assert "unknown door" in str(info.value)
    assert info.value.hint in str(info.value)
