"""The [ks] table: the account from files, locks per unit, key types, and refusals that say
what to fix (the older "svn" generation above all)."""

import re
import textwrap
from pathlib import Path

import pytest

from appliance.errors import ConfigError
from appliance.ks.config import of as ks_of
from appliance.registry import load_config as load

CONFIG = Path(__file__).resolve().parents[2] / "config"
BASE = """
[site]
id = "camp"
timezone = "Europe/Amsterdam"
"""
KS = """
[ks]
identity_url = "https://identity-acc.eu.my-clay.com"
api_url = "https://clp-accept-user.my-clay.com"
client_id = "keybridge"
client_secret_file = "ks-client-secret"
username = "system@camping.example"
password_file = "ks-password"
site = "Camping Demo"
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    for name, secret in (("ks-client-secret", "client-s3cret"), ("ks-password", "user-s3cret")):
        (tmp_path / name).write_text(secret + "\n")
        (tmp_path / name).chmod(0o600)  # a secret: the service's only
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "keybridge.toml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path)
    return caught.value.problems


def test_the_account_comes_from_the_files_and_one_stay_pin_is_the_default(folder: Path) -> None:
    config = load(write(folder, BASE + KS + '[ks.units]\nP12 = ["Pitch 12"]\nC3 = "Chalet 3"\n'))
    assert ks_of(config) is not None and config.backends() == ["ks"]
    settings = ks_of(config).settings
    assert (settings.client_secret, settings.password) == ("client-s3cret", "user-s3cret")
    assert "s3cret" not in repr(settings)
    assert ks_of(config).units == {"P12": ("Pitch 12",), "C3": ("Chalet 3",)}
    [kind] = ks_of(config).key_types
    assert (kind.name, kind.unit_locks, kind.locks) == ("stay", True, ())


def test_two_key_types_make_two_pins_per_booking(folder: Path) -> None:
    import datetime

    from appliance.engine.backend import Holder
    from appliance.ks.backend import KsBackend
    config = load(write(folder, BASE + KS + """
        [ks.units]
        P12 = ["Pitch 12"]
        [[ks.key_types]]
        name = "stay"
        locks = ["Main gate"]
        [[ks.key_types]]
        name = "showers"
        unit_locks = false
        locks = ["Shower block"]
        """))
    moment = datetime.datetime(2027, 7, 1, 14, tzinfo=datetime.UTC)
    plans = KsBackend(config).plan(Holder(("P12",), moment, moment, booking_id="B1"))
    assert [plan.key_type for plan in plans] == ["stay", "showers"]
    assert KsBackend(config).plan(Holder(("X9",), moment, moment)) == []  # no unit of ours
    # An owner key naming one KS key type gets that PIN only.
    owner = Holder(("P12",), moment, moment, owner_key_id="O1", key_type="showers")
    assert [plan.key_type for plan in KsBackend(config).plan(owner)] == ["showers"]


def test_svn_is_refused_with_what_to_do_instead(folder: Path) -> None:
    [problem] = problems(write(folder, BASE + KS + 'platform = "svn"\n'))
    assert "keybridge.toml: [ks] platform" in problem
    assert "older Salto generation" in problem and "[space]" in problem


def test_every_ks_mistake_is_reported_at_once(folder: Path) -> None:
    text = BASE + KS.replace('api_url = "https://clp-accept-user.my-clay.com"',
                             'api_url = "connect.my-clay.com"').replace(
        "ks-password", "no-such-file") + """
        burst = 0
        colour = "red"
        [ks.units]
        P12 = []
        [[ks.key_types]]
        name = "gate"
        unit_locks = false
        """
    found = problems(write(folder, text))
    expected = [r"\[ks\] api_url: must start with https://",
                r"\[ks\] password_file: cannot read .*no-such-file",
                r"\[ks\] burst: must be from 1 to 1000", r"\[ks\] colour: unknown key",
                r"\[ks.units\] P12: must list the KS lock names",
                r"\[\[ks.key_types\]\] #1: opens nothing"]
    for pattern in expected:
        assert any(re.search(pattern, problem) for problem in found), (pattern, found)
    assert not any("s3cret" in problem for problem in found)


def test_a_secret_inline_in_the_toml_is_refused(folder: Path) -> None:
    found = problems(write(folder, BASE + KS + 'password = "hunter2"\n'))
    assert any("[ks] password: secrets never go in the TOML" in problem for problem in found)
    assert not any("hunter2" in problem for problem in found)


def test_the_commented_example_table_is_valid_once_uncommented(folder: Path) -> None:
    example = (CONFIG / "keybridge.example.toml").read_text()
    start = example.index("# [ks]\n")
    block = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                      for line in example[start:].splitlines())
    config = load(write(folder, BASE + block))
    assert ks_of(config) is not None
    assert [kind.name for kind in ks_of(config).key_types] == ["stay", "showers"]


ACCOUNT = KS.replace('identity_url = "https://identity-acc.eu.my-clay.com"\n', "").replace(
    'api_url = "https://clp-accept-user.my-clay.com"\n', "")
UNITS = '[ks.units]\nP12 = ["Pitch 12"]\n'


@pytest.mark.parametrize(("environment", "urls"), [
    ("production", ("https://identity.eu.my-clay.com", "https://connect.my-clay.com")),
    ("acceptance", ("https://identity-acc.eu.my-clay.com",
                    "https://clp-accept-user.my-clay.com"))])
def test_an_environment_chooses_salto_s_documented_urls(folder: Path, environment: str,
                                                         urls: tuple[str, str]) -> None:
    config = load(write(folder, BASE + ACCOUNT + 'environment = "%s"\n' % environment + UNITS))
    settings = ks_of(config).settings
    assert (settings.identity_url, settings.api_url) == urls


def test_an_explicit_url_overrides_the_environment(folder: Path) -> None:
    config = load(write(folder, BASE + ACCOUNT + 'environment = "production"\n'
                        'api_url = "https://user.my-clay.com/"\n' + UNITS))
    settings = ks_of(config).settings
    assert (settings.identity_url, settings.api_url) == ("https://identity.eu.my-clay.com",
                                                         "https://user.my-clay.com")


def test_neither_an_environment_nor_urls_names_both_ways_to_fix_it(folder: Path) -> None:
    found = problems(write(folder, BASE + ACCOUNT + UNITS))
    assert any("[ks] identity_url" in p and 'environment = "production"' in p for p in found)
    assert any("[ks] api_url" in p for p in found)
    found = problems(write(folder, BASE + ACCOUNT + 'environment = "staging"\n' + UNITS))
    assert any("[ks] environment" in p and '"acceptance"' in p for p in found)
