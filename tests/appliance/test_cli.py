"""The technician's frame tool: keybridge protocol encode / decode."""

import json
import subprocess
import sys

import pytest

from appliance.cli import main, parse_readable

V2_HEX = (  # the notes' vector V2: |CN|Online Encoder 1|R|Room 1|
    "02 b3 43 4e b3 4f 6e 6c 69 6e 65 20 45 6e 63 6f 64 65 72 20 31"
    " b3 52 b3 52 6f 6f 6d 20 31 b3 03 8b"
)


def test_encode_prints_the_frame_hex(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocol", "encode", "|CN|Online Encoder 1|R|Room 1|"]) == 0
    assert capsys.readouterr().out.strip() == V2_HEX


def test_encode_with_lrc_skip(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocol", "encode", "--lrc-skip", "|CN|Online Encoder 1|R|Room 1|"]) == 0
    assert capsys.readouterr().out.strip().endswith("03 0d")


def test_decode_shows_fields_and_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocol", "decode", V2_HEX, "06"]) == 0
    out = capsys.readouterr().out
    assert "|CN|Online Encoder 1|R|Room 1|" in out and "EncodeCard" in out
    assert "control: ACK" in out


def test_decode_reply_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    frame = "02 b3 45 44 b3 45 31 b3 03"
    lrc = 0xB3 ^ 0x45 ^ 0x44 ^ 0xB3 ^ 0x45 ^ 0x31 ^ 0xB3 ^ 0x03
    assert main(["protocol", "decode", "--direction", "reply", "--json",
                 "%s %02x" % (frame, lrc)]) == 0
    items = json.loads(capsys.readouterr().out)
    assert items[0]["frame"] == "|ED|E1|" and "ErrorReply" in items[0]["message"]


def test_bad_lrc_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocol", "decode", V2_HEX[:-2] + "00"]) == 1
    assert "bad LRC" in capsys.readouterr().out


def test_forbidden_byte_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocol", "encode", "|CN|a\\x03|"]) == 2
    assert "field #1 contains the forbidden byte 0x03" in capsys.readouterr().err


def test_parse_readable_escapes() -> None:
    assert parse_readable("|CN|a\\x7cb||") == [b"CN", b"a|b", b""]
    with pytest.raises(ValueError):
        parse_readable("|CN|é|")


def test_console_script_is_installed() -> None:
    result = subprocess.run([sys.executable, "-m", "appliance", "--version"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.startswith("keybridge ")
