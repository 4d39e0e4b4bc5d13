"""A small declarative schema for TOML tables: typed keys, defaults, checks, and errors a
technician can act on ("keybridge.toml: [mqtt] port: must be a whole number from 1 to 65535,
not 'abc'; e.g. port = 8883").

Why not pydantic: its Rust core has no wheels for 32-bit Pi OS, and its messages speak to
programmers; these speak to whoever is holding the config file.
"""

import difflib
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], str | None]
"""Returns what is wrong with a value (already of the right type), or None."""


class Key:
    """One key of a table: its kind, default (None: required), a check and an example."""

    def __init__(self, kind: type | tuple[type, ...], default: Any = None, *,
                 check: Check | None = None, example: str = "", secret_file: bool = False,
                 required: bool = False) -> None:
        self.kind = kind
        self.default = default
        self.check = check
        self.example = example
        self.secret_file = secret_file
        self.required = required


_WORDS = {str: "a string in quotes", int: "a whole number", float: "a number",
          bool: "true or false", list: "a list such as [\"a\", \"b\"]", dict: "a table"}


class Problems:
    """Collects every problem of a file, so the technician fixes them in one pass."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append("%s: %s: %s" % (self.source, where, message))


def read_table(table: Any, keys: dict[str, Key], where: str, problems: Problems,
               inline_secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """Values for ``keys`` from ``table``; every problem goes to ``problems``."""
    if not isinstance(table, dict):
        problems.add(where, "must be a table ([%s])" % where.strip("[]"))
        return {name: key.default for name, key in keys.items()}
    values: dict[str, Any] = {}
    for name in table:
        if name in keys:
            continue
        if name in inline_secrets:
            problems.add("%s %s" % (where, name),
                         "secrets never go in the TOML file; write it to a file readable only "
                         "by keybridge (chmod 600) and set %s_file = \"/path\"" % name)
        else:
            problems.add("%s %s" % (where, name), "unknown key%s" % _suggest(name, keys))
    for name, key in keys.items():
        values[name] = _value(table, name, key, "%s %s" % (where, name), problems)
    return values


def _value(table: dict[str, Any], name: str, key: Key, where: str, problems: Problems) -> Any:
    if name not in table:
        if key.required:
            problems.add(where, "is required%s" % _example(name, key))
        return key.default
    value = table[name]
    kinds = key.kind if isinstance(key.kind, tuple) else (key.kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        words = " or ".join(_WORDS.get(kind, kind.__name__) for kind in kinds)
        problems.add(where, "must be %s, not %r%s" % (words, value, _example(name, key)))
        return key.default
    wrong = key.check(value) if key.check is not None else None
    if wrong is not None:
        problems.add(where, "%s, not %r%s" % (wrong, value, _example(name, key)))
        return key.default
    return value


def _example(name: str, key: Key) -> str:
    return "; e.g. %s = %s" % (name, key.example) if key.example else ""


def _suggest(name: str, keys: dict[str, Key]) -> str:
    close = difflib.get_close_matches(name, keys, n=1)
    if close:
        return "; did you mean %s?" % close[0]
    return "; the keys here are %s" % ", ".join(keys)


# Checks: each returns the problem, or None.

def between(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else "must be from %s to %s" % (low, high)
    return check


def positive(value: Any) -> str | None:
    return None if value > 0 else "must be above 0"


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if value in choices:
            return None
        return "must be one of %s" % ", ".join('"%s"' % choice for choice in choices)
    return check


def non_empty(value: Any) -> str | None:
    return None if value else "must not be empty"


def strings(value: Any) -> str | None:
    if all(isinstance(item, str) and item for item in value):
        return None
    return "must list non-empty strings"


TOPIC_WORD_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
"""What every broker takes in a topic level: NATS refuses "." and spaces, RabbitMQ turns "."
into "/", and wildcards and "/" are never part of one level."""


def topic_word(value: Any) -> str | None:
    """A single MQTT topic level that every broker accepts as it is."""
    if value and set(value) <= TOPIC_WORD_CHARACTERS:
        return None
    wrong = sorted(set(str(value)) - TOPIC_WORD_CHARACTERS)
    return ("must be letters, digits, - and _ only (one MQTT topic level every broker takes "
            "as it is: no %s), e.g. camping-de-vliet" % (
                " ".join(repr(char) for char in wrong) if wrong else "empty value"))
