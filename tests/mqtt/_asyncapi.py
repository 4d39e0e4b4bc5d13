"""The MQTT contract v1 as the tests see it: docs/asyncapi.yaml, loaded once.

::

    from _asyncapi import CONTRACT, validate_command, validate_published

    validate_published("reply/booking", reply)      # anything the appliance publishes
    validate_published("event/key_issued", event)
    validate_published("status", status)
    validate_command("encode_card", payload)         # what a PMS sends to cmd/encode_card

A topic suffix is the part of the topic after ``{prefix}/{site}/``. A violation raises
``AssertionError`` naming the topic and, for every error jsonschema found, the JSON path
of the offending field and jsonschema's message. ``date-time`` and ``uuid`` formats are
checked (formats are only annotations in draft 2020-12 unless a checker asserts them).
"""

import re
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

PATH = Path(__file__).parents[2] / "docs/asyncapi.yaml"
ROOT = "{prefix}/{site}/"
_URI = "urn:keybridge:asyncapi"


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves timestamps as strings: JSON has no datetime type."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load(path: Path = PATH) -> dict[str, Any]:
    """The AsyncAPI document as JSON-compatible data."""
    with path.open(encoding="utf-8") as f:
        document: dict[str, Any] = yaml.load(f, Loader=_Loader)
    return document


CONTRACT: dict[str, Any] = load()


def _date_time(instance: object) -> bool:
    """RFC 3339 date-time; the contract also demands an explicit offset."""
    if not isinstance(instance, str):
        return True
    if len(instance) < 20 or instance[10] not in "Tt":
        return False
    parsed = datetime.fromisoformat(instance.replace("z", "Z"))  # ValueError: not a date-time
    return parsed.tzinfo is not None


FORMATS = FormatChecker()
if "date-time" not in FORMATS.checkers:  # jsonschema checks it only with rfc3339-validator
    FORMATS.checks("date-time", raises=ValueError)(_date_time)

_REGISTRY: Registry = Registry().with_resource(
    _URI, Resource.from_contents(CONTRACT, default_specification=DRAFT202012)
)


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def resolve(ref: str, document: dict[str, Any] = CONTRACT) -> Any:
    """The object a local ``$ref`` (``#/components/...``) points to; KeyError if none.

    References met on the way (``#/channels/x/messages/y/payload`` where ``y`` is itself a
    reference to ``#/components/messages/...``) are followed, as AsyncAPI tools do.
    """
    if not ref.startswith("#/"):
        raise KeyError("not a local reference: %r" % ref)
    node: Any = _follow(document, document)
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = _follow(node[int(part)] if isinstance(node, list) else node[part], document)
    return node


def _follow(node: Any, document: dict[str, Any]) -> Any:
    if isinstance(node, dict) and set(node) == {"$ref"}:
        return resolve(node["$ref"], document)  # a reference loop ends in RecursionError
    return node


class Channel:
    """One channel of the document, seen from the root ``{prefix}/{site}/``."""

    def __init__(self, key: str, channel: dict[str, Any], actions: set[str]) -> None:
        self.key = key
        self.address: str = channel["address"]
        self.suffix: str = self.address.removeprefix(ROOT)
        self.actions = actions
        self.parameters: list[str] = re.findall(r"\{(\w+)\}", self.suffix)
        pattern = re.escape(self.suffix)
        for name in self.parameters:
            pattern = pattern.replace(re.escape("{%s}" % name), "(?P<%s>[^/#+]+)" % name)
        self._regex = re.compile(pattern + r"\Z")
        # message key -> JSON pointer of its payload schema
        self.payloads: dict[str, str] = {}
        for name, message in channel.get("messages", {}).items():
            inline = "#/channels/%s/messages/%s" % (_escape(key), _escape(name))
            base = message.get("$ref") or inline
            self.payloads[name] = base + "/payload"

    def matches(self, suffix: str) -> bool:
        return self._regex.match(suffix) is not None

    def topic_for(self, payload: dict[str, Any]) -> str:
        """A concrete topic suffix for a payload: parameters filled from its fields."""
        suffix = self.suffix
        for name in self.parameters:
            suffix = suffix.replace("{%s}" % name, str(payload[name]))
        return suffix


def _channels() -> list[Channel]:
    actions: dict[str, set[str]] = {}
    for operation in CONTRACT.get("operations", {}).values():
        key = operation["channel"]["$ref"].removeprefix("#/channels/")
        actions.setdefault(key, set()).add(operation["action"])
    found = [
        Channel(key, channel, actions.get(key, set()))
        for key, channel in CONTRACT["channels"].items()
        if channel["address"].startswith(ROOT)
    ]
    # Concrete topics first: reply/booking wins over reply/{command}.
    return sorted(found, key=lambda channel: len(channel.parameters))


CHANNELS: list[Channel] = _channels()
COMMANDS: tuple[str, ...] = tuple(
    c.suffix.removeprefix("cmd/") for c in CHANNELS if "receive" in c.actions and not c.parameters
)
EVENT_TYPES: tuple[str, ...] = tuple(
    c.suffix.removeprefix("event/") for c in CHANNELS if c.suffix.startswith("event/")
)


def channel_for(suffix: str, action: str) -> Channel:
    """The channel whose address matches the topic suffix, for an operation's action."""
    for channel in CHANNELS:
        if action in channel.actions and channel.matches(suffix):
            return channel
    raise AssertionError(
        "%s: no channel in %s where the appliance does %r" % (suffix, PATH.name, action)
    )


@cache
def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": _URI + pointer}, registry=_REGISTRY, format_checker=FORMATS
    )


def _describe(error: ValidationError, indent: str = "  ") -> list[str]:
    lines = ["%s%s: %s" % (indent, error.json_path, error.message)]
    for sub in sorted(error.context or (), key=lambda e: list(e.absolute_path)):
        lines.extend(_describe(sub, indent + "  "))
    return lines


def errors(pointer: str, payload: object) -> list[str]:
    """Every violation of the schema at ``pointer`` (a ``#/...`` JSON pointer), described."""
    found = sorted(_validator(pointer).iter_errors(payload), key=lambda e: list(e.absolute_path))
    return [line for error in found for line in _describe(error)]


def _validate(channel: Channel, topic: str, payload: object) -> None:
    problems: list[str] = []
    for name, pointer in channel.payloads.items():
        found = errors(pointer, payload)
        if not found:
            return
        if len(channel.payloads) > 1:
            problems.append("  as message %r:" % name)
            found = ["  " + line for line in found]
        problems.extend(found)
    raise AssertionError(
        "%s: payload violates %s (channel %s)\n%s\npayload: %r"
        % (topic, PATH.name, channel.key, "\n".join(problems), payload)
    )


def validate_published(topic_suffix: str, payload: dict[str, Any]) -> None:
    """Check a message the appliance published on ``{prefix}/{site}/<topic_suffix>``."""
    _validate(channel_for(topic_suffix, "send"), topic_suffix, payload)


def validate_command(command: str, payload: dict[str, Any]) -> None:
    """Check a command payload a PMS would publish on ``{prefix}/{site}/cmd/<command>``."""
    suffix = "cmd/" + command
    channel = channel_for(suffix, "receive")
    if channel.parameters:
        raise AssertionError("%s: %r is not a command of the contract" % (suffix, command))
    _validate(channel, suffix, payload)


def examples() -> Iterator[tuple[str, Any, bool]]:
    """(topic_suffix, payload, is_command) for every example of every message in the document."""
    for channel in CHANNELS:
        is_command = "receive" in channel.actions
        for pointer in channel.payloads.values():
            message = resolve(pointer.removesuffix("/payload"))
            for example in message.get("examples", ()):
                payload = example["payload"]
                yield channel.topic_for(payload), payload, is_command
