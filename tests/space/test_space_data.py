"""A Space key's records: typed inside, JSON exactly as earlier versions stored it."""

from hypothesis import given
from hypothesis import strategies as st

from appliance.space.data import SpaceIds, SpaceKeyData

# What keybridge stored as a Space key's plan before the records were typed: reading it and
# writing it back must give the same JSON, or every key would look changed after an upgrade.
STORED_PLAN = {
    "administration": "main", "rooms": ["Pitch 12", "Pool"],
    "authorizations": ["Barrier", "Shower block"], "granted": [1, 2],
    "print_info": ["Jansen", "Pitch 12"], "space_valid_from": "2027-07-01T14:00",
    "space_valid_until": "2027-07-04T11:00", "rounded": [], "max_cards": 4,
    "mobile_message": "Welcome Jansen", "phone": "+31612345678", "auth_code": "",
    "product": "pitch", "key_type": "pitch"}
STORED_IDS = {"encoded": True, "cards": 2, "checked_in_ns": 1782907200000000000,
              "delivered": {"rooms": ["Pitch 12"], "from": "2027-07-01T14:00",
                            "until": "2027-07-04T11:00", "granted": [1], "phone": "+316"}}
WORDS = st.text("abcdefgh 12", max_size=10)


def test_a_stored_plan_reads_and_writes_back_unchanged() -> None:
    data = SpaceKeyData.from_json(STORED_PLAN | {"deliver_at": 1.5e9})
    assert data.rooms == ("Pitch 12", "Pool") and data.granted == (1, 2)
    assert data.to_json() == STORED_PLAN | {"deliver_at": 1.5e9}  # the engine's own field


def test_stored_ids_read_and_write_back_unchanged() -> None:
    ids = SpaceIds.from_json(STORED_IDS)
    assert ids.in_space and not ids.mobile and ids.cards == 2
    assert ids.to_json() == STORED_IDS
    assert not SpaceIds.from_json({}).in_space and SpaceIds().to_json() == {}


@given(st.builds(SpaceKeyData, administration=WORDS, rooms=st.lists(WORDS).map(tuple),
                 granted=st.lists(st.integers(1, 62)).map(tuple),
                 print_info=st.lists(WORDS, max_size=3).map(tuple),
                 space_valid_from=WORDS, max_cards=st.integers(1, 10), phone=WORDS))
def test_any_plan_survives_the_store(data: SpaceKeyData) -> None:
    assert SpaceKeyData.from_json(data.to_json()) == data


@given(st.builds(SpaceIds, encoded=st.booleans(), mobile=st.booleans(),
                 cards=st.integers(0, 10), checked_in_ns=st.integers(0, 2**62),
                 rooms=st.lists(WORDS, max_size=2).map(tuple)))
def test_any_ids_survive_the_store(ids: SpaceIds) -> None:
    assert SpaceIds.from_json(ids.to_json()) == ids
