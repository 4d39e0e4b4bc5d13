"""Logs for journald: one line per event, a priority prefix, context as key=value fields.

``<6>command accepted request_id=r-17 command=booking booking_id=B42``

journald reads the ``<N>`` prefix (sd-daemon levels) as the line's PRIORITY, so
``journalctl -u keybridge -p warning`` shows only what needs a technician. The prefix is
written only where stderr is the journal (systemd's ``JOURNAL_STREAM`` names it); on a
terminal or in a file the level is a word: ``warning retained command refused``. Context comes from
``extra={"ctx": {...}}``. Secrets never reach a log call: payloads are never logged, and the
context filter drops any field whose name says it is secret, as a second line of defence.
"""

import io
import logging
import os
import sys
import unicodedata
from typing import Any

PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
            logging.CRITICAL: 2}
SECRET_WORDS = frozenset(("pin", "secret", "password", "token", "hex", "data", "binary"))
"""A context field is dropped when one of the words of its name (split at _) is one of these:
``pin`` and ``guest_pin`` go, ``ping_ms`` and ``mapping`` stay."""


def priority(level: int) -> int:
    for threshold in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if level >= threshold:
            return PRIORITY[threshold]
    return PRIORITY[logging.DEBUG]


HIDDEN = ("Cc", "Cf", "Zl", "Zp")
"""Control, format and line-separator characters: a line break would split one event in two,
an escape sequence would drive a technician's terminal, a U+202E right-to-left override
would show a PMS's id backwards."""


def escape(text: str) -> str:
    """``text`` with every hidden character written as an escape: everything logged passes
    here, the message and each context value."""
    if not any(unicodedata.category(char) in HIDDEN for char in text):
        return text
    return "".join(_escaped(char) if unicodedata.category(char) in HIDDEN else char
                   for char in text)


def _escaped(char: str) -> str:
    if char == "\n":
        return "\\n"
    return "\\x%02x" % ord(char) if ord(char) < 256 else "\\u%04x" % ord(char)


def _field(value: Any) -> str:
    text = str(value)
    if not text or any(char in text for char in ' "=\\') or escape(text) != text:
        text = '"%s"' % escape(text.replace("\\", "\\\\").replace('"', '\\"'))
    return text


def context_text(ctx: dict[str, Any]) -> str:
    return " ".join("%s=%s" % (name, _field(value)) for name, value in ctx.items()
                    if value is not None and not SECRET_WORDS & set(name.lower().split("_")))


class JournalFormatter(logging.Formatter):
    """``<priority>message key=value...``, plus a traceback on following lines."""

    def __init__(self, prefix: bool = True) -> None:
        super().__init__()
        self.prefix = prefix  # False: the level as a word, for a person at a terminal

    def format(self, record: logging.LogRecord) -> str:
        # A message's own lines stay lines (each gets the prefix below); nothing else hidden.
        text = "\n".join(escape(line) for line in record.getMessage().split("\n"))
        ctx = getattr(record, "ctx", None)
        if ctx:
            text = "%s %s" % (text, context_text(ctx))
        if record.exc_info:
            text = "%s\n%s" % (text, self.formatException(record.exc_info))
        if self.prefix:
            level = priority(record.levelno)
            return "\n".join("<%d>%s" % (level, line) for line in text.splitlines())
        return "%s %s" % (record.levelname.lower(), text)


def to_journal(stream: Any) -> bool:
    """Whether ``stream`` is systemd's journal: ``JOURNAL_STREAM`` is its device:inode."""
    try:
        device, inode = (int(part) for part in os.environ["JOURNAL_STREAM"].split(":"))
        found = os.fstat(stream.fileno())
    except (KeyError, ValueError, OSError, AttributeError, io.UnsupportedOperation):
        return False
    return (found.st_dev, found.st_ino) == (device, inode)


def setup(level: str = "info", stream: Any = None, journal: bool | None = None) -> None:
    """Log to stderr at ``level``, with priority prefixes if it is the journal (``journal``
    None: find out); paho and the HTTP client only from warnings."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JournalFormatter(to_journal(stream) if journal is None else journal))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("keybridge.paho").setLevel(logging.WARNING)
    # httpx2 logs every request line at INFO: a KS saga is a dozen lines per PIN.
    for chatty in ("httpx2", "httpcore2", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
