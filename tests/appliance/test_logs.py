"""Log lines as ``journalctl -u keybridge`` shows them: a priority on every line, context as
key=value, and never a PIN, secret or password."""

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance import logs
from appliance.logs import JournalFormatter, context_text, priority


@pytest.fixture
def journal() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the journald formatter into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JournalFormatter())
    logger = logging.getLogger("keybridge.test-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


@pytest.mark.parametrize(("level", "prefix"), [
    (logging.CRITICAL, "<2>"), (logging.ERROR, "<3>"), (logging.WARNING, "<4>"),
    (logging.INFO, "<6>"), (logging.DEBUG, "<7>")])
def test_every_line_starts_with_its_journald_priority(
        journal: tuple[logging.Logger, io.StringIO], level: int, prefix: str) -> None:
    logger, stream = journal
    logger.log(level, "first line\nsecond line\n\nfourth line")
    lines = stream.getvalue().splitlines()
    assert lines == [prefix + "first line", prefix + "second line", prefix,
                     prefix + "fourth line"]


def test_levels_between_the_named_ones_take_the_lower_priority() -> None:
    assert priority(logging.INFO + 5) == 6
    assert priority(logging.WARNING + 1) == 4
    assert priority(1) == 7


def test_a_traceback_keeps_the_priority_on_each_line(
        journal: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = journal
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("job crashed", extra={"ctx": {"job": 7}})
    lines = stream.getvalue().splitlines()
    assert lines[0] == "<3>job crashed job=7"
    assert len(lines) > 2 and all(line.startswith("<3>") for line in lines)
    assert lines[-1] == "<3>ValueError: boom"


def test_context_is_key_value_with_quoting(journal: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = journal
    logger.info("command accepted", extra={"ctx": {
        "request_id": "r-17", "command": "booking", "guest": "Anna de Vries",
        "note": 'say "hi"', "expr": "a=b", "empty": "", "absent": None, "count": 3}})
    assert stream.getvalue() == (
        '<6>command accepted request_id=r-17 command=booking guest="Anna de Vries" '
        'note="say \\"hi\\"" expr="a=b" empty="" count=3\n')


def test_a_newline_in_a_value_does_not_start_an_unprefixed_line(
        journal: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = journal
    logger.warning("refused", extra={"ctx": {"reason": "line one\nline two"}})
    assert stream.getvalue() == '<4>refused reason="line one\\nline two"\n'


def test_secret_fields_never_reach_the_journal(
        journal: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = journal
    logger.info("key issued", extra={"ctx": {
        "key_id": "k1", "pin": "482913", "secret": "s3cret", "password": "hunter2",
        "mqtt_password": "hunter3", "card_data": "AABB", "token": "tok", "booking_id": "B1"}})
    text = stream.getvalue()
    assert text == "<6>key issued key_id=k1 booking_id=B1\n"
    for value in ("482913", "s3cret", "hunter", "AABB", "tok"):
        assert value not in text


def test_a_pms_value_cannot_forge_a_second_journal_line(
        journal: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = journal
    logger.info("command accepted", extra={"ctx": {
        "request_id": "r-1\r<3>disk on fire\u2028more"}})
    assert stream.getvalue() == (
        '<6>command accepted request_id="r-1\\x0d<3>disk on fire\\u2028more"\n')


@given(st.dictionaries(st.from_regex(r"[a-z_]{1,10}", fullmatch=True), st.text(max_size=12),
                       max_size=5))
def test_context_is_always_one_line_and_spaced_values_are_quoted(ctx: dict[str, str]) -> None:
    text = context_text(ctx)
    assert len(("message " + text).splitlines()) == 1
    shown = {name: value for name, value in ctx.items()
             if not logs.SECRET_WORDS & set(name.split("_"))}
    assert text == context_text(shown)  # secret-named fields add nothing
    for name, value in shown.items():
        if " " in value:
            assert '%s="' % name in text


@pytest.fixture
def root_logger() -> Iterator[None]:
    """logs.setup() replaces the root logger's handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def test_setup_logs_to_the_stream_at_the_configured_level(root_logger: None) -> None:
    stream = io.StringIO()
    logs.setup("warning", stream=stream, journal=True)
    logging.getLogger("keybridge.engine").info("not shown")
    logging.getLogger("keybridge.engine").warning("retained command refused",
                                                  extra={"ctx": {"request_id": "r-1"}})
    assert stream.getvalue() == "<4>retained command refused request_id=r-1\n"


def test_secret_words_are_whole_words_of_the_field_name() -> None:
    text = context_text({"guest_pin": "482913", "ping_ms": 12, "mapping": "P12", "pin": "1"})
    assert text == "ping_ms=12 mapping=P12"


@pytest.mark.parametrize("journal", [True, False], ids=["journald", "terminal"])
def test_priority_prefixes_only_where_stderr_is_the_journal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, journal: bool,
        root_logger: None) -> None:
    """systemd names the journal's stream in JOURNAL_STREAM (device:inode); anywhere else
    (a terminal, a file, a pipe) a person reads the level as a word."""
    other = tmp_path / "elsewhere"
    other.write_text("")
    with open(tmp_path / "stderr", "w+") as stream:
        named = os.fstat(stream.fileno()) if journal else os.stat(other)
        monkeypatch.setenv("JOURNAL_STREAM", "%d:%d" % (named.st_dev, named.st_ino))
        logs.setup("info", stream=stream)
        logging.getLogger("keybridge.service").warning("broker away",
                                                       extra={"ctx": {"port": 1883}})
        stream.seek(0)
        text = stream.read()
    assert text == ("<4>broker away port=1883\n" if journal else "warning broker away port=1883\n")


def test_hidden_characters_are_escaped_in_the_message_and_the_context(
        journal: tuple[logging.Logger, io.StringIO]) -> None:
    # A topic or id a PMS sent: a terminal escape that recolours a technician's screen, a
    # right-to-left override that shows "B1exe.pdf" for "B1fdp.exe", a carriage return.
    logger, stream = journal
    logger.warning("command %s refused", "\x1b[31mred", extra={"ctx": {
        "booking_id": "B1\u202efdp.exe", "request_id": "r\r1"}})
    line = stream.getvalue()
    assert line == ('<4>command \\x1b[31mred refused booking_id="B1\\u202efdp.exe" '
                    'request_id="r\\x0d1"\n')
    assert not any(char in line for char in "\x1b\u202e\r")
