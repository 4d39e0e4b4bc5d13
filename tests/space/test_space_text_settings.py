"""Names made safe for the wire, and Space settings a technician can get right."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.space import SpaceSettings, from_table
from appliance.space.errors import SpaceConfigError
from appliance.space.text import to_ascii
from appliance.space.transport import SerialTransport, TcpTransport


@pytest.mark.parametrize(("text", "wire"), [
    ("Doé", b"Doe"), ("Jonä", b"Jona"), ("Straße 5", b"Strasse 5"), ("Ørsted", b"Orsted"),
    ("Łódź", b"Lodz"), ("Æbeltoft", b"AEbeltoft"), ("Zoë’s pitch", b"Zoe's pitch"),
    ("a│b³c", b"a|b|c"), ("line\r\nnext", b"line next"), ("tab\there", b"tab here"),
    ("Chalet 🏕", b"Chalet ?"), ("北京", b"??"),
])
def test_transliteration(text, wire):
    assert to_ascii(text) == wire


def test_line_feeds_kept_only_where_allowed():
    assert to_ascii("Welcome\r\nto the park", allow_lf=True) == b"Welcome\nto the park"


@given(st.text())
def test_anything_becomes_printable_ascii(text):
    wire = to_ascii(text)
    assert all(0x20 <= byte < 0x7F for byte in wire)
    assert 0xB3 not in wire and b"\x02" not in wire and b"\x03" not in wire


def test_defaults_are_sane():
    settings = SpaceSettings()
    assert settings.reply_timeout_s == 35.0  # 30 s for the card plus a margin
    assert isinstance(settings.transport(), TcpTransport)
    serial = SpaceSettings(server="serial:/dev/ttyUSB0", baud_rate=19200).transport()
    assert isinstance(serial, SerialTransport)
    assert serial.describe() == "serial:///dev/ttyUSB0@19200"


def test_a_valid_table():
    settings = from_table({"server": "[::1]:8090", "card_wait_s": 45, "connection":
                           "per_request"}, "/etc/keybridge/keybridge.toml")
    assert settings.card_wait_s == 45.0
    assert settings.transport().describe() == "tcp://::1:8090"


@pytest.mark.parametrize(("table", "words"), [
    ({"sever": "x"}, "[space] sever: unknown key"),
    ({"server": "nowhere"}, "[space] server: 'nowhere' is not HOST:PORT"),
    ({"server": "host:99999"}, "[space] server"),
    ({"server": "serial:"}, "name the line"),
    ({"card_wait_s": "30"}, "[space] card_wait_s: must be a number of seconds"),
    ({"busy_retries": 1.5}, "[space] busy_retries: must be a whole number"),
    ({"ack_timeout_s": -1}, "cannot be negative"),
    ({"ack_timeout_s": 0}, "must be above 0"),
    ({"lrc_skip": "yes"}, "must be true or false"),
    ({"connection": "sometimes"}, 'write "persistent" or "per_request"'),
    ({"baud_rate": 9601}, "standard rate"),
    ({"reconnect_min_s": 5, "reconnect_max_s": 1}, "reconnect_min_s <= reconnect_max_s"),
])
def test_bad_settings_name_the_file_and_the_key(table, words):
    with pytest.raises(SpaceConfigError) as info:
        from_table(table, "/etc/keybridge/keybridge.toml")
    assert str(info.value).startswith("/etc/keybridge/keybridge.toml: ")
    assert words in str(info.value)
