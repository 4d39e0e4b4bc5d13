"""docs/asyncapi.yaml: a sound AsyncAPI 3.0 document that says what docs/mqtt-contract.md says.

The document is what every MQTT test validates the appliance's messages against, so it is
checked here first: its structure, its references, its examples, that it refuses the
mistakes it exists to catch, and that it covers every topic the contract page names.
"""

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from _asyncapi import (
    CHANNELS,
    COMMANDS,
    CONTRACT,
    EVENT_TYPES,
    FORMATS,
    PATH,
    channel_for,
    examples,
    resolve,
    validate_command,
    validate_published,
)

PAGE = Path(__file__).parents[2] / "docs/mqtt-contract.md"


def _refs(node: object, where: str = "#") -> Iterator[tuple[str, str]]:
    """(location, $ref) for every reference in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield where, value
            else:
                yield from _refs(value, "%s/%s" % (where, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _refs(value, "%s/%d" % (where, index))


def _example(component: str, index: int = 0) -> dict[str, Any]:
    """A deep copy of one example payload of ``components/messages/<component>``."""
    payload: dict[str, Any] = CONTRACT["components"]["messages"][component]["examples"][index][
        "payload"
    ]
    return copy.deepcopy(payload)


def _page_section(title: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), text, re.M | re.S)
    assert match, "%s has no section %r" % (PAGE.name, title)
    return match.group(1)


def _first_cells(section: str) -> list[str]:
    """The backticked first cell of every table row of a section."""
    return re.findall(r"^\| `([^`]+)` \|", section, re.M)


# ---------------------------------------------------------------- structure


def test_the_document_is_asyncapi_3_0_0() -> None:
    assert CONTRACT["asyncapi"] == "3.0.0"
    assert CONTRACT["defaultContentType"] == "application/json"
    assert {"title", "version"} <= CONTRACT["info"].keys()
    for key in ("servers", "channels", "operations", "components"):
        assert isinstance(CONTRACT[key], dict) and CONTRACT[key], key
    # AsyncAPI 2 leftovers that 3.0 no longer has.
    for channel in CONTRACT["channels"].values():
        assert not {"publish", "subscribe"} & channel.keys()
    assert {o["action"] for o in CONTRACT["operations"].values()} == {"send", "receive"}


def test_yaml_has_no_implicit_timestamps_or_numbers_where_json_has_strings() -> None:
    # A plain YAML 1.1 loader (as a PMS integrator would use) reads the same data as ours.
    with PATH.open(encoding="utf-8") as f:
        assert yaml.safe_load(f) == CONTRACT


def test_every_ref_resolves_inside_the_document() -> None:
    refs = list(_refs(CONTRACT))
    assert len(refs) > 100
    for where, ref in refs:
        assert ref.startswith("#/"), "%s: %s is not a local reference" % (where, ref)
        try:
            resolve(ref)
        except (KeyError, IndexError, ValueError, RecursionError):
            pytest.fail("%s: $ref %s does not resolve" % (where, ref))


def test_every_operation_uses_an_existing_channel_and_its_messages() -> None:
    for name, operation in CONTRACT["operations"].items():
        channel_ref = operation["channel"]["$ref"]
        assert re.fullmatch(r"#/channels/\w+", channel_ref), name
        assert isinstance(resolve(channel_ref), dict), name
        assert operation["messages"], name
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), (name, message)
            assert "payload" in resolve(message["$ref"]), (name, message)
        reply = operation.get("reply")
        if reply is not None:
            assert operation["action"] == "receive", name
            reply_ref = reply["channel"]["$ref"]
            resolve(reply_ref)
            for message in reply["messages"]:
                assert message["$ref"].startswith(reply_ref + "/messages/"), (name, message)


def test_every_channel_message_exists_and_every_component_message_is_used() -> None:
    used = set()
    for key, channel in CONTRACT["channels"].items():
        assert channel["messages"], key
        for name, message in channel["messages"].items():
            ref = message["$ref"]
            assert ref.startswith("#/components/messages/"), (key, name)
            assert "payload" in resolve(ref), (key, name)
            used.add(ref.removeprefix("#/components/messages/"))
    assert used == CONTRACT["components"]["messages"].keys()


def test_every_channel_is_used_by_an_operation() -> None:
    operations = CONTRACT["operations"].values()
    used = {operation["channel"]["$ref"].removeprefix("#/channels/") for operation in operations}
    assert used == CONTRACT["channels"].keys()


def test_channel_parameters_match_the_address() -> None:
    for key, channel in CONTRACT["channels"].items():
        address = channel["address"]
        assert address.startswith("{prefix}/{site}/"), key
        assert set(re.findall(r"\{(\w+)\}", address)) == channel["parameters"].keys(), key
        for parameter in channel["parameters"].values():
            assert "description" in resolve(parameter["$ref"]), key
    assert resolve("#/components/parameters/prefix")["default"] == "keybridge"


def test_server_binding_declares_client_id_session_will_and_keepalive() -> None:
    (server,) = CONTRACT["servers"].values()
    assert server["protocol"] == "mqtt"
    binding = resolve(server["bindings"]["$ref"])["mqtt"]
    assert binding["bindingVersion"] == "0.2.0"
    assert binding["clientId"] == "keybridge-{site}"
    assert binding["cleanSession"] is False
    assert isinstance(binding["keepAlive"], int) and binding["keepAlive"] > 0
    will = binding["lastWill"]
    assert will == {
        "topic": "{prefix}/{site}/status",
        "qos": 1,
        "message": '{"state":"offline"}',
        "retain": True,
    }
    assert will["topic"] == CONTRACT["channels"]["status"]["address"]
    validate_published("status", json.loads(will["message"]))


def _operation_binding(operation: dict[str, Any]) -> dict[str, Any]:
    binding: dict[str, Any] = resolve(operation["bindings"]["$ref"])["mqtt"]
    return binding


def test_operation_bindings_qos_1_and_only_the_status_retained() -> None:
    for name, operation in CONTRACT["operations"].items():
        binding = _operation_binding(operation)
        assert binding["qos"] == 1, name
        assert binding["bindingVersion"] == "0.2.0", name
        is_status = operation["channel"]["$ref"] == "#/channels/status"
        assert binding["retain"] is is_status, name


def test_mqtt5_response_topic_and_correlation_data_bindings() -> None:
    for channel in CHANNELS:
        for pointer in channel.payloads.values():
            message = resolve(pointer.removesuffix("/payload"))
            binding = resolve(message["bindings"]["$ref"])["mqtt"] if "bindings" in message else {}
            if channel.suffix.startswith("cmd/"):
                assert {"responseTopic", "correlationData"} <= binding.keys(), channel.key
            elif channel.suffix.startswith("reply/"):
                assert "correlationData" in binding, channel.key
            else:
                assert not binding, channel.key


# ---------------------------------------------------------------- coverage of the contract page


def test_every_command_of_the_contract_page_has_command_and_reply_channels() -> None:
    cells = _first_cells(_page_section("Commands (PMS → appliance)"))
    page = [cell.removeprefix("cmd/") for cell in cells]
    assert len(page) == 8
    assert set(COMMANDS) == set(page)
    for command in page:
        assert channel_for("cmd/" + command, "receive").suffix == "cmd/" + command
        assert channel_for("reply/" + command, "send").suffix == "reply/" + command


def test_every_event_type_of_the_contract_page_has_a_channel() -> None:
    page = _first_cells(_page_section("Events (appliance → PMS)"))
    assert len(page) == 10
    assert set(EVENT_TYPES) == set(page)
    for event_type in page:
        assert channel_for("event/" + event_type, "send").suffix == "event/" + event_type


def test_every_error_code_of_the_contract_page_is_in_the_enum() -> None:
    section = _page_section("Replies (appliance → PMS)")
    paragraph = section[section.index("Error codes of the bridge") :].split("\n\n")[0]
    page = re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", paragraph))
    assert {"bad_json", "bad_request", "outcome_unknown", "no_key"} <= set(page)
    enum = resolve("#/components/schemas/ErrorCode")["enum"]
    assert set(page) <= set(enum)
    assert len(enum) == len(set(enum))


def test_the_status_channel_is_published() -> None:
    assert channel_for("status", "send").key == "status"


def test_unknown_commands_are_replied_on_the_generic_reply_channel() -> None:
    assert channel_for("reply/booking", "send").key == "replyBooking"
    assert channel_for("reply/unlock_door", "send").key == "replyUnknownCommand"
    reply = _example("replyUnknownCommand")
    validate_published("reply/unlock_door", reply)
    with pytest.raises(AssertionError, match="command"):
        validate_published("reply/booking", reply)


def test_validate_command_knows_only_the_contract_commands() -> None:
    with pytest.raises(AssertionError, match="unlock_door"):
        validate_command("unlock_door", {"request_id": "r-1"})
    with pytest.raises(AssertionError, match="no channel"):
        validate_published("cmd/booking", _example("cmdBooking"))


# ---------------------------------------------------------------- examples


def test_every_message_has_an_example() -> None:
    for name, message in CONTRACT["components"]["messages"].items():
        assert message.get("examples"), name
        for example in message["examples"]:
            assert isinstance(example["payload"], dict), name


EXAMPLES = list(examples())


def test_examples_cover_every_channel() -> None:
    covered = {channel_for(topic, "receive" if cmd else "send").key for topic, _, cmd in EXAMPLES}
    assert covered == {channel.key for channel in CHANNELS}


@pytest.mark.parametrize(
    ("topic", "payload", "is_command"),
    EXAMPLES,
    ids=["%s-%d" % (topic, i) for i, (topic, _, _) in enumerate(EXAMPLES)],
)
def test_example_validates(topic: str, payload: dict[str, Any], is_command: bool) -> None:
    if is_command:
        validate_command(topic.removeprefix("cmd/"), payload)
    else:
        validate_published(topic, payload)


def test_examples_use_instants_with_offsets() -> None:
    instant = re.compile(r"^\d{4}-\d{2}-\d{2}T")

    def strings(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)
        elif isinstance(node, str):
            yield node

    seen = 0
    for _, payload, _ in EXAMPLES:
        for text in strings(payload):
            if instant.match(text):
                seen += 1
                assert text.startswith("2027-") and re.search(r"(\+0[12]:00|Z)$", text), text
    assert seen > 40


# ---------------------------------------------------------------- refusals


def _booking(**changes: object) -> dict[str, Any]:
    payload = _example("cmdBooking")
    payload["booking"].update(changes)
    return payload


def _without(payload: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in keys}


def _with(payload: dict[str, Any], **changes: object) -> dict[str, Any]:
    return {**payload, **changes}


COMMAND_REFUSALS = [
    ("missing request_id", "booking", _without(_example("cmdBooking"), "request_id"),
     "'request_id' is a required property"),
    ("empty request_id", "read_card", _with(_example("cmdReadCard"), request_id=""),
     "$.request_id"),
    ("request_id too long", "read_card", _with(_example("cmdReadCard"), request_id="r" * 129),
     "$.request_id"),
    ("booking status DONE", "booking", _booking(status="DONE"), "$.booking.status"),
    ("departure without offset", "booking", _booking(departure="2027-07-17T10:00:00"),
     "$.booking.departure"),
    ("arrival as a date", "booking", _booking(arrival="2027-07-10"), "$.booking.arrival"),
    ("arrival on 30 February", "booking", _booking(arrival="2027-02-30T14:00:00+01:00"),
     "$.booking.arrival"),
    ("negative revision", "booking", _booking(revision=-1), "$.booking.revision"),
    ("revision as a string", "booking", _booking(revision="3"), "$.booking.revision"),
    ("no units", "booking", _booking(units=[]), "$.booking.units"),
    ("count 11", "encode_card", _with(_example("cmdEncodeCard"), count=11), "$.count"),
    ("count 0", "encode_card", _with(_example("cmdEncodeCard"), count=0), "$.count"),
    ("copy as a string", "encode_card", _with(_example("cmdEncodeCard"), copy="false"), "$.copy"),
    ("both booking and owner key", "delete_keys",
     _with(_example("cmdDeleteKeys"), owner_key_id="OK-CH-07"), "is valid under each of"),
    ("neither booking nor owner key", "encode_card",
     _without(_example("cmdEncodeCard"), "booking_id"), "'owner_key_id' is a required property"),
    ("four print_info lines", "owner_key",
     {"request_id": "r-1", "owner_key": {**_example("cmdOwnerKey")["owner_key"],
                                         "print_info": ["a", "b", "c", "d"]}},
     "$.owner_key.print_info"),
    ("backend everything", "test_connection", _with(_example("cmdTestConnection"), backend="both"),
     "$.backend"),
    ("repair as a number", "reconcile", _with(_example("cmdReconcile"), repair=1), "$.repair"),
]


@pytest.mark.parametrize(
    ("command", "payload", "mentions"),
    [case[1:] for case in COMMAND_REFUSALS],
    ids=[case[0] for case in COMMAND_REFUSALS],
)
def test_wrong_command_is_refused(command: str, payload: dict[str, Any], mentions: str) -> None:
    with pytest.raises(AssertionError) as refused:
        validate_command(command, payload)
    assert mentions in str(refused.value)
    assert str(refused.value).startswith("cmd/%s:" % command)


def _reply(**changes: object) -> dict[str, Any]:
    return _with(_example("replyBooking"), **changes)


def _error_reply(**changes: object) -> dict[str, Any]:
    return _with(_example("replyBooking", 2), **changes)


def _event(**changes: object) -> dict[str, Any]:
    return _with(_example("eventKeyIssued"), **changes)


PUBLISHED_REFUSALS = [
    ("reply status maybe", "reply/booking", _reply(status="maybe"), "$.status"),
    ("reply without replied_at", "reply/booking", _without(_reply(), "replied_at"),
     "'replied_at' is a required property"),
    ("reply without request_id", "reply/booking", _without(_reply(), "request_id"),
     "'request_id' is a required property"),
    ("reply for another command", "reply/booking", _reply(command="encode_card"), "$.command"),
    ("accepted with an error", "reply/booking",
     _reply(error={"code": "bad_request", "message": "m", "field": None}), "$.error"),
    ("error without an error", "reply/booking", _error_reply(error=None), "$.error"),
    ("unknown error code", "reply/booking",
     _error_reply(error={"code": "oops", "message": "m", "field": None}), "$.error.code"),
    ("error without field", "reply/booking",
     _error_reply(error={"code": "bad_request", "message": "m"}), "'field' is a required property"),
    ("accepted without request_id", "reply/booking", _reply(request_id=None), "$.status"),
    ("data as a list", "reply/booking", _reply(data=[]), "$.data"),
    ("replied_at without offset", "reply/booking", _reply(replied_at="2027-07-01T12:00:03"),
     "$.replied_at"),
    ("event without event_id", "event/key_issued", _without(_event(), "event_id"),
     "'event_id' is a required property"),
    ("event_id not a uuid", "event/key_issued", _event(event_id="evt-1"), "$.event_id"),
    ("event of another type", "event/key_issued", _event(type="key_revoked"), "$.type"),
    ("event without occurred_at", "event/key_issued", _without(_event(), "occurred_at"),
     "'occurred_at' is a required property"),
    ("key without booking or owner key", "event/key_issued", _without(_event(), "booking_id"),
     "'booking_id' is a required property"),
    ("backend salto", "event/key_issued", _event(backend="salto"), "$.backend"),
    ("pin as a number", "event/key_issued", _event(pin=483920), "$.pin"),
    ("key_failed without will_retry", "event/key_failed",
     _without(_example("eventKeyFailed"), "will_retry"), "'will_retry' is a required property"),
    ("door_event without booking_id", "event/door_event",
     _without(_example("eventDoorEvent"), "booking_id"), "'booking_id' is a required property"),
    ("card_read booking_id empty", "event/card_read",
     _with(_example("eventCardRead"), booking_id=""), "$.booking_id"),
    ("card_encoded count 11", "event/card_encoded", _with(_example("eventCardEncoded"), count=11),
     "$.count"),
    ("command_rejected without request_id", "event/command_rejected",
     _without(_example("eventCommandRejected"), "request_id"),
     "'request_id' is a required property"),
    ("status gone", "status", {"state": "gone"}, "$.state"),
    ("status without queues", "status", _without(_example("statusOnline"), "queues"),
     "'queues' is a required property"),
    ("status negative queue", "status",
     _with(_example("statusOnline"), queues={"jobs": -1, "outbox": 0}), "$.queues.jobs"),
    ("unknown command replied ok", "reply/unlock_door",
     _with(_example("replyUnknownCommand"), status="ok", error=None), "$.status"),
]


@pytest.mark.parametrize(
    ("topic", "payload", "mentions"),
    [case[1:] for case in PUBLISHED_REFUSALS],
    ids=[case[0] for case in PUBLISHED_REFUSALS],
)
def test_wrong_published_message_is_refused(
    topic: str, payload: dict[str, Any], mentions: str
) -> None:
    with pytest.raises(AssertionError) as refused:
        validate_published(topic, payload)
    assert mentions in str(refused.value)
    assert str(refused.value).startswith(topic + ":")


@pytest.mark.parametrize(
    ("instant", "valid"),
    [
        ("2027-07-10T14:00:00+02:00", True),
        ("2027-07-10T12:00:00Z", True),
        ("2027-07-10T12:00:00.250+00:00", True),
        ("2027-07-10T14:00:00", False),
        ("2027-07-10 14:00:00+02:00", False),
        ("2027-13-10T14:00:00+02:00", False),
        ("10/07/2027 14:00", False),
    ],
)
def test_date_time_format_demands_an_offset(instant: str, valid: bool) -> None:
    assert FORMATS.conforms(instant, "date-time") is valid


def test_uuid_format_is_checked() -> None:
    assert FORMATS.conforms("3f1c2a9e-8d4b-4f6a-9c1e-2b7d5e8a0f13", "uuid")
    assert not FORMATS.conforms("3f1c2a9e8d4b4f6a9c1e2b7d5e8a0f13", "uuid")
