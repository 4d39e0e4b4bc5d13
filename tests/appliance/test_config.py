"""The configuration file as a technician meets it: one TOML file, every mistake reported at
once with the file, the ``[section] key``, the problem and the fix."""

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.cli import main
from appliance.errors import ConfigError
from appliance.ks import config as ks_config
from appliance.registry import load_config as load
from appliance.registry import parse_config as parse
from appliance.space import siteconf

SITE = """
[site]
id = "camping-de-vliet"
timezone = "Europe/Amsterdam"
"""

COMPLETE = """
[site]
id = "camping-de-vliet"
name = "Camping De Vliet"
timezone = "Europe/Amsterdam"

[mqtt]
host = "broker.lan"
port = 8883
protocol = "3.1.1"
prefix = "kb"
username = "keybridge"
password_file = "mqtt-password"
tls = true
ca_file = "ca.crt"
cert_file = "client.crt"
key_file = "client.key"

[store]
path = "/var/lib/keybridge/keybridge.db"
key_file = "/var/lib/keybridge/secret.keys"

[service]
log_level = "debug"
job_retry_min_s = 2

[space]
server = "192.168.1.20:8090"
card_wait_s = 20

[[encoders]]
id = "desk-1"
name = "Online Encoder 1"
location = "reception"

[[encoders]]
id = "desk-2"
name = "Online Encoder 2"

[units]
P12 = "Pitch 12"
C3 = "Chalet 3"
"""


def write(folder: Path, text: str, name: str = "keybridge.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path)
    return caught.value.problems


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config folder with the files the complete example names; the cwd is elsewhere."""
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "mqtt-password").write_text("s3cret-broker-pw\n")
    (folder / "mqtt-password").chmod(0o600)  # a secret: the service's only
    for name in ("ca.crt", "client.crt", "client.key"):
        (folder / name).write_text("-----BEGIN-----\n")
        (folder / name).chmod(0o600)
    return folder


def test_a_complete_file_loads_with_every_value(site_dir: Path) -> None:
    config = load(write(site_dir, COMPLETE))
    assert config.site.id == "camping-de-vliet" and str(config.site.zone) == "Europe/Amsterdam"
    assert config.root == "kb/camping-de-vliet"
    assert config.mqtt.port == 8883 and config.mqtt.protocol == "3.1.1" and config.mqtt.tls
    assert config.mqtt.client_id == "keybridge-camping-de-vliet"
    # The secret comes from its file, without the trailing newline an editor adds.
    assert config.mqtt.password == "s3cret-broker-pw"
    # Relative *_file names are found beside the configuration file, not in the cwd.
    assert config.mqtt.key_file == str(site_dir / "client.key")
    assert config.mqtt.ca_file == str(site_dir / "ca.crt")
    assert config.service.log_level == "debug" and config.service.job_retry_min_s == 2.0
    space = siteconf.of(config)
    assert space.main is not None and space.main.card_wait_s == 20.0
    assert config.backends() == ["space"]
    assert [e.id for e in space.encoders] == ["desk-1", "desk-2"]
    assert space.encoder("Online Encoder 2") is space.encoders[1]
    assert space.units == {"P12": "Pitch 12", "C3": "Chalet 3"}


def test_a_minimal_file_takes_the_documented_defaults(tmp_path: Path) -> None:
    config = load(write(tmp_path, SITE))
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.prefix) == (
        "127.0.0.1", 1883, "keybridge")
    assert config.mqtt.password is None and not config.mqtt.tls
    assert siteconf.of(config).main is None and config.backends() == []
    assert ks_config.of(config) is None
    assert config.store.path == "/var/lib/keybridge/keybridge.db"
    assert config.store.retention_days == 90


MISTAKES = {
    "unknown section": (
        SITE + '[mqttt]\nhost = "broker.lan"\n',
        "[mqttt]", ["unknown section", "mqtt"]),
    "unknown key": (
        SITE + '[mqtt]\nhots = ["broker.lan:1883"]\n',
        "[mqtt] hots", ["unknown key", "did you mean hosts?"]),
    "wrong type": (
        SITE + '[mqtt]\nport = "8883"\n',
        "[mqtt] port", ["must be a whole number", "'8883'", "e.g. port = 8883"]),
    "port out of range": (
        SITE + "[mqtt]\nport = 70000\n",
        "[mqtt] port", ["from 1 to 65535", "70000", "e.g. port = 8883"]),
    "bad time zone": (
        '[site]\nid = "x"\ntimezone = "Europe/Amsterdamm"\n',
        "[site] timezone", ["IANA time zone", "'Europe/Amsterdamm'",
                            'e.g. timezone = "Europe/Amsterdam"']),
    "missing site id": (
        '[site]\ntimezone = "Europe/Amsterdam"\n',
        "[site] id", ["is required", "e.g. id = "]),
    "site id a NATS broker refuses": (
        '[site]\nid = "camping.de vliet"\ntimezone = "Europe/Amsterdam"\n',
        "[site] id", ["letters, digits, - and _ only", "' ' '.'", "e.g. camping-de-vliet"]),
    "prefix with a wildcard": (
        SITE + '[mqtt]\nprefix = "kb/#"\n',
        "[mqtt] prefix", ["letters, digits, - and _ only", "'#' '/'"]),
    "a host that is not host:port": (
        SITE + '[mqtt]\nhosts = ["nats-1:1883", "nats-2"]\n',
        "[mqtt] hosts", ["'nats-2' is not \"HOST:PORT\"", 'e.g. hosts = ["nats-1']),
    "inline password": (
        SITE + '[mqtt]\nusername = "kb"\npassword = "hunter2"\n',
        "[mqtt] password", ["never go in the TOML", 'password_file = "']),
    "password file missing": (
        SITE + '[mqtt]\nusername = "kb"\npassword_file = "mqtt-password"\n',
        "[mqtt] password_file", ["mqtt-password", "No such file", "create it"]),
    "cert without key": (
        SITE + '[mqtt]\ntls = true\ncert_file = "client.crt"\n',
        "[mqtt] cert_file", ["needs both cert_file and key_file"]),
    "ca_file without tls": (
        SITE + '[mqtt]\nca_file = "ca.crt"\n',
        "[mqtt] tls", ["tls = false", "set tls = true"]),
    "retention below a day": (
        SITE + "[store]\nretention_days = 0\n",
        "[store] retention_days", ["from 1 to 3650, not 0", "e.g. retention_days = 90"]),
    "duplicate encoder": (
        SITE + '[[encoders]]\nid = "desk-1"\nname = "Online Encoder 1"\n'
        '[[encoders]]\nid = "desk-1"\nname = "Online Encoder 2"\n',
        "[[encoders]]", ["'desk-1'", "unique"]),
}


@pytest.mark.parametrize("case", MISTAKES)
def test_each_mistake_names_the_file_the_key_and_the_fix(tmp_path: Path, case: str) -> None:
    text, where, fragments = MISTAKES[case]
    for name in ("ca.crt", "client.crt"):
        (tmp_path / name).write_text("-----BEGIN-----\n")
    path = write(tmp_path, text)
    problems = problems_of(path)
    # Exactly the one mistake, not a cascade of follow-on complaints.
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.startswith("%s: %s: " % (path, where)), problem
    for fragment in fragments:
        assert fragment in problem, (fragment, problem)


def test_the_inline_password_is_never_echoed_back(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, SITE + '[mqtt]\nusername = "kb"\n'
                                 'password = "hunter2-secret"\n'))
    assert not any("hunter2" in problem for problem in problems)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, """
        [site]
        timezone = "Mars/Olympus"
        [mqtt]
        port = 0
        hots = "x"
        password = "p"
        [service]
        log_level = "loud"
        [space]
        server = "no-port-here"
        [units]
        P12 = 12
        [extra]
    """)
    problems = problems_of(path)
    expected = ["[extra]", "[site] id", "[site] timezone", "[mqtt] port", "[mqtt] hots",
                "[mqtt] password", "[service] log_level", "[space] server", "[units] P12"]
    assert len(problems) == len(expected), problems
    for where in expected:
        assert any(problem.startswith("%s: %s: " % (path, where)) for problem in problems), where


def test_every_problem_of_the_space_table_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, SITE + '[space]\nserver = "no-port-here"\nbaud_rate = 1234\n')
    problems = problems_of(path)
    assert any("[space] server" in problem for problem in problems)
    assert any("[space] baud_rate" in problem for problem in problems)


def test_credentials_directory_beats_the_file_beside_the_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "mqtt-password").write_text("from-systemd\n")
    (credentials / "mqtt-password").chmod(0o600)  # a secret: the service's only
    (credentials / "client.key").write_text("key\n")
    (credentials / "client.key").chmod(0o600)  # a secret: the service's only
    (tmp_path / "mqtt-password").write_text("from-beside-the-config\n")
    (tmp_path / "mqtt-password").chmod(0o600)  # a secret: the service's only
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    (tmp_path / "client.crt").write_text("crt\n")
    config = load(write(tmp_path, SITE + '[mqtt]\nusername = "kb"\n'
                        'password_file = "mqtt-password"\ntls = true\n'
                        'cert_file = "client.crt"\nkey_file = "client.key"\n'))
    assert config.mqtt.password == "from-systemd"
    assert config.mqtt.key_file == str(credentials / "client.key")
    # Not a credential: found beside the config.
    assert config.mqtt.cert_file == str(tmp_path / "client.crt")


def test_a_bare_name_missing_from_the_credentials_falls_back_beside_the_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    (tmp_path / "mqtt-password").write_text("beside\n")
    (tmp_path / "mqtt-password").chmod(0o600)  # a secret: the service's only
    config = load(write(tmp_path, SITE + '[mqtt]\nusername = "kb"\n'
                        'password_file = "mqtt-password"\n'))
    assert config.mqtt.password == "beside"


def test_a_path_with_a_slash_is_never_looked_up_in_the_credentials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    (credentials / "sub").mkdir(parents=True)
    (credentials / "sub" / "pw").write_text("from-systemd\n")
    (credentials / "sub" / "pw").chmod(0o600)  # a secret: the service's only
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pw").write_text("beside\n")
    (tmp_path / "sub" / "pw").chmod(0o600)  # a secret: the service's only
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    config = load(write(tmp_path, SITE + '[mqtt]\nusername = "kb"\npassword_file = "sub/pw"\n'))
    assert config.mqtt.password == "beside"


def test_a_file_that_is_not_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, SITE + "[mqtt]\nport = \n")
    problems = problems_of(path)
    assert len(problems) == 1
    assert problems[0].startswith("%s: not valid TOML" % path) and "line" in problems[0]


def test_a_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "nope.toml")
    assert str(tmp_path / "nope.toml") in problems[0] and "keybridge init" in problems[0]


def test_config_check_prints_a_summary_and_exits_0(
        site_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(site_dir, COMPLETE)
    assert main(["config", "check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("%s: OK" % path)
    for fact in ("camping-de-vliet", "Europe/Amsterdam", "broker.lan:8883", "TLS", "space"):
        assert fact in lines[0]


def test_config_check_lists_every_problem_on_stderr_and_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[site]\ntimezone = "Nowhere"\n[mqtt]\nport = 0\n')
    assert main(["config", "check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 3
    assert all(line.startswith(str(path) + ": ") for line in lines)
    assert any("[site] id" in line for line in lines)
    assert any("[site] timezone" in line for line in lines)
    assert any("[mqtt] port" in line for line in lines)


def test_config_check_of_a_missing_file_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: no such file" in capsys.readouterr().err


# Anything a TOML file can hold gives a Config or a ConfigError, never a traceback.
_SCALARS = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False),
                     st.text(max_size=12))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=5)
_KEYS = st.sampled_from(["id", "name", "timezone", "host", "port", "tls", "ca_file",
                         "cert_file", "key_file", "password_file", "username", "path",
                         "log_level", "server", "connection", "baud_rate", "P12", "x"])
_TABLES = st.dictionaries(_KEYS, _VALUES, max_size=4)
_FILES = st.dictionaries(
    st.sampled_from(["site", "mqtt", "store", "service", "space", "encoders", "units", "x"]),
    _TABLES | _VALUES | st.lists(_TABLES, max_size=2), max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_FILES)
def test_any_toml_content_gives_a_config_or_a_config_error(data: dict[str, Any]) -> None:
    source = os.path.join(os.sep, "nonexistent", "keybridge.toml")
    try:
        parse(data, source)
    except ConfigError as err:
        assert err.problems
        assert all(problem.startswith(source + ": ") for problem in err.problems)


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o666])
def test_a_secret_file_others_can_read_is_refused_with_the_chmod(tmp_path: Path,
                                                                 mode: int) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret\n")
    secret.chmod(mode)
    path = write(tmp_path, SITE + '[mqtt]\nusername = "kb"\npassword_file = "mqtt-password"\n')
    fix = "640" if secret.stat().st_uid == 0 else "600"
    assert problems_of(path) == ["%s: [mqtt] password_file: %s is mode %04o: others than "
                                 "keybridge can read it; chmod %s %s (and keep the secret "
                                 "itself if nobody else had it, else make a new one)"
                                 % (path, secret, mode, fix, secret)]
    secret.chmod(0o600)
    assert load(path).mqtt.password == "s3cret"
