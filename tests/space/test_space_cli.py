"""``keybridge space ...`` against ``python -m simulators.space`` started as the
README shows: real processes, a real port, a real pseudo-terminal."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SITE = """
[server]
listen = "127.0.0.1:0"
[clock]
start = "2026-07-01T15:00"
running = false
[[rooms]]
name = "Pitch 12"
[[encoders]]
name = "Online Encoder 1"
card = "blank"
[[encoders]]
name = "Back Office"
online = false
[justin]
phones = ["+31612345678"]
"""


@pytest.fixture(scope="module")
def simulator(tmp_path_factory):
    """The simulator process with its control channel; yields (server, control)."""
    site = tmp_path_factory.mktemp("space") / "site.toml"
    site.write_text(SITE)
    with subprocess.Popen(
            [sys.executable, "-m", "simulators.space", "--site", str(site),
             "--control", "127.0.0.1:0"], cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:
            listening = proc.stdout.readline().split()[-1]
            control = proc.stdout.readline().split()[-1]
            # The simulator prints every frame: a pipe nobody reads would fill and stop it.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            yield listening, control
        finally:
            proc.terminate()


def keybridge(*args, config="/nonexistent.toml"):
    return subprocess.run(
        [sys.executable, "-m", "appliance", "space", *args, "--config", config],
        cwd=ROOT, capture_output=True, text=True, timeout=60)


def control(address, request):
    done = subprocess.run([sys.executable, "-m", "simulators.space.control", address,
                           json.dumps(request)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    return done.returncode, json.loads(done.stdout)


def test_ping(simulator):
    done = keybridge("ping", "--server", simulator[0])
    assert (done.returncode, done.stdout.strip()) == (0, "Space is ready")


def test_encode_copy_read_checkout_audit(simulator):
    server, ctl = simulator
    stay = ["--room", "Pitch 12", "--from", "2026-07-01T14:00", "--until", "2026-07-04T11:00"]
    done = keybridge("encode", "--server", server, "--encoder", "Online Encoder 1", *stay,
                     "--count", "2", "--auth", "3")
    assert done.returncode == 0, done.stderr
    assert "count: 2" in done.stdout
    done = keybridge("copy", "--server", server, "--encoder", "Online Encoder 1", *stay,
                     "--json")
    serial = json.loads(done.stdout)["result"]["serials"][0]
    card = json.loads(keybridge("read", "--server", server, "--encoder", "Online Encoder 1",
                                "--json").stdout)["result"]
    assert (card["rooms"], card["valid"], card["copy"]) == (["Pitch 12"], True, "copy 2")
    assert card["authorizations"] == [3]
    assert keybridge("checkout", "--server", server, "--room", "Pitch 12").returncode == 0
    assert control(ctl, {"op": "door", "door": "Pitch 12", "serial": serial}) == (
        0, {"ok": True, "incident": "2"})
    done = keybridge("audit", "--server", server, "--door", "Pitch 12")
    assert done.returncode == 0
    assert "01/07 15:00  invalid key" in done.stdout


def test_mobile_key(simulator):
    done = keybridge("mobile", "--server", simulator[0], "--phone", "+31612345678",
                     "--room", "Pitch 12", "--message", "Welkom Doé")
    assert (done.returncode, done.stdout.strip()) == (0, "phone: +31612345678")


def binary_keys(simulator):
    state = control(simulator[1], {"op": "state"})[1]["state"]
    return [key for key in state["mobile_keys"] if "binary" in key]


def test_binary_mobile_key_shows_its_data_only_when_revealed(simulator):
    ask = ("mobile", "--server", simulator[0], "--phone", "+31612345678", "--room",
           "Pitch 12", "--binary")
    blind = keybridge(*ask)  # Space would make a key whose data nobody sees: refused
    assert blind.returncode == 2 and "add --reveal" in blind.stderr and "--json" in blind.stderr
    assert binary_keys(simulator) == []
    hidden, revealed = keybridge(*ask, "--json"), keybridge(*ask, "--copy", "--reveal")
    made = binary_keys(simulator)
    assert hidden.returncode == revealed.returncode == 0, hidden.stderr + revealed.stderr
    assert json.loads(hidden.stdout)["result"] | {"phone": None} == {
        "phone": None, "key_hex": None, "key_bytes": 13,
        "installation_id": made[0]["installation_id"]}
    assert made[0]["binary"] not in hidden.stdout
    assert "key_hex: %s" % made[1]["binary"] in revealed.stdout.splitlines()
    message = keybridge(*ask, "--message", "Welkom")
    assert message.returncode == 2 and "--message: a binary key" in message.stderr
    reveal = keybridge(*ask[:-1], "--reveal")
    assert reveal.returncode == 2 and "--reveal: only a binary key" in reveal.stderr


def test_vendor_error_exits_1_with_the_meaning_in_words(simulator):
    done = keybridge("encode", "--server", simulator[0], "--encoder", "Back Office",
                     "--room", "Pitch 12")
    assert done.returncode == 1
    assert "no communication with the encoder" in done.stderr
    assert "(NC)" in done.stderr
    done = keybridge("read", "--server", simulator[0], "--encoder", "Nope", "--json")
    error = json.loads(done.stdout)["error"]
    assert (done.returncode, error["code"]) == (1, "NC")
    assert error["hint"].startswith("check that the encoder is switched on")


def test_unknown_room_and_unregistered_phone(simulator):
    done = keybridge("checkout", "--server", simulator[0], "--room", "Pitch 99")
    assert done.returncode == 1 and "unknown room (TD)" in done.stderr
    done = keybridge("mobile", "--server", simulator[0], "--phone", "+4915112345678",
                     "--room", "Pitch 12")
    assert done.returncode == 1 and "not registered with JustIN Mobile" in done.stderr


def test_card_not_presented(simulator):
    _, ctl = simulator
    assert control(ctl, {"op": "card", "encoder": "Online Encoder 1", "remove": True})[0] == 0
    assert control(ctl, {"op": "encoder", "encoder": "Online Encoder 1",
                         "set": {"card_timeout_s": 0.1}})[0] == 0
    try:
        done = keybridge("read", "--server", simulator[0], "--encoder", "Online Encoder 1")
    finally:
        control(ctl, {"op": "card", "encoder": "Online Encoder 1", "kind": "blank"})
    assert done.returncode == 1
    assert "place the card and try again" in done.stderr


def test_unreachable_server_exits_3():
    done = keybridge("ping", "--server", "127.0.0.1:1")
    assert done.returncode == 3
    assert "cannot connect to tcp://127.0.0.1:1" in done.stderr


def test_usage_errors_exit_2(tmp_path):
    done = keybridge("ping")
    assert done.returncode == 2 and "give --server" in done.stderr
    done = keybridge("ping", "--server", "nowhere")
    assert done.returncode == 2 and "HOST:PORT" in done.stderr
    done = keybridge("encode", "--server", "127.0.0.1:1", "--encoder", "E", "--room",
                     "Pitch 12", "--count", "11")
    assert done.returncode == 2 and "count must be 1 to 10" in done.stderr
    config = tmp_path / "keybridge.toml"
    config.write_text('[space]\nserver = "127.0.0.1:8090"\ncard_wait = 30\n')
    done = keybridge("ping", config=str(config))
    assert done.returncode == 2
    assert str(config) in done.stderr and "[space] card_wait: unknown key" in done.stderr


def test_server_from_the_config_file(simulator, tmp_path):
    config = tmp_path / "keybridge.toml"
    config.write_text('[space]\nserver = "%s"\n' % simulator[0])
    done = keybridge("ping", "--json", config=str(config))
    assert json.loads(done.stdout) == {"ok": True, "result": True}


def test_over_a_serial_pseudo_terminal(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text(SITE)
    with subprocess.Popen([sys.executable, "-m", "simulators.space", "--site", str(site),
                           "--serial-pty", "--quiet"], cwd=ROOT, stdout=subprocess.PIPE,
                          text=True) as proc:
        try:
            path = proc.stdout.readline().split()[-1]
            assert path.startswith("/dev/pts/")
            done = keybridge("encode", "--server", "serial:" + path, "--encoder",
                             "Online Encoder 1", "--room", "Pitch 12")
            assert done.returncode == 0, done.stderr
            done = keybridge("read", "--server", "serial:" + path, "--encoder",
                             "Online Encoder 1", "--json")
            assert json.loads(done.stdout)["result"]["rooms"] == ["Pitch 12"]
        finally:
            proc.terminate()


@pytest.mark.parametrize("name", ["keybridge.example.toml", "demo.toml"])
def test_a_whole_keybridge_toml_is_a_config_for_the_space_commands(simulator, name):
    """[space] with its rules (authorizations, key types, products) beside the link keys:
    the link keys are what a ping needs, the rest is the service's."""
    done = keybridge("ping", "--server", simulator[0], config=str(ROOT / "config" / name))
    assert (done.returncode, done.stdout.strip()) == (0, "Space is ready"), done.stderr


def test_an_administration_by_name_brings_its_own_server(simulator, tmp_path):
    config = tmp_path / "keybridge.toml"
    config.write_text('[site]\nid = "camp"\ntimezone = "Europe/Amsterdam"\n'
                      '[space]\nserver = "127.0.0.1:9"\nauthorizations = { 1 = "Barrier" }\n'
                      '[space.administrations.north]\nserver = "%s"\n' % simulator[0])
    done = keybridge("ping", "--administration", "north", config=str(config))
    assert (done.returncode, done.stdout.strip()) == (0, "Space is ready"), done.stderr
    done = keybridge("ping", "--administration", "south", config=str(config))
    assert done.returncode == 2
    assert "no administration 'south' (the administrations are main, north)" in done.stderr
