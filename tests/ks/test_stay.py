"""The stay in KS's shapes: site-local naive wall time, any validity the PMS may send."""

import datetime
import zoneinfo

from hypothesis import given
from hypothesis import strategies as st

from appliance.engine.backend import KeyRow
from appliance.ks import stay

AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")
ZONES = st.sampled_from([zoneinfo.ZoneInfo(name) for name in (
    "Europe/Amsterdam", "Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC")])
INSTANTS = st.datetimes(min_value=datetime.datetime(1971, 1, 1),
                        max_value=datetime.datetime(9999, 12, 31, 23, 59, 59),
                        timezones=ZONES)


def key(valid_from: str, valid_until: str) -> KeyRow:
    return KeyRow("k1", "ks", "B1", None, ("P12",), datetime.datetime.fromisoformat(valid_from),
                  datetime.datetime.fromisoformat(valid_until), "issuing", {}, "stay")


def test_the_schedule_is_the_stay_in_site_wall_time_across_a_dst_change() -> None:
    body = stay.schedule_body(key("2027-10-30T14:00:00+02:00", "2027-11-02T10:00:00+01:00"),
                              AMSTERDAM)
    assert (body["start_date"], body["end_date"]) == ("2027-10-30T14:00:00",
                                                      "2027-11-02T10:00:00")
    assert (body["start_time"], body["end_time"]) == ("00:00:00", "23:59:59")
    assert all(body[day] for day in stay.DAYS)


def test_a_utc_instant_becomes_amsterdam_wall_time() -> None:
    assert stay.local_text("2027-07-01T12:00:00+00:00", AMSTERDAM) == "2027-07-01T14:00:00"
    assert stay.utc_text("2027-07-01T14:00:00+02:00") == "2027-07-01T12:00:00Z"


@given(INSTANTS, INSTANTS, ZONES)
def test_any_validity_gives_a_schedule_that_matches_itself(start, end, zone) -> None:
    """An owner key valid "forever" (9999-12-31) included: no overflow east of UTC."""
    body = stay.schedule_body(key(start.isoformat(), end.isoformat()), zone)
    assert stay.schedule_matches(body, body)
    assert stay.utc_text(end.isoformat()).endswith("Z")


def test_references_are_ours_by_site_and_name_the_key() -> None:
    reference = stay.reference("camp", "0f0e")
    assert stay.ours("camp", reference) and not stay.ours("other", reference)
    assert not stay.ours("camp", "Family Jansen") and not stay.ours("camp", None)
    assert stay.key_id_of(reference) == "0f0e"
