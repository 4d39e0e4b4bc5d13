"""Rules per Space administration end to end: a real Mosquitto, the appliance process and
two Space simulator processes. The main park and a holiday-home park with its own Space
server, its own authorization names and its own products: the same booking label cuts a
different key on each, read back from each simulator, and an owner key naming a key type
one administration lacks is refused, with nothing stored.
"""

import datetime

from _appliance import SpaceProcess
from test_appliance_contract import check_published, event, reply, send
from test_space_appliance import ENCODERS, accepted, booking, cut, fields, now, read, start

# The holiday-home park calls its doors otherwise, and its houses open the pool.
PARK2 = {
    "authorizations": {"1": "Gate", "3": "Pool"},
    "key_types": [{"name": "holiday", "authorizations": ["Gate", "Pool"],
                   "print_info": ["{guest}", "holiday home"]},
                  {"name": "warden", "authorizations": ["Gate"]}],
    "products": [{"name": "Holiday homes", "key_type": "holiday", "labels": ["pitch"]}],
}


def test_the_same_label_cuts_each_administrations_own_key(tmp_path, broker, space,
                                                          peer_factory):
    park2 = SpaceProcess(tmp_path, "park2").start()
    try:
        extra = {"space": {"administrations": {"park2": {
                     "server": "127.0.0.1:%d" % park2.port, **PARK2}}},
                 "units": {"H4": {"room": "Pitch 14", "administration": "park2"}},
                 "encoders": [ENCODERS[0], {"id": "desk-p2", "name": "Online Encoder 2",
                                            "administration": "park2"}]}
        appliance, pms = start(tmp_path, broker, peer_factory, [space], extra)
        _cut_and_read_on_both(appliance, pms, space, park2)
        _owner_keys_name_a_key_type_of_their_administration(appliance, pms, park2)
        appliance.close()
        for message in pms.messages:
            check_published(message)
    finally:
        park2.close()


def _cut_and_read_on_both(appliance, pms, space, park2):
    accepted(pms, appliance, "booking", booking(
        "a1", "B1", units=("P12", "H4"), labels=["pitch"],
        arrival=now() - datetime.timedelta(hours=1)))
    for request_id, encoder in (("a2", "desk-1"), ("a3", "desk-p2")):
        send(pms, appliance, "encode_card", {"request_id": request_id, "encoder": encoder,
                                             "booking_id": "B1"})
    main_card = event(pms, "card_encoded", timeout=30, administration="main")
    house_card = event(pms, "card_encoded", timeout=30, administration="park2")
    assert (main_card["key_type"], main_card["authorizations"]) == (
        "pitch", ["Barrier", "Shower block"])
    assert (house_card["key_type"], house_card["authorizations"]) == (
        "holiday", ["Gate", "Pool"])
    # What each Space server was told to grant: 1 and 2 on the main park, 1 and 3 on park2.
    (main_frame,) = space.requests("CN")
    (house_frame,) = park2.requests("CN")
    assert fields(main_frame)[3] == "Pitch 12" and fields(main_frame)[7] == "12"
    assert fields(house_frame)[3] == "Pitch 14" and fields(house_frame)[7] == "13"
    assert "holiday home" in fields(house_frame)
    # Read back from each simulator's encoder, named with that administration's names.
    assert read(pms, appliance, "a4", encoder="desk-1")["authorizations"] == [
        "Barrier", "Shower block"]
    house_read = read(pms, appliance, "a5", encoder="desk-p2")
    assert (house_read["booking_id"], house_read["authorizations"]) == ("B1", ["Gate", "Pool"])
    # At the doors (authorization 3 is the pool on both servers): only park2's card opens it.
    pool = {"op": "door", "door": "Swimming pool"}
    assert park2.control(pool | {"serial": house_card["serials"][0]})["incident"] == "0"
    assert space.control(pool | {"serial": main_card["serials"][0]})["incident"] == "3"


def _owner_keys_name_a_key_type_of_their_administration(appliance, pms, park2):
    valid_until = (now() + datetime.timedelta(days=30)).isoformat()
    warden = {"id": "O1", "key_type": "warden", "units": ["H4"], "valid_until": valid_until}
    accepted(pms, appliance, "owner_key", {"request_id": "o1", "owner_key": warden})
    card = cut(pms, appliance, "o2", encoder="desk-p2", owner_key_id="O1")["data"]
    assert (card["key_type"], card["authorizations"]) == ("warden", ["Gate"])
    for request_id, key_type, unit, admin in (("o3", "warden", "P12", "main"),
                                              ("o4", "owner", "H4", "park2")):
        send(pms, appliance, "owner_key", {"request_id": request_id, "owner_key": warden | {
            "id": "O2", "key_type": key_type, "units": [unit]}})
        error = reply(pms, request_id, "error")["error"]
        assert (error["code"], error["field"]) == ("unknown_key_type", "owner_key.key_type")
        assert "%r is no key type of Space administration %r" % (key_type, admin) in \
            error["message"]
    # Refused whole: no owner key O2 was kept, so there is nothing to cut for it.
    refused = cut(pms, appliance, "o5", encoder="desk-p2", owner_key_id="O2")
    assert refused["error"]["code"] == "unknown_owner_key"
    assert len(park2.requests("CN")) == 2  # the holiday home's card and the warden's
