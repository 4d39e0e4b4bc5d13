"""One check-in/check-out policy for every backend: when a booking's Space key and its KS
PINs start and end, from the real configuration file through each backend's ``plan``.

The precedence a technician configures: a Space product's or a KS key type's own time, then
Space's [space] (per administration), then [site], then the PMS's instant as sent.
"""

import datetime
import zoneinfo
from pathlib import Path
from typing import Any

import pytest

from appliance.config import Config
from appliance.engine.backend import Holder, PlannedKey
from appliance.errors import ConfigError
from appliance.ks.backend import KsBackend
from appliance.ks.stay import schedule_body
from appliance.registry import parse_config
from appliance.space import siteconf
from appliance.space.backend import SpaceBackend
from appliance.store import KeyRow
from simulators.demo_config import write_secret
from simulators.ks import defaults

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
ARRIVAL = datetime.datetime(2027, 7, 1, 9, 30, tzinfo=AMS)
DEPARTURE = datetime.datetime(2027, 7, 4, 18, 0, tzinfo=AMS)
SITE_TIMES = {"check_in_time": "14:00", "check_out_time": "11:00"}


def local(day: int, hour: int, minute: int = 0, zone: zoneinfo.ZoneInfo = AMS
          ) -> datetime.datetime:
    return datetime.datetime(2027, 7, day, hour, minute, tzinfo=zone)


def config(folder: Path, site: dict[str, Any] | None = None,
           space: dict[str, Any] | None = None, key_types: list[dict[str, Any]] | None = None,
           **extra: Any) -> Config:
    """A site with Space (unit P12, no products) and KS (unit P12) read as the service
    reads its file: the KS secrets from files beside it."""
    for name, secret in (("ks-client-secret", defaults.CLIENT_SECRET),
                         ("ks-password", defaults.PASSWORD)):
        write_secret(folder / name, secret)
    data: dict[str, Any] = {
        "site": {"id": "camp", "timezone": "Europe/Amsterdam", **(site or {})},
        "space": {"server": "127.0.0.1:8090", **(space or {})},
        "units": {"P12": "Pitch 12"},
        "ks": {"identity_url": "http://127.0.0.1:1", "api_url": "http://127.0.0.1:1",
               "client_id": "kb", "client_secret_file": "ks-client-secret",
               "username": "kb@camp.example", "password_file": "ks-password",
               "site": "Camp", "units": {"P12": ["Pitch 12"]},
               **({"key_types": key_types} if key_types else {})},
        **extra}
    return parse_config(data, str(folder / "keybridge.toml"))


def stay(**fields: Any) -> Holder:
    fields = {"units": ("P12",), "valid_from": ARRIVAL, "valid_until": DEPARTURE,
              "booking_id": "B1"} | fields
    return Holder(**fields)


def space_key(made: Config, holder: Holder, admin: str = "space") -> PlannedKey:
    """The Space key ``plan`` gives (constructed, never started: plan needs no link)."""
    (key,) = SpaceBackend(made, siteconf.of(made).administration(admin)).plan(holder)
    return key


def ks_keys(made: Config, holder: Holder) -> dict[str, PlannedKey]:
    return {key.key_type: key for key in KsBackend(made).plan(holder)}


def times(key: PlannedKey) -> tuple[datetime.datetime, datetime.datetime]:
    return key.valid_from, key.valid_until


# -- one policy, both backends ---------------------------------------------------------------

def test_site_times_make_the_card_and_every_pin_start_and_end_together(tmp_path: Path) -> None:
    made = config(tmp_path, SITE_TIMES, key_types=[{"name": "stay"},
                                                   {"name": "showers", "unit_locks": False,
                                                    "locks": ["Shower block"]}])
    card = space_key(made, stay())
    pins = ks_keys(made, stay())
    assert times(card) == (local(1, 14), local(4, 11))
    assert {name: times(key) for name, key in pins.items()} == {
        "stay": (local(1, 14), local(4, 11)), "showers": (local(1, 14), local(4, 11))}
    assert (card.plan["space_valid_from"], card.plan["space_valid_until"]) == (
        "2027-07-01T14:00", "2027-07-04T11:00")


def test_the_ks_schedule_is_the_effective_stay_in_the_sites_wall_time(tmp_path: Path) -> None:
    made = config(tmp_path, SITE_TIMES)
    pin = ks_keys(made, stay(valid_from=datetime.datetime(2027, 7, 1, 5, 0, tzinfo=NEW_YORK)
                             ))["stay"]
    row = KeyRow(id="k1", booking_id="B1", owner_key_id=None, backend="ks", state="issuing",
                 key_type=pin.key_type, units=pin.units, valid_from=pin.valid_from,
                 valid_until=pin.valid_until, plan={}, external_ids={}, has_secret=False)
    body = schedule_body(row, made.site.zone)
    # 05:00 in New York is 11:00 in Amsterdam: the PMS's offset never moves the day.
    assert (body["start_date"], body["end_date"]) == ("2027-07-01T14:00:00",
                                                     "2027-07-04T11:00:00")


def test_without_site_times_space_keeps_its_own_and_ks_the_pms_instants(tmp_path: Path
                                                                        ) -> None:
    """An existing configuration ([space] times only) behaves exactly as before [site]
    had times: Space from 14:00, the PINs at the instants the PMS sent."""
    made = config(tmp_path, space=SITE_TIMES)
    assert times(space_key(made, stay())) == (local(1, 14), local(4, 11))
    assert times(ks_keys(made, stay())["stay"]) == (ARRIVAL, DEPARTURE)


def test_without_any_times_both_keep_the_pms_instants(tmp_path: Path) -> None:
    made = config(tmp_path)
    assert times(space_key(made, stay())) == (ARRIVAL, DEPARTURE)
    assert times(ks_keys(made, stay())["stay"]) == (ARRIVAL, DEPARTURE)


# -- precedence ------------------------------------------------------------------------------

def test_the_administrations_times_override_the_sites_for_space_only(tmp_path: Path) -> None:
    made = config(tmp_path, SITE_TIMES, space={"check_in_time": "15:00"})
    assert times(space_key(made, stay())) == (local(1, 15), local(4, 11))
    assert times(ks_keys(made, stay())["stay"]) == (local(1, 14), local(4, 11))


def test_a_product_overrides_the_administration_and_the_site(tmp_path: Path) -> None:
    made = config(tmp_path, SITE_TIMES, space={
        "check_in_time": "15:00", "authorizations": {"1": "Barrier"},
        "key_types": [{"name": "pitch", "authorizations": ["Barrier"]}],
        "products": [{"name": "Early", "key_type": "pitch", "start_time": "12:00",
                      "end_time": "10:00"}]})
    assert times(space_key(made, stay())) == (local(1, 12), local(4, 10))


def test_a_ks_key_type_overrides_the_site_for_its_own_pin(tmp_path: Path) -> None:
    made = config(tmp_path, SITE_TIMES, key_types=[
        {"name": "stay"}, {"name": "showers", "unit_locks": False, "locks": ["Shower block"],
                           "start_time": "16:00", "end_time": "10:30"}])
    pins = ks_keys(made, stay())
    assert times(pins["stay"]) == (local(1, 14), local(4, 11))
    assert times(pins["showers"]) == (local(1, 16), local(4, 10, 30))
    assert times(space_key(made, stay())) == (local(1, 14), local(4, 11))


def test_a_ks_key_type_time_applies_without_site_times(tmp_path: Path) -> None:
    made = config(tmp_path, key_types=[{"name": "stay", "start_time": "16:00"}])
    assert times(ks_keys(made, stay())["stay"]) == (local(1, 16), DEPARTURE)


def test_site_times_are_the_sites_wall_time_even_for_an_administration_elsewhere(
        tmp_path: Path) -> None:
    """[site] 14:00 is 14:00 on the site's clock: the card of an administration in another
    zone starts at the same instant as the PIN (and Space gets its own wall time for it)."""
    made = config(tmp_path, SITE_TIMES, space={"administrations": {
        "west": {"server": "10.0.0.5:8090", "timezone": "America/New_York"}}},
                  units={"P12": {"room": "Pitch 12", "administration": "west"}})
    card = space_key(made, stay(), "space:west")
    assert times(card) == times(ks_keys(made, stay())["stay"]) == (local(1, 14), local(4, 11))
    assert card.plan["space_valid_from"] == "2027-07-01T08:00"


# -- the edges: owner keys and day visits ----------------------------------------------------

def test_owner_keys_keep_their_exact_instants_on_both_backends(tmp_path: Path) -> None:
    made = config(tmp_path, SITE_TIMES, key_types=[{"name": "stay", "start_time": "16:00"}])
    owner = stay(booking_id=None, owner_key_id="OWN-1", key_type="stay")
    assert times(space_key(made, owner)) == (ARRIVAL, DEPARTURE)
    assert times(ks_keys(made, owner)["stay"]) == (ARRIVAL, DEPARTURE)


def test_a_day_visit_leaving_before_check_in_keeps_the_pms_instants_on_both(tmp_path: Path
                                                                            ) -> None:
    made = config(tmp_path, SITE_TIMES)
    visit = stay(valid_from=local(1, 9), valid_until=local(1, 17))
    assert times(space_key(made, visit)) == (local(1, 9), local(1, 17))
    assert times(ks_keys(made, visit)["stay"]) == (local(1, 9), local(1, 17))


# -- validation: the key and the fix ---------------------------------------------------------

PITCH = {"authorizations": {"1": "Barrier"},
         "key_types": [{"name": "pitch", "authorizations": ["Barrier"]}]}


def problems(folder: Path, **options: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config(folder, **options)
    return caught.value.problems


@pytest.mark.parametrize(("options", "where", "empty"), [
    ({"site": {"check_in_time": "25:00"}}, "[site] check_in_time",
     "the arrival instant the PMS sends"),
    ({"site": {"check_out_time": "11h"}}, "[site] check_out_time",
     "the departure instant the PMS sends"),
    ({"space": {"check_in_time": "25:00"}}, "[space] check_in_time", "[site] check_in_time"),
    ({"key_types": [{"name": "stay", "start_time": "25:00"}]},
     "[[ks.key_types]] #1 start_time", "[site] check_in_time"),
    ({"key_types": [{"name": "stay", "end_time": "7:5"}]}, "[[ks.key_types]] #1 end_time",
     "[site] check_out_time"),
    ({"space": PITCH | {"products": [{"name": "Late", "key_type": "pitch",
                                      "start_time": "2pm"}]}},
     '[[space.products]] "Late" start_time', "the administration's check_in_time ([space] "
     "or [space.administrations.NAME])"),
], ids=["site-in", "site-out", "space-in", "ks-start", "ks-end", "product-start"])
def test_a_bad_time_names_the_file_the_key_and_the_fix(tmp_path: Path, options: dict[str, Any],
                                                       where: str, empty: str) -> None:
    """One check and one message for every table: the key, what "" means there, the value."""
    (found,) = problems(tmp_path, **options)
    assert found.startswith("%s: %s: " % (tmp_path / "keybridge.toml", where)), found
    assert 'write a time of day such as "14:00", or "" for %s, not ' % empty in found


def test_a_time_given_as_a_number_says_to_quote_it(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, site={"check_in_time": 14})
    assert "[site] check_in_time: must be a string in quotes" in found
    assert 'e.g. check_in_time = "14:00"' in found
