"""Space automation as the technician and the PMS integrator meet it: the [space] rules in
keybridge.toml, which key a booking gets (key type, rooms, authorizations, card lines) and
the local times ProAccess Space is given."""

import datetime
import time
import zoneinfo
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol
from appliance.config import Config, Site
from appliance.engine import keys as keyset
from appliance.engine.backend import DELIVER, ISSUE, UPDATE, Holder, PlannedKey
from appliance.errors import CommandError, ConfigError
from appliance.registry import parse_config as parse
from appliance.space import keydata, siteconf
from appliance.space.backend import SpaceBackend
from appliance.space.rules import Product
from appliance.space.settings import Administration, SpaceSettings
from appliance.store.db import Store

SOURCE = "keybridge.toml"
AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")
UTC = datetime.UTC

AUTHORIZATIONS = {"1": "Barrier", "2": "Shower block", "3": "Swimming pool"}
PITCH = {"name": "pitch", "description": "Pitch guests",
         "print_info": ["{guest}", "{rooms}", "until {departure}"],
         "authorizations": ["Barrier", "Shower block"], "max_cards": 4,
         "mobile_message": "Welcome {guest}"}
POOL = {"name": "pool", "authorizations": ["Barrier", "Swimming pool"]}


def config_dict(space: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "site": {"id": "vliet", "timezone": "Europe/Amsterdam"},
        "space": {"server": "127.0.0.1:8090", **(space or {})},
        "encoders": [{"id": "desk-1", "name": "Online Encoder 1"}],
        "units": {"P12": "Pitch 12", "C3": "Chalet 3"},
    }
    data.update(extra)
    return data


def make(space: dict[str, Any] | None = None, **extra: Any) -> Config:
    return parse(config_dict(space, **extra), SOURCE)


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(data, SOURCE)
    return caught.value.problems


def problem(data: dict[str, Any], where: str) -> str:
    """The one problem about ``where``; every problem names the file first."""
    found = problems(data)
    assert all(item.startswith(SOURCE + ": ") for item in found), found
    about = [item for item in found if item.startswith("%s: %s: " % (SOURCE, where))]
    assert len(about) == 1, found
    return about[0]


def rules(**space: Any) -> dict[str, Any]:
    """[space] with the authorizations and the pitch and pool key types."""
    return {"authorizations": AUTHORIZATIONS, "key_types": [PITCH, POOL], **space}


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def booking(arrival: str = "2027-07-01T12:00:00+00:00",
            departure: str = "2027-07-05T08:00:00+00:00", **fields: Any) -> Holder:
    fields.setdefault("units", ("P12",))
    fields.setdefault("booking_id", "B-1001")
    fields.setdefault("status", "CONFIRMED")
    return Holder(valid_from=at(arrival), valid_until=at(departure), **fields)


def owner(key_type: str, **fields: Any) -> Holder:
    return Holder(("P12",), at("2027-01-01T00:00:00+01:00"), at("2027-12-31T23:00:00+01:00"),
                  owner_key_id="OWN-7", key_type=key_type, **fields)


def plan(config: Config, holder: Holder, admin: str = "space") -> list[PlannedKey]:
    # Constructed, never started: plan() needs no link.
    return SpaceBackend(config, siteconf.of(config).administration(admin)).plan(holder)


def one_key(config: Config, holder: Holder) -> PlannedKey:
    planned = plan(config, holder)
    assert len(planned) == 1, planned
    return planned[0]


# -- configuration errors ------------------------------------------------------------------

@pytest.mark.parametrize("number", ["0", "63", "pool"])
def test_an_authorization_number_outside_1_to_62_is_refused(number: str) -> None:
    found = problem(config_dict({"authorizations": {number: "Sauna"}}),
                    "[space.authorizations] %s" % number)
    assert "1 to 62" in found


def test_all_62_authorizations_are_accepted() -> None:
    names = {str(number): "Door %d" % number for number in range(1, 63)}
    assert len(siteconf.of(make({"authorizations": names})).rules.authorizations) == 62


def test_a_key_type_naming_an_unknown_authorization_says_where_to_add_it() -> None:
    kind = dict(PITCH, authorizations=["Barrier", "Sauna"])
    found = problem(config_dict({"authorizations": AUTHORIZATIONS, "key_types": [kind]}),
                    '[[space.key_types]] "pitch" authorizations')
    assert "'Sauna'" in found and "[space.authorizations]" in found


def test_a_product_naming_an_unknown_key_type_lists_the_known_ones() -> None:
    found = problem(config_dict(rules(products=[{"name": "Tent", "key_type": "tent"}])),
                    '[[space.products]] "Tent" key_type')
    assert "'tent'" in found and "pitch, pool" in found


@pytest.mark.parametrize("value", ["2pm", "24:00", "14:60", "14:5", "14"])
def test_a_bad_start_time_asks_for_a_time_of_day(value: str) -> None:
    product = {"name": "Late", "key_type": "pitch", "start_time": value}
    found = problem(config_dict(rules(products=[product])), '[[space.products]] "Late" start_time')
    assert '"14:00"' in found


def test_mobile_days_before_needs_mobile_before_arrival() -> None:
    product = {"name": "App", "key_type": "pitch", "mobile": "check_in",
               "mobile_days_before": 2}
    found = problem(config_dict(rules(products=[product])),
                    '[[space.products]] "App" mobile_days_before')
    assert 'mobile = "before_arrival"' in found


def test_more_than_three_print_lines_is_refused() -> None:
    kind = dict(PITCH, print_info=["{guest}", "{rooms}", "{arrival}", "{departure}"])
    found = problem(config_dict({"authorizations": AUTHORIZATIONS, "key_types": [kind]}),
                    '[[space.key_types]] "pitch" print_info')
    assert "at most 3" in found and "remove 1" in found


def test_an_unknown_placeholder_names_the_line_and_the_known_placeholders() -> None:
    kind = dict(PITCH, print_info=["{guest}", "Pitch {room}"])
    found = problem(config_dict({"authorizations": AUTHORIZATIONS, "key_types": [kind]}),
                    '[[space.key_types]] "pitch"')
    assert "'Pitch {room}'" in found and "{rooms}" in found and "{guest}" in found


def test_license_plate_in_auth_code_needs_software_version_1_20() -> None:
    found = problem(config_dict({"license_plate": "auth_code", "software_version": "1.16"}),
                    "[space] license_plate")
    assert "1.20" in found and "1.16" in found and 'license_plate = "off"' in found


@pytest.mark.parametrize("mode", ["auth_code", "print_info"])
def test_license_plate_is_accepted_from_software_version_1_20(mode: str) -> None:
    config = make({"license_plate": mode, "software_version": "1.20"})
    assert siteconf.of(config).administrations[0].settings.license_plate == mode


def test_an_administration_needs_its_own_server() -> None:
    data = config_dict({"administrations": {"north": {"timezone": "Europe/Brussels"}}})
    assert "server" in problem(data, "[space.administrations.north]")


def test_two_administrations_cannot_share_a_server() -> None:
    data = config_dict({"administrations": {"north": {"server": "10.0.0.5:8090"},
                                            "south": {"server": "10.0.0.5:8090"}}})
    found = problem(data, "[space.administrations.south] server")
    assert "10.0.0.5:8090" in found and "'north'" in found


def test_an_administration_cannot_reuse_the_main_server() -> None:
    data = config_dict({"administrations": {"north": {"server": "127.0.0.1:8090"}}})
    assert "'main'" in problem(data, "[space.administrations.north] server")


def test_an_encoder_of_an_unknown_administration_lists_the_administrations() -> None:
    data = config_dict({"administrations": {"north": {"server": "10.0.0.5:8090"}}},
                       encoders=[{"id": "desk-1", "name": "Online Encoder 1"},
                                 {"id": "desk-2", "name": "Online Encoder 2",
                                  "administration": "south"}])
    found = problem(data, "[[encoders]] desk-2 administration")
    assert "'south'" in found and "main, north" in found


def test_a_unit_of_an_unknown_administration_is_refused() -> None:
    data = config_dict({"administrations": {"north": {"server": "10.0.0.5:8090"}}},
                       units={"N4": {"room": "North 4", "administration": "south"}})
    found = problem(data, "[units] N4")
    assert "'south'" in found and "main, north" in found


def test_an_administrations_bad_timezone_is_refused() -> None:
    data = config_dict({"administrations": {"north": {"server": "10.0.0.5:8090",
                                                      "timezone": "Europe/Nowhere"}}})
    found = problem(data, "[space.administrations.north] timezone")
    assert "IANA" in found and "Europe/Amsterdam" in found


def test_every_problem_is_reported_in_one_go() -> None:
    space = rules(products=[{"name": "Tent", "key_type": "tent"},
                            {"name": "App", "key_type": "pitch", "mobile_days_before": 1}])
    space["authorizations"] = dict(AUTHORIZATIONS, **{"63": "Sauna"})
    space["administrations"] = {"north": {"server": "10.0.0.5:8090", "timezone": "Mars/Base"}}
    data = config_dict(space, encoders=[{"id": "desk-1", "name": "Online Encoder 1",
                                         "administration": "south"}])
    found = problems(data)
    expected = ["[space.authorizations] 63", '[[space.products]] "Tent" key_type',
                '[[space.products]] "App" mobile_days_before',
                "[space.administrations.north] timezone", "[[encoders]] desk-1 administration"]
    assert len(found) == len(expected), found
    for where in expected:
        assert any(item.startswith("%s: %s: " % (SOURCE, where)) for item in found), where


def test_a_bad_space_key_does_not_hide_the_other_administration_problems() -> None:
    data = config_dict({"check_in_time": "2pm",
                        "administrations": {"north": {"timezone": "Europe/Brussels"}}},
                       encoders=[{"id": "desk-1", "name": "Online Encoder 1",
                                  "administration": "south"}])
    found = problems(data)
    for where in ("[space] check_in_time", "[space.administrations.north]",
                  "[[encoders]] desk-1 administration"):
        assert any(item.startswith("%s: %s: " % (SOURCE, where)) for item in found), found


def test_an_administration_cannot_be_called_main() -> None:
    data = config_dict({"administrations": {"main": {"server": "10.0.0.5:8090"}}})
    assert problem(data, "[space.administrations.main]")


@pytest.mark.parametrize("space", [
    {"check_in_time": "²:00"},
    {"software_version": "1.²"},
    {"authorizations": {"²": "Barrier"}},
    {"key_types": [{"name": "pitch", "print_info": ["{guest.first}"]}]},
], ids=["check_in_time", "software_version", "authorization", "placeholder-attribute"])
def test_odd_text_gives_a_config_error_not_a_traceback(space: dict[str, Any]) -> None:
    assert problems(config_dict(space))


# -- administrations -----------------------------------------------------------------------

NORTH = {"card_wait_s": 20, "check_in_time": "15:00",
         "administrations": {"north": {"server": "10.0.0.5:8090",
                                       "timezone": "Europe/Brussels"}}}


def test_an_administration_inherits_space_keys_but_keeps_its_server_and_timezone() -> None:
    main, north = siteconf.of(make(NORTH)).administrations
    assert (main.id, main.backend, main.timezone) == ("main", "space", "Europe/Amsterdam")
    assert (north.id, north.backend) == ("north", "space:north")
    assert north.settings.server == "10.0.0.5:8090" and north.timezone == "Europe/Brussels"
    assert north.settings.card_wait_s == 20 and north.settings.check_in_time == "15:00"


def test_each_administration_has_its_units() -> None:
    config = make(NORTH, units={"P12": "Pitch 12",
                                "N4": {"room": "North 4", "administration": "north"}})
    assert siteconf.of(config).admin_units("north") == {"N4": "North 4"}
    assert siteconf.of(config).admin_units("main") == {"P12": "Pitch 12"}
    holder = booking(units=("P12", "N4"))
    assert [key.units for key in plan(config, holder)] == [("P12",)]
    (north,) = plan(config, holder, "space:north")
    assert (north.backend, north.plan["rooms"]) == ("space:north", ["North 4"])
    assert north.plan["administration"] == "north"


def test_owner_keys_may_name_the_space_key_types() -> None:
    assert make(rules()).key_types == ("pitch", "pool")
    assert make().key_types == ()  # no key types: any name


# -- which key a booking gets ---------------------------------------------------------------

def products(*items: dict[str, Any]) -> Config:
    return make(rules(products=list(items)))


def test_the_first_matching_product_wins() -> None:
    config = products({"name": "Pool", "key_type": "pool", "labels": ["pool"]},
                      {"name": "Pitch", "key_type": "pitch"})
    assert one_key(config, booking(labels=("pool", "shade"))).plan["key_type"] == "pool"
    assert one_key(config, booking(labels=("shade",))).plan["key_type"] == "pitch"


@pytest.mark.parametrize(("field", "holder_field", "present"), [
    ("labels", "labels", ("shade", "spa")),
    ("types", "type", "chalet"),
    ("extras", "extras", ("pool-pass",)),
    ("costs", "costs", ("tourist-tax",)),
])
def test_a_filter_matches_any_of_its_values(field: str, holder_field: str,
                                            present: Any) -> None:
    values = {"labels": ["pool", "spa"], "types": ["pitch", "chalet"],
              "extras": ["pool-pass", "spa-pass"], "costs": ["tourist-tax", "dog"]}[field]
    config = products({"name": "Pool", "key_type": "pool", field: values})
    assert one_key(config, booking(**{holder_field: present})).plan["key_type"] == "pool"
    assert plan(config, booking()) == []  # none of them: no Space key at all


def test_filters_combine_with_and() -> None:
    config = products({"name": "Pool pitch", "key_type": "pool", "labels": ["pool"],
                       "types": ["pitch"], "extras": ["pool-pass"], "costs": ["tourist-tax"]})
    every = {"labels": ("pool",), "type": "pitch", "extras": ("pool-pass",),
             "costs": ("tourist-tax",)}
    assert one_key(config, booking(**every)).plan["key_type"] == "pool"
    for missing in every:
        fields = dict(every, **{missing: "" if missing == "type" else ()})
        assert plan(config, booking(**fields)) == [], missing


def test_a_product_without_filters_matches_every_booking() -> None:
    config = products({"name": "Anyone", "key_type": "pitch"})
    key = one_key(config, booking())
    assert key.plan["key_type"] == "pitch"
    assert key.plan["authorizations"] == ["Barrier", "Shower block"]
    assert key.plan["granted"] == [1, 2] and key.plan["max_cards"] == 4
    assert key.plan["product"] == "Anyone"


def test_wait_for_check_in_gives_the_key_only_once_checked_in() -> None:
    config = products({"name": "Pitch", "key_type": "pitch", "wait_for_check_in": True})
    assert plan(config, booking(status="CONFIRMED")) == []
    assert one_key(config, booking(status="CHECKED_IN")).plan["key_type"] == "pitch"


def test_without_products_every_mapped_booking_gets_one_plain_key() -> None:
    key = one_key(make(rules()), booking(units=("P12", "C3", "X9")))
    assert key.plan["key_type"] == "" and key.units == ("P12", "C3")
    assert key.plan["rooms"] == ["Pitch 12", "Chalet 3"]
    assert key.plan["authorizations"] == [] and key.plan["print_info"] == []


def test_with_products_a_booking_none_matches_gets_no_key() -> None:
    config = products({"name": "Pool", "key_type": "pool", "labels": ["pool"]})
    assert plan(config, booking(labels=("shade",))) == []


def test_a_booking_without_mapped_units_gets_no_key() -> None:
    assert plan(make(rules()), booking(units=("X9",))) == []


def test_an_owner_key_gets_the_key_type_it_names() -> None:
    key = one_key(make(rules()), owner("pool", name="Maintenance"))
    assert key.plan["key_type"] == "pool" and key.plan["granted"] == [1, 3]
    assert (key.valid_from, key.valid_until) == (at("2027-01-01T00:00:00+01:00"),
                                                 at("2027-12-31T23:00:00+01:00"))


def test_an_owner_key_of_an_unknown_key_type_gets_no_space_key() -> None:
    assert plan(make(rules()), owner("sauna")) == []


def test_an_owner_key_prints_its_own_lines() -> None:
    key = one_key(make(rules()), owner("pitch", name="Jo", print_info=("Staff", "Jo Doé")))
    assert key.plan["print_info"] == ["Staff", "Jo Doe"]


@pytest.mark.parametrize("line", ["Team {north}", "Code {3}", "Set {"])
def test_an_owner_keys_braces_are_printed_or_refused(line: str) -> None:
    try:
        key = one_key(make(rules()), owner("pitch", print_info=(line,)))
    except CommandError as err:
        assert err.field == "owner_key.print_info"
    else:
        assert key.plan["print_info"] == [line]


# -- the times Space gets -------------------------------------------------------------------

TIMES = {"check_in_time": "14:00", "check_out_time": "11:00"}


def test_check_in_and_out_times_are_local_on_the_arrival_and_departure_days() -> None:
    # The PMS sends midnight in UTC: the days are the administration's.
    key = one_key(make(TIMES), booking("2027-07-01T00:00:00+00:00",
                                       "2027-07-05T00:00:00+00:00"))
    assert key.valid_from == datetime.datetime(2027, 7, 1, 14, 0, tzinfo=AMS)
    assert key.valid_until == datetime.datetime(2027, 7, 5, 11, 0, tzinfo=AMS)
    assert key.plan["space_valid_from"] == "2027-07-01T14:00"
    assert key.plan["space_valid_until"] == "2027-07-05T11:00"
    assert key.plan["rounded"] == []


def test_check_in_and_out_times_stay_local_across_daylight_saving_changes() -> None:
    key = one_key(make(TIMES), booking("2027-03-28T09:00:00+01:00",
                                       "2027-10-31T09:00:00+01:00"))
    assert key.valid_from.astimezone(UTC) == datetime.datetime(2027, 3, 28, 12, 0, tzinfo=UTC)
    assert key.valid_until.astimezone(UTC) == datetime.datetime(2027, 10, 31, 10, 0,
                                                                tzinfo=UTC)
    assert key.plan["space_valid_from"] == "2027-03-28T14:00"
    assert key.plan["space_valid_until"] == "2027-10-31T11:00"


def test_times_are_in_the_administrations_timezone() -> None:
    config = make(dict(TIMES, administrations={"north": {"server": "10.0.0.5:8090",
                                                         "timezone": "America/New_York"}}),
                  units={"N4": {"room": "North 4", "administration": "north"}})
    # 02:00 in Amsterdam on 2 July is still 1 July in New York.
    (key,) = plan(config, booking("2027-07-02T02:00:00+02:00", "2027-07-05T12:00:00+02:00",
                                  units=("N4",)), "space:north")
    assert key.plan["space_valid_from"] == "2027-07-01T14:00"
    assert key.valid_from.astimezone(UTC) == datetime.datetime(2027, 7, 1, 18, 0, tzinfo=UTC)


def test_the_products_start_and_end_time_override_the_administrations() -> None:
    config = make(rules(products=[{"name": "Early", "key_type": "pitch",
                                   "start_time": "10:30", "end_time": "16:00"}], **TIMES))
    key = one_key(config, booking())
    assert (key.plan["space_valid_from"], key.plan["space_valid_until"]) == (
        "2027-07-01T10:30", "2027-07-05T16:00")


def test_without_times_the_pms_instants_are_used_as_sent_in_local_wall_time() -> None:
    key = one_key(make(), booking("2027-07-01T12:00:00+00:00", "2027-07-05T08:00:00-04:00"))
    assert key.valid_from == at("2027-07-01T12:00:00+00:00")
    assert key.valid_until == at("2027-07-05T08:00:00-04:00")
    assert key.plan["space_valid_from"] == "2027-07-01T14:00"
    assert key.plan["space_valid_until"] == "2027-07-05T14:00"


def test_seconds_are_dropped_and_named_in_rounded() -> None:
    key = one_key(make(), booking("2027-07-01T12:00:45+00:00",
                                  "2027-07-05T08:59:59.500000+00:00"))
    assert key.plan["space_valid_from"] == "2027-07-01T14:00"
    assert key.plan["space_valid_until"] == "2027-07-05T10:59"  # never rounded up
    assert key.plan["rounded"] == ["valid_from", "valid_until"]
    assert key.valid_from.second == 45  # the instant itself is kept as sent


def test_a_day_visit_ending_before_check_in_time_keeps_the_pms_times() -> None:
    key = one_key(make(TIMES), booking("2027-07-01T09:00:00+02:00",
                                       "2027-07-01T17:00:00+02:00"))
    assert (key.valid_from, key.valid_until) == (at("2027-07-01T09:00:00+02:00"),
                                                 at("2027-07-01T17:00:00+02:00"))
    assert key.plan["space_valid_from"] == "2027-07-01T09:00"
    assert key.plan["space_valid_until"] == "2027-07-01T17:00"


# -- card lines, licence plate, mobile delivery --------------------------------------------

def test_print_lines_are_filled_and_transliterated() -> None:
    key = one_key(make(rules(products=[{"name": "Pitch", "key_type": "pitch"}], **TIMES)),
                  booking(name="Jeanne Doé"))
    assert key.plan["print_info"] == ["Jeanne Doe", "Pitch 12", "until 05-07-2027 11:00"]
    assert key.plan["mobile_message"] == "Welcome Jeanne Doé"


def test_print_lines_are_cut_to_24_characters_after_transliteration() -> None:
    name = "Familie Großmann-Straße"  # 23 characters; 25 once "ß" is "ss"
    key = one_key(make(rules(products=[{"name": "Pitch", "key_type": "pitch"}])),
                  booking(name=name))
    assert key.plan["print_info"][0] == "Familie Grossmann-Strass"
    assert all(len(line) <= 24 and line.isascii() for line in key.plan["print_info"])


def plate_config(mode: str) -> Config:
    return make(rules(products=[{"name": "Pitch", "key_type": "pitch"}],
                      software_version="1.20", license_plate=mode))


def test_license_plate_print_info_goes_on_the_third_line() -> None:
    key = one_key(plate_config("print_info"), booking(name="Jo", license_plate="AB-123-Ç"))
    assert key.plan["print_info"] == ["Jo", "Pitch 12", "AB-123-C"]
    assert key.plan["auth_code"] == ""


def test_license_plate_auth_code_goes_in_the_auth_code() -> None:
    key = one_key(plate_config("auth_code"), booking(name="Jo", license_plate="AB-123-C"))
    assert key.plan["auth_code"] == "AB-123-C"
    assert "AB-123-C" not in key.plan["print_info"]


def test_license_plate_off_sends_it_nowhere() -> None:
    key = one_key(make(rules(products=[{"name": "Pitch", "key_type": "pitch"}])),
                  booking(name="Jo", license_plate="AB-123-C"))
    assert key.plan["auth_code"] == "" and "AB-123-C" not in key.plan["print_info"]


def mobile(mode: str, **product: Any) -> Config:
    return make(rules(products=[{"name": "App", "key_type": "pitch", "mobile": mode,
                                 **product}], **TIMES))


def test_before_arrival_delivers_n_days_before_the_key_starts() -> None:
    # Local days: the evening before summer time begins is still 14:00 on the wall.
    key = one_key(mobile("before_arrival", mobile_days_before=1),
                  booking("2027-03-28T09:00:00+01:00", "2027-04-02T09:00:00+02:00"))
    assert key.deliver_at == datetime.datetime(2027, 3, 27, 14, 0, tzinfo=AMS).timestamp()


def test_before_arrival_without_days_delivers_when_the_key_starts() -> None:
    key = one_key(mobile("before_arrival"), booking())
    assert key.deliver_at == key.valid_from.timestamp()


def test_check_in_delivers_at_once_but_only_when_checked_in() -> None:
    config = mobile("check_in")
    assert one_key(config, booking(status="CONFIRMED")).deliver_at is None
    assert one_key(config, booking(status="CHECKED_IN")).deliver_at == 0.0


def test_mobile_off_is_never_delivered() -> None:
    assert one_key(mobile("off"), booking(status="CHECKED_IN")).deliver_at is None


# -- the store: planned delivery ------------------------------------------------------------

@pytest.fixture
def db(tmp_path: Any) -> Any:
    store = Store(str(tmp_path / "kb.db"), None)
    yield store
    store.close()


def jobs(db: Store) -> list[tuple[str, float]]:
    return [(row["kind"], row["next_attempt_at"]) for row in db.query(
        "SELECT kind, next_attempt_at FROM jobs WHERE state = 'pending' ORDER BY id")]


def converge(db: Store, *args: Any) -> int:
    with db.transaction() as tx:
        return keyset.converge(tx, *args)


def test_converge_schedules_and_replans_the_automatic_mobile_key(db: Store) -> None:
    config = mobile("before_arrival", mobile_days_before=2)
    backends = {"space": SpaceBackend(config)}
    holder = booking("2080-07-10T12:00:00+00:00", "2080-07-15T08:00:00+00:00")
    due = datetime.datetime(2080, 7, 8, 14, 0, tzinfo=AMS).timestamp()
    assert converge(db, backends, "r1", holder, True) == 1
    assert [kind for kind, _ in jobs(db)] == [ISSUE, DELIVER]
    assert jobs(db)[1][1] == due
    assert converge(db, backends, "r2", holder, True) == 0  # nothing changed
    later = booking("2080-07-12T12:00:00+00:00", "2080-07-15T08:00:00+00:00")
    converge(db, backends, "r3", later, True)
    pending = jobs(db)
    assert [kind for kind, _ in pending] == [ISSUE, UPDATE, DELIVER]  # one delivery, moved
    assert pending[2][1] == datetime.datetime(2080, 7, 10, 14, 0, tzinfo=AMS).timestamp()


def test_a_delivery_already_due_is_scheduled_now(db: Store) -> None:
    config = mobile("before_arrival", mobile_days_before=5)
    before = time.time()
    converge(db, {"space": SpaceBackend(config)}, "r1",
                    booking("2001-07-10T12:00:00+00:00", "2001-07-15T08:00:00+00:00"), True)
    (_, deliver_at) = jobs(db)[1]
    assert before <= deliver_at <= time.time()


# -- properties -----------------------------------------------------------------------------

ZONES = ["Europe/Amsterdam", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
         "Pacific/Chatham", "UTC"]
offsets = st.integers(-14 * 60, 14 * 60).map(
    lambda minutes: datetime.timezone(datetime.timedelta(minutes=minutes)))
instants = st.datetimes(min_value=datetime.datetime(2000, 1, 2),
                        max_value=datetime.datetime(2090, 12, 30), timezones=offsets)
clock = st.one_of(st.just(""), st.builds("{:02d}:{:02d}".format, st.integers(0, 23),
                                         st.integers(0, 59)))


@settings(max_examples=200, deadline=None)
@given(arrival=instants, length=st.timedeltas(datetime.timedelta(seconds=1),
                                              datetime.timedelta(days=400)),
       departure_offset=offsets, zone=st.sampled_from(ZONES), check_in=clock,
       check_out=clock, start_time=clock, end_time=clock, site_in=clock, site_out=clock)
def test_any_stay_gives_a_key_that_starts_before_it_ends(
        arrival: datetime.datetime, length: datetime.timedelta,
        departure_offset: datetime.timezone, zone: str, check_in: str, check_out: str,
        start_time: str, end_time: str, site_in: str, site_out: str) -> None:
    departure = (arrival + length).astimezone(departure_offset)
    admin = Administration("main", SpaceSettings(check_in_time=check_in,
                                                 check_out_time=check_out), zone)
    product = Product("P", "pitch", start_time=start_time, end_time=end_time)
    holder = Holder(("P12",), arrival, departure, booking_id="B")
    site = Site("camp", "Camp", zone, check_in_time=site_in, check_out_time=site_out)
    start, end = keydata.stay(holder, product, admin, site)
    assert start.utcoffset() is not None and end.utcoffset() is not None
    assert start < end
    if (start, end) != (arrival, departure):  # times applied: on the arrival's local day
        local = zoneinfo.ZoneInfo(zone)
        assert start.astimezone(local).date() == arrival.astimezone(local).date()
        assert end.astimezone(local).date() == departure.astimezone(local).date()
    for moment in (start, end):
        text = keydata.wire(moment, zone)
        parsed = keydata.from_wire(text)
        assert parsed.second == 0 and parsed.microsecond == 0
        assert parsed.strftime(keydata.WIRE_FORMAT) == text


def test_a_forever_owner_key_ends_in_the_last_year_space_can_hold() -> None:
    config = make()
    holder = Holder(("P12",), datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC),
                    datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
                    owner_key_id="O1")
    [key] = SpaceBackend(config, siteconf.of(config).administrations[0]).plan(holder)
    assert key.plan["space_valid_until"].startswith("2099-12-31")


def test_printed_lines_are_never_empty_for_space() -> None:
    """The protocol refuses an empty card line: a guest without a name gets a blank."""
    config = make({"key_types": [{"name": "pitch", "print_info": [
        "{guest}", "Pitch {rooms}", "{plate}"]}]})
    holder = Holder(("P12",), datetime.datetime(2027, 7, 1, tzinfo=datetime.UTC),
                    datetime.datetime(2027, 7, 4, tzinfo=datetime.UTC), owner_key_id="O1",
                    key_type="pitch")
    [key] = SpaceBackend(config, siteconf.of(config).administrations[0]).plan(holder)
    assert key.plan["print_info"] == [" ", "Pitch Pitch 12"]
    protocol.EncodeCard(b"CN", b"Online Encoder 1", (b"Pitch 12",),
                        print_info=tuple(line.encode() for line in key.plan["print_info"]))
