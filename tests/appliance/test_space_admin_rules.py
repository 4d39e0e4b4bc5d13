"""Authorizations, key types and products per Space administration: a campsite whose
holiday-home park runs its own Space server, with its own door numbers and products.

An administration's own table replaces the shared one of its name; what it keeps of
``[space]`` must fit what it replaced, and every problem names the table and the fix.
"""

import datetime
from pathlib import Path
from typing import Any

import pytest

from appliance.cli import main
from appliance.config import Config
from appliance.engine.backend import Holder, PlannedKey
from appliance.errors import CommandError, ConfigError
from appliance.registry import load_config, parse_config
from appliance.space import siteconf
from appliance.space.backend import SpaceBackend

SOURCE = "keybridge.toml"
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "keybridge.example.toml"
SHARED = {
    "authorizations": {"1": "Barrier", "2": "Shower block", "3": "Swimming pool"},
    "key_types": [{"name": "pitch", "authorizations": ["Barrier", "Shower block"]},
                  {"name": "pool", "authorizations": ["Barrier", "Swimming pool"]}],
    "products": [{"name": "Pool", "key_type": "pool", "labels": ["pool"]},
                 {"name": "Pitches", "key_type": "pitch", "labels": ["pitch"]}],
}
# The holiday-home park's Space numbers its doors its own way and has no pool.
PARK2_AUTHS = {"4": "Barrier", "7": "Car park", "9": "Shower block"}
HOLIDAY = {"name": "holiday", "authorizations": ["Barrier", "Car park"],
           "print_info": ["{guest}", "park 2"]}
HOUSES = {"name": "Houses", "key_type": "holiday", "labels": ["pitch"]}
PARK2 = {"authorizations": PARK2_AUTHS, "key_types": [HOLIDAY], "products": [HOUSES]}


def config_dict(park2: dict[str, Any], **shared: Any) -> dict[str, Any]:
    return {"site": {"id": "vliet", "timezone": "Europe/Amsterdam"},
            "space": {"server": "127.0.0.1:8090", **SHARED, **shared, "administrations": {
                "park2": {"server": "127.0.0.1:8091", **park2}}},
            "units": {"P12": "Pitch 12", "H4": {"room": "House 4", "administration": "park2"}},
            "encoders": [{"id": "desk-1", "name": "Online Encoder 1"}]}


def make(park2: dict[str, Any], **shared: Any) -> Config:
    return parse_config(config_dict(park2, **shared), SOURCE)


def problems(park2: dict[str, Any], **shared: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        make(park2, **shared)
    return caught.value.problems


def problem(where: str, park2: dict[str, Any], **shared: Any) -> str:
    """The only problem of the file, about ``where``."""
    (found,) = problems(park2, **shared)
    assert found.startswith("%s: %s: " % (SOURCE, where)), found
    return found


def holder(**fields: Any) -> Holder:
    fields.setdefault("units", ("P12", "H4"))
    fields.setdefault("name", "Zoë Doé")
    if "owner_key_id" not in fields:
        fields.update(booking_id="B1", status="CONFIRMED")
    return Holder(valid_from=datetime.datetime(2027, 7, 1, 12, tzinfo=datetime.UTC),
                  valid_until=datetime.datetime(2027, 7, 5, 8, tzinfo=datetime.UTC), **fields)


def plans(config: Config, guest: Holder) -> dict[str, dict[str, Any]]:
    """Each administration's planned key data, by backend (constructed, never started)."""
    site = siteconf.of(config)
    found: list[PlannedKey] = []
    for admin in site.administrations:
        found += SpaceBackend(config, admin).plan(guest)
    return {key.backend: key.plan for key in found}


# -- which rules each administration uses ---------------------------------------------------

def test_an_administration_without_its_own_tables_uses_the_shared_ones() -> None:
    keys = plans(make({}), holder(labels=("pool",)))
    assert keys["space"]["granted"] == keys["space:park2"]["granted"] == [1, 3]
    assert keys["space:park2"]["key_type"] == "pool"


def test_the_same_label_gives_each_administration_its_own_key_type_and_doors() -> None:
    keys = plans(make(PARK2), holder(labels=("pitch",)))
    main, house = keys["space"], keys["space:park2"]
    assert (main["key_type"], main["authorizations"], main["granted"]) == (
        "pitch", ["Barrier", "Shower block"], [1, 2])
    assert (house["key_type"], house["authorizations"], house["granted"]) == (
        "holiday", ["Barrier", "Car park"], [4, 7])
    assert (house["product"], house["print_info"]) == ("Houses", ["Zoe Doe", "park 2"])
    # A pool guest matches no product of park2's own list: no key there at all.
    assert set(plans(make(PARK2), holder(labels=("pool",)))) == {"space"}


def test_own_authorizations_alone_renumber_the_shared_key_types() -> None:
    park2 = {"authorizations": PARK2_AUTHS | {"8": "Swimming pool"}}
    keys = plans(make(park2), holder(labels=("pool",)))
    assert keys["space"]["granted"] == [1, 3] and keys["space:park2"]["granted"] == [4, 8]
    assert keys["space:park2"]["authorizations"] == ["Barrier", "Swimming pool"]


def test_an_owner_key_may_name_any_administrations_key_type() -> None:
    assert make(PARK2).key_types == ("pitch", "pool", "holiday")


def test_an_owner_key_on_an_administration_must_name_one_of_its_key_types() -> None:
    config = make(PARK2)
    owner = holder(units=("H4",), owner_key_id="O1", key_type="holiday")
    assert plans(config, owner)["space:park2"]["granted"] == [4, 7]
    for key_type, units, admin in (("pool", ("H4",), "park2"),
                                   ("holiday", ("P12", "H4"), "main")):
        with pytest.raises(CommandError) as caught:
            plans(config, holder(units=units, owner_key_id="O1", key_type=key_type))
        error = caught.value
        assert (error.code, error.field) == ("unknown_key_type", "owner_key.key_type")
        assert "%r is no key type of Space administration %r" % (key_type, admin) in str(error)


def test_an_owner_key_type_no_administration_has_is_left_to_the_other_backends() -> None:
    # The engine refuses a name no backend knows; a KS key type gets no Space key.
    assert plans(make(PARK2), holder(units=("P12", "H4"), owner_key_id="O1",
                                     key_type="stay")) == {}


# -- each problem names its table and the fix -------------------------------------------------

def test_an_own_key_type_naming_an_authorization_of_another_administration() -> None:
    kind = dict(HOLIDAY, authorizations=["Barrier", "Swimming pool"])
    found = problem('[[space.administrations.park2.key_types]] "holiday" authorizations',
                    PARK2 | {"key_types": [kind]})
    assert "'Swimming pool' is not in [space.administrations.park2.authorizations]" in found


def test_an_own_product_naming_a_key_type_only_the_shared_list_has() -> None:
    product = {"name": "Chalet", "key_type": "pitch"}
    found = problem('[[space.administrations.park2.products]] "Chalet" key_type',
                    {"authorizations": PARK2_AUTHS, "key_types": [HOLIDAY],
                     "products": [product]})
    assert "no [[space.administrations.park2.key_types]] is named 'pitch'" in found
    assert "the key types are holiday" in found


def test_own_authorizations_that_a_kept_shared_key_type_needs() -> None:
    found = problem('[[space.key_types]] "pool" authorizations',
                    {"authorizations": PARK2_AUTHS})
    assert "administration 'park2'" in found and "'Swimming pool'" in found
    assert "[space.administrations.park2.authorizations]" in found
    assert "[[space.administrations.park2.key_types]]" in found


def test_own_key_types_that_a_kept_shared_product_needs() -> None:
    found = problem('[[space.products]] "Pitches" key_type',
                    {"authorizations": PARK2_AUTHS, "key_types": [HOLIDAY]}, products=[
                        {"name": "Pitches", "key_type": "pitch", "labels": ["pitch"]}])
    assert "administration 'park2'" in found and "'pitch'" in found
    assert "[[space.administrations.park2.products]]" in found


def test_own_key_types_check_against_the_shared_authorizations_they_keep() -> None:
    kind = dict(HOLIDAY, authorizations=["Car park"])
    found = problem('[[space.administrations.park2.key_types]] "holiday" authorizations',
                    {"key_types": [kind], "products": []})
    assert "'Car park' is not in [space.authorizations]" in found


def test_a_shared_problem_is_said_once_however_many_administrations_keep_it() -> None:
    kind = {"name": "pitch", "authorizations": ["Sauna"]}
    found = problems({}, key_types=[kind], products=[])
    assert [item.split(": ")[1] for item in found] == [
        '[[space.key_types]] "pitch" authorizations']


@pytest.mark.parametrize(("park2", "where"), [
    ({"authorizations": SHARED["authorizations"] | {"63": "Sauna"}},
     "[space.administrations.park2.authorizations] 63"),
    ({"products": {"name": "x"}}, "[[space.administrations.park2.products]]"),
    (PARK2 | {"key_types": [HOLIDAY, HOLIDAY]},
     '[[space.administrations.park2.key_types]] "holiday" name'),
    ({"products": [{"name": "Late", "key_type": "pitch", "start_time": "2pm"}]},
     '[[space.administrations.park2.products]] "Late" start_time'),
])
def test_an_own_table_is_checked_like_the_shared_one(park2: dict[str, Any],
                                                     where: str) -> None:
    problem(where, park2)


def test_config_check_names_each_administrations_table(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keybridge.toml"
    path.write_text('[site]\nid = "vliet"\ntimezone = "UTC"\n[space]\nserver = "127.0.0.1:8090"\n'
                    '[space.authorizations]\n1 = "Barrier"\n'
                    '[[space.key_types]]\nname = "pitch"\nauthorizations = ["Barrier"]\n'
                    '[space.administrations.park2]\nserver = "127.0.0.1:8091"\n'
                    '[space.administrations.park2.authorizations]\n5 = "Gate"\n'
                    '[[space.administrations.park2.products]]\nname = "Chalet"\n'
                    'key_type = "chalet"\n')
    assert main(["config", "check", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith('%s: [[space.key_types]] "pitch" authorizations: '
                               "administration 'park2'" % path)
    assert lines[1].startswith('%s: [[space.administrations.park2.products]] "Chalet" '
                               "key_type: no [[space.key_types]] is named 'chalet'" % path)


def test_the_examples_north_with_its_own_rules_passes_once_uncommented(tmp_path: Path) -> None:
    lines, inside = [], False
    for line in EXAMPLE.read_text().splitlines():
        if line.startswith("#   ["):
            inside = "space.administrations.north" in line
        elif not line.startswith("#"):
            inside = False
        lines.append(line[4:] if inside and line.startswith("#   ") else line)
    path = tmp_path / "keybridge.toml"
    path.write_text("\n".join(lines))
    site = siteconf.of(load_config(path))
    north = site.rules_of("north")
    assert north.authorizations == {1: "Gate", 3: "Pool"}
    assert [product.key_type for product in north.products] == ["holiday"]
    assert north.numbers(north.key_types["holiday"].authorizations) == (1, 3)
    assert "chalet" in site.rules.key_types and "chalet" not in north.key_types
