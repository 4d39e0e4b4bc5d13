"""KsIds: the KS ids a key is held under, typed inside, JSON only where the key is stored."""

from hypothesis import given
from hypothesis import strategies as st

from appliance.ks.ids import KsIds

TEXT = st.text("abcdef0123456789-", min_size=1, max_size=12)
IDS = st.builds(
    KsIds, site_id=TEXT, reference=TEXT, site_user_id=st.none() | TEXT,
    platform_user_id=st.none() | TEXT, access_group_id=st.none() | TEXT,
    schedule_id=st.none() | TEXT, schedule=st.lists(TEXT, max_size=2),
    locks=st.lists(TEXT, max_size=4),
    guest_created_at=st.none() | st.floats(1.0, 4e9), pin_put=st.booleans(),
    pin_stored=st.booleans(),
    other=st.dictionaries(st.sampled_from(["future", "note"]), TEXT, max_size=2))


@given(IDS)
def test_what_is_stored_reads_back_the_same(ids: KsIds) -> None:
    assert KsIds.from_json(ids.to_json()) == ids


def test_ids_written_by_an_earlier_version_read_as_they_were_meant() -> None:
    stored = {"site_id": "s1", "reference": "kb:camp:k1", "site_user_id": "u1",
              "platform_user_id": "p1", "access_group_id": "g1", "locks": ["l1"],
              "schedule": ["2027-07-01T14:00:00", "2027-07-04T11:00:00"],
              "guest_created_at": 1.5e9, "pin_put": True, "pin_stored": True}
    ids = KsIds.from_json(stored)
    assert (ids.site_user_id, ids.locks, ids.pin_stored) == ("u1", ["l1"], True)
    assert ids.to_json() == stored  # nothing added, nothing lost
    assert ids.audit_text() == ("site_user_id=u1 platform_user_id=p1 access_group_id=g1")


def test_a_key_nothing_was_made_for_yet_stores_nothing() -> None:
    assert KsIds().to_json() == {}
    assert KsIds.from_json({}) == KsIds()
