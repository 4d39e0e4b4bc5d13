"""The engine as the PMS integrator sees it through the outbox: commands in, replies, keys and
jobs out, all durable. No MQTT: Engine.submit is called as the bridge calls it."""

import asyncio
import datetime
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from appliance.config import Config
from appliance.engine.backend import Outcome
from appliance.engine.engine import Engine
from appliance.engine.jobs import JobRunner
from appliance.engine.replies import ReplyTo
from appliance.registry import parse_config as parse
from appliance.space.backend import SpaceBackend
from appliance.store import Job
from appliance.store.db import Store
from appliance.store.secrets import Keyring, create_key_file

ROOT = "keybridge/vliet"
# A stay a month from now, so the tests do not expire with the calendar.
_SOON = datetime.date.today() + datetime.timedelta(days=30)
ARRIVAL = "%sT14:00:00+02:00" % _SOON
DEPARTURE = "%sT10:00:00+02:00" % (_SOON + datetime.timedelta(days=4))
LATER = "%sT10:00:00+02:00" % (_SOON + datetime.timedelta(days=5))
CONTRACT_CODES = {"bad_json", "bad_request", "unknown_command", "unknown_booking",
                  "unknown_owner_key", "unknown_encoder", "backend_not_configured",
                  "backend_unavailable", "backend_refused", "outcome_unknown",
                  "no_key", "request_id_conflict", "internal_error"}


def make_config(folder: str) -> Config:
    return parse({
        "site": {"id": "vliet", "timezone": "Europe/Amsterdam"},
        "store": {"path": os.path.join(folder, "kb.db"),
                  "key_file": os.path.join(folder, "secret.keys")},
        "space": {"server": "127.0.0.1:9"},
        "encoders": [{"id": "desk-1", "name": "Online Encoder 1"}],
        "units": {"P12": "Pitch 12", "C3": "Chalet 3"},
    }, os.path.join(folder, "keybridge.toml"))


class Site:
    """A store, an engine and a job runner on one folder, and the outbox read back."""

    def __init__(self, folder: str) -> None:
        self.config = make_config(folder)
        create_key_file(self.config.store.key_file)
        self.open()
        self.seen = 0

    def open(self) -> None:
        self.store = Store(self.config.store.path, Keyring(self.config.store.key_file))
        self.backends = {"space": SpaceBackend(self.config)}  # constructed, never started
        self.engine = Engine(self.config, self.store, self.backends)
        self.runner = JobRunner(self.store, self.config.root, self.backends,
                                retry_min_s=1, retry_max_s=10)

    def restart(self) -> None:
        self.store.close()
        self.open()

    def send(self, command: str, payload: Any, *, retained: bool = False,
             reply_to: ReplyTo | None = None) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.engine.submit(command, raw, retained, reply_to or ReplyTo())

    def new_messages(self) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
        """Outbox rows queued since the last call: (topic, payload, properties)."""
        rows = self.store.read.outbox.pending(self.seen, 1000)
        if rows:
            self.seen = rows[-1].id
        return [(row.topic, json.loads(row.payload), row.properties) for row in rows]

    def reply(self) -> dict[str, Any]:
        """The one message the last command queued: its reply."""
        messages = self.new_messages()
        assert len(messages) == 1, messages
        topic, body, _properties = messages[0]
        assert topic == "%s/reply/%s" % (ROOT, body["command"])
        return body

    def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(row) for row in self.store.query(sql, *args)]

    def key_rows(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM keys ORDER BY created_at")

    def jobs(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM jobs ORDER BY id")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    site = Site(str(tmp_path))
    yield site
    site.store.close()


def booking(request_id: str, revision: int = 1, status: str = "CONFIRMED",
            **fields: Any) -> dict[str, Any]:
    body = {"id": "B1", "revision": revision, "status": status, "arrival": ARRIVAL,
            "departure": DEPARTURE, "units": ["P12"], "guest": {"name": "Anna de Vries"}}
    body.update(fields)
    return {"request_id": request_id, "booking": body}


def confirmed(site: Site, booking_id: str = "B1", **fields: Any) -> dict[str, Any]:
    site.send("booking", booking("confirm-" + booking_id, id=booking_id, **fields))
    reply = site.reply()
    assert reply["status"] == "accepted"
    return reply


def test_a_confirmed_booking_gets_a_key_a_job_and_an_accepted_reply(site: Site) -> None:
    site.send("booking", booking("r-1"))
    reply = site.reply()
    assert reply["request_id"] == "r-1" and reply["status"] == "accepted"
    assert reply["error"] is None
    assert reply["data"] == {"booking_id": "B1", "revision": 1, "stale": False, "jobs": 1,
                             "unknown_units": []}
    [key] = site.key_rows()
    assert (key["backend"], key["booking_id"], key["state"]) == ("space", "B1", "issuing")
    assert json.loads(key["units"]) == ["P12"]
    assert key["valid_from"] == ARRIVAL and key["valid_until"] == DEPARTURE
    [job] = site.jobs()
    assert (job["kind"], job["key_id"], job["state"]) == ("issue_key", key["id"], "pending")
    [stored] = site.rows("SELECT status, revision FROM bookings")
    assert stored == {"status": "CONFIRMED", "revision": 1}


def test_the_same_revision_again_is_stale_and_changes_nothing(site: Site) -> None:
    confirmed(site)
    keys, jobs = site.key_rows(), site.jobs()
    site.send("booking", booking("r-2", revision=1, units=["C3"]))
    reply = site.reply()
    assert reply["status"] == "ok" and reply["data"]["stale"] is True
    assert reply["data"]["current_revision"] == 1
    assert site.key_rows() == keys and site.jobs() == jobs
    site.send("booking", booking("r-3", revision=0, status="CANCELLED"))
    assert site.reply()["data"]["stale"] is True
    assert site.key_rows() == keys and site.jobs() == jobs


def test_a_completed_booking_has_its_key_revoked(site: Site) -> None:
    confirmed(site)
    site.send("booking", booking("r-2", revision=2, status="COMPLETED"))
    reply = site.reply()
    assert reply["status"] == "accepted" and reply["data"]["jobs"] == 1
    [key] = site.key_rows()
    assert key["state"] == "revoking"
    revoke = site.jobs()[-1]
    assert (revoke["kind"], revoke["key_id"]) == ("revoke_key", key["id"])
    assert json.loads(revoke["payload"])["reason"] == "completed"


def test_a_changed_stay_updates_the_key_instead_of_issuing_another(site: Site) -> None:
    confirmed(site)
    site.send("booking", booking("r-2", revision=2, status="CHECKED_IN",
                                 departure=LATER, units=["P12", "C3"]))
    assert site.reply()["data"]["jobs"] == 1
    [key] = site.key_rows()
    assert key["state"] == "issuing" and key["valid_until"] == LATER
    assert json.loads(key["units"]) == ["P12", "C3"]
    assert [job["kind"] for job in site.jobs()] == ["issue_key", "update_key"]


def test_a_repeated_request_id_gets_the_same_reply_and_no_second_effect(site: Site) -> None:
    site.send("booking", booking("r-1"))
    first = site.reply()
    site.send("booking", booking("r-1"))
    assert site.reply() == first
    # Even a changed payload under a used request_id is not carried out again.
    site.send("booking", booking("r-1", revision=5, status="CANCELLED"))
    assert site.reply() == first
    assert len(site.key_rows()) == 1 and len(site.jobs()) == 1
    assert site.key_rows()[0]["state"] == "issuing"


def test_a_request_id_reused_by_another_command_is_a_conflict(site: Site) -> None:
    first = confirmed(site)
    site.send("encode_card", {"request_id": "confirm-B1", "booking_id": "B1",
                              "encoder": "desk-1"})
    reply = site.reply()
    assert reply["command"] == "encode_card" and reply["request_id"] == "confirm-B1"
    assert reply["error"]["code"] == "request_id_conflict"
    assert reply["error"]["field"] == "request_id" and "booking" in reply["error"]["message"]
    assert [job["kind"] for job in site.jobs()] == ["issue_key"]
    # The booking's own repeat still gets the booking's reply.
    site.send("booking", booking("confirm-B1"))
    assert site.reply() == first


@pytest.mark.parametrize(("command", "payload", "field"), [
    ("booking", booking("r-1", arrival="2027-07-01T14:00:00"), "booking.arrival"),
    ("booking", booking("r-1", units=[]), "booking.units"),
    ("booking", booking("r-1", departure=ARRIVAL), "booking.departure"),
    ("booking", booking("r-1", status="BOOKED"), "booking.status"),
    ("booking", booking("r-1", revision=-1), "booking.revision"),
    ("booking", booking("r-1", guest={"name": 7}), "booking.guest.name"),
    ("booking", booking("r-1", guest=[]), "booking.guest"),
    ("booking", booking("r-1", units=["P" * 1_048_576]), "booking.units"),
    ("booking", booking("r-1", units=["P12\x00"]), "booking.units"),
    ("booking", booking("r-1", id="B1\u202egnp.exe"), "booking.id"),
    ("booking", booking("r-1", id="B\n1"), "booking.id"),
    ("booking", {"request_id": "r-1"}, "booking"),
    ("booking", {"request_id": "r-1", "booking": {"revision": 1}}, "booking.id"),
    ("encode_card", {"request_id": "r-1", "booking_id": "B1", "encoder": "desk-1",
                     "count": 11}, "count"),
    ("encode_card", {"request_id": "r-1", "booking_id": "B1", "owner_key_id": "O1",
                     "encoder": "desk-1"}, "booking_id"),
    ("encode_card", {"request_id": "r-1", "booking_id": "B1", "encoder": "desk-1",
                     "copy": "yes"}, "copy"),
    ("send_mobile_key", {"request_id": "r-1", "booking_id": "B1", "phone": "call me"},
     "phone"),
    ("test_connection", {"request_id": "r-1", "backend": "salto"}, "backend"),
])
def test_each_bad_field_gets_an_error_reply_naming_it(
        site: Site, command: str, payload: dict[str, Any], field: str) -> None:
    site.send(command, payload)
    reply = site.reply()
    assert reply["status"] == "error" and reply["request_id"] == "r-1"
    assert reply["error"]["code"] == "bad_request"
    assert reply["error"]["field"] == field
    assert field in reply["error"]["message"]
    assert site.key_rows() == [] and site.jobs() == []


def test_the_error_reply_is_kept_for_a_repeated_request_id(site: Site) -> None:
    site.send("booking", booking("r-1", units=[]))
    first = site.reply()
    site.send("booking", booking("r-1"))
    assert site.reply() == first
    assert site.key_rows() == []


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"{not json", b"[1, 2]", b'"r-1"',
                                 b'{"request_id": ""}', b'{"request_id": 7}',
                                 b'{"request_id": "\\ud800"}', b"[" * 100_000,
                                 b'{"request_id": "r-\\u0000"}',
                                 b'{"request_id": "r-\\u202e1"}'])
def test_an_unusable_payload_gets_an_error_reply_without_request_id(
        site: Site, raw: bytes) -> None:
    site.send("booking", raw)
    reply = site.reply()
    assert reply["status"] == "error" and reply["request_id"] is None
    assert reply["error"]["code"] in ("bad_json", "bad_request")
    assert site.rows("SELECT * FROM inbox") == []


@pytest.mark.parametrize("depth", [33, 500, 950, 980, 990, 995, 999])
def test_a_deeply_nested_payload_is_answered_not_a_crash(site: Site, depth: int) -> None:
    site.send("booking", b'{"request_id": "r-1", "booking": %s%s}' % (b"[" * depth,
                                                                      b"]" * depth))
    reply = site.reply()
    assert reply["status"] == "error" and reply["error"]["code"] == "bad_json"


def test_a_retained_command_is_rejected_and_not_stored(site: Site) -> None:
    site.send("booking", booking("r-1"), retained=True)
    [(topic, body, _properties)] = site.new_messages()
    assert topic == ROOT + "/event/command_rejected"
    assert body["type"] == "command_rejected" and body["request_id"] == "r-1"
    assert body["topic"] == ROOT + "/cmd/booking" and "retain" in body["reason"]
    assert body["event_id"] and body["occurred_at"]
    assert site.rows("SELECT * FROM inbox") == [] and site.key_rows() == []
    # Sent again properly, the same request_id is carried out.
    site.send("booking", booking("r-1"))
    assert site.reply()["status"] == "accepted"


def test_an_unknown_command_is_named_in_the_reply(site: Site) -> None:
    site.send("checkout", {"request_id": "r-1"})
    reply = site.reply()
    assert reply["error"]["code"] == "unknown_command" and "'checkout'" in (
        reply["error"]["message"])


def test_an_mqtt5_response_topic_gets_the_reply_with_its_correlation(site: Site) -> None:
    site.send("booking", booking("r-1"),
              reply_to=ReplyTo("pms/replies/42", correlation=b"\x01\x02"))
    [(topic, body, properties)] = site.new_messages()
    assert topic == "pms/replies/42" and body["request_id"] == "r-1"
    assert properties == {"correlation_hex": "0102"}


def test_encode_card_is_queued_for_a_confirmed_booking(site: Site) -> None:
    confirmed(site)
    site.send("encode_card", {"request_id": "e-1", "booking_id": "B1",
                              "encoder": "Online Encoder 1", "count": 2})
    reply = site.reply()
    assert reply["status"] == "accepted"
    job = site.jobs()[-1]
    assert (job["kind"], job["request_id"], job["key_id"]) == (
        "encode_card", "e-1", site.key_rows()[0]["id"])
    assert json.loads(job["payload"])["count"] == 2


def test_an_unknown_encoder_is_refused(site: Site) -> None:
    confirmed(site)
    site.send("encode_card", {"request_id": "e-1", "booking_id": "B1", "encoder": "desk-9"})
    reply = site.reply()
    assert reply["error"]["code"] == "unknown_encoder" and reply["error"]["field"] == "encoder"
    assert "'desk-9'" in reply["error"]["message"] and "desk-1" in reply["error"]["message"]
    assert [job["kind"] for job in site.jobs()] == ["issue_key"]


def test_encode_card_for_an_unknown_booking_is_refused(site: Site) -> None:
    site.send("encode_card", {"request_id": "e-1", "booking_id": "B404", "encoder": "desk-1"})
    reply = site.reply()
    assert reply["error"]["code"] == "unknown_booking"
    assert reply["error"]["field"] == "booking_id" and "B404" in reply["error"]["message"]
    assert site.jobs() == []


def test_delete_keys_for_an_unknown_owner_key_is_refused(site: Site) -> None:
    site.send("delete_keys", {"request_id": "d-1", "owner_key_id": "O404"})
    reply = site.reply()
    assert reply["error"]["code"] == "unknown_owner_key"
    assert reply["error"]["field"] == "owner_key_id"


def test_a_unit_missing_from_the_unit_map_gets_no_space_key(site: Site) -> None:
    site.send("booking", booking("r-1", units=["TENT-99"]))
    (_topic, failed, _props), (_topic2, reply, _props2) = site.new_messages()
    assert reply["status"] == "accepted" and reply["data"]["jobs"] == 0
    assert reply["data"]["unknown_units"] == ["TENT-99"]
    assert (failed["type"], failed["code"], failed["units"]) == (
        "key_failed", "unknown_unit", ["TENT-99"])
    assert site.key_rows() == [] and site.jobs() == []


def test_encoding_a_card_for_a_booking_without_a_space_key_uses_a_contract_code(
        site: Site) -> None:
    site.send("booking", booking("r-1", units=["TENT-99"]))
    site.new_messages()  # its reply, and key_failed for the unknown unit
    site.send("encode_card", {"request_id": "e-1", "booking_id": "B1", "encoder": "desk-1"})
    reply = site.reply()
    assert reply["status"] == "error" and reply["error"]["field"] == "booking_id"
    assert "[units]" in reply["error"]["message"]
    assert reply["error"]["code"] in CONTRACT_CODES


def test_an_owner_key_gets_a_key_and_delete_keys_revokes_it(site: Site) -> None:
    site.send("owner_key", {"request_id": "o-1", "owner_key": {
        "id": "O1", "key_type": "owner", "units": ["C3"], "valid_from": ARRIVAL,
        "valid_until": LATER}})
    assert site.reply()["status"] == "accepted"
    [key] = site.key_rows()
    assert key["owner_key_id"] == "O1" and key["state"] == "issuing"
    site.send("delete_keys", {"request_id": "d-1", "owner_key_id": "O1"})
    assert site.reply()["data"]["keys"] == 1
    assert site.key_rows()[0]["state"] == "revoking"
    assert site.jobs()[-1]["kind"] == "revoke_key"


def job_claim(store: Store, backend: str, now: float, lease_s: float) -> Job | None:
    with store.transaction() as tx:
        return tx.jobs.claim(backend, now, lease_s)


def _interrupt(site: Site, kind: str) -> int:
    """Claim jobs until ``kind``'s is running with its external call begun; then 'crash'."""
    while True:
        job = job_claim(site.store, "space", time.time() + 1, 120)
        assert job is not None
        if job.kind == kind:  # claimed is started: the external call follows at once
            site.restart()
            return job.id
        with site.store.transaction() as db:
            db.jobs.done(job)


def test_a_card_being_cut_during_a_crash_ends_as_outcome_unknown(site: Site) -> None:
    confirmed(site)
    site.send("encode_card", {"request_id": "e-1", "booking_id": "B1", "encoder": "desk-1"})
    assert site.reply()["status"] == "accepted"
    job_id = _interrupt(site, "encode_card")
    assert asyncio.run(site.runner.recover()) == 1
    [job] = site.rows("SELECT state, last_error FROM jobs WHERE id = ?", job_id)
    assert job["state"] == "failed" and "restarted" in job["last_error"]
    assert "(read the card on the encoder" in job["last_error"]  # the hint, for jobs
    # The desk's final answer, never a second card, and key_failed for the PMS's records.
    (_, reply, _), (topic, failed, _) = site.new_messages()
    assert reply["request_id"] == "e-1" and reply["status"] == "error"
    assert reply["error"]["code"] == "outcome_unknown"
    assert "read the card" in reply["data"]["hint"]
    assert topic.endswith("/event/key_failed")
    assert (failed["operation"], failed["code"], failed["booking_id"], failed["will_retry"]) \
        == ("encode_card", "outcome_unknown", "B1", False)
    # Asking again with the same request_id gets that final answer, not a new card.
    site.send("encode_card", {"request_id": "e-1", "booking_id": "B1", "encoder": "desk-1"})
    assert site.reply()["error"]["code"] == "outcome_unknown"
    assert site.rows("SELECT count(*) AS n FROM jobs WHERE kind = 'encode_card'") == [{"n": 1}]


def test_an_interrupted_revocation_is_simply_tried_again(site: Site) -> None:
    confirmed(site)
    site.send("booking", booking("r-2", revision=2, status="CANCELLED"))
    site.reply()
    job_id = _interrupt(site, "revoke_key")
    assert asyncio.run(site.runner.recover()) == 1
    [job] = site.rows("SELECT state, started, last_error FROM jobs WHERE id = ?", job_id)
    assert job == {"state": "pending", "started": 0, "last_error": "interrupted by a restart"}
    assert site.new_messages() == []
    again = job_claim(site.store, "space", time.time() + 1, 120)
    assert again is not None and again.id == job_id


def test_a_keys_next_job_waits_while_its_job_runs(site: Site) -> None:
    confirmed(site)
    issue = job_claim(site.store, "space", time.time() + 1, 60)
    site.send("booking", booking("done", revision=2, status="COMPLETED"))
    site.new_messages()
    # The check-out's revocation must not overtake the issue still under way.
    assert job_claim(site.store, "space", time.time() + 1, 60) is None
    site.runner.record.succeeded(issue, _key(site), _outcome("issued"))
    revoke = job_claim(site.store, "space", time.time() + 1, 60)
    assert revoke is not None and revoke.kind == "revoke_key"


def test_recover_with_nothing_interrupted_does_nothing(site: Site) -> None:
    confirmed(site)
    assert asyncio.run(site.runner.recover()) == 0
    assert site.jobs()[0]["state"] == "pending"


def reconcile(site: Site, repair: bool, trigger: str) -> Outcome:
    return asyncio.run(site.runner.reconcile(repair, trigger))


def test_reconcile_with_repair_revokes_a_key_past_its_stay(site: Site) -> None:
    confirmed(site, "OLD", arrival="2020-07-01T14:00:00+02:00",
              departure="2020-07-05T10:00:00+02:00")
    confirmed(site, "NEW")
    outcome = reconcile(site, True, "nightly")
    assert outcome.data["discrepancies"] == 1 and outcome.data["repaired"] is True
    states = {key["booking_id"]: key["state"] for key in site.key_rows()}
    assert states == {"OLD": "revoking", "NEW": "issuing"}
    revoke = site.jobs()[-1]
    assert revoke["kind"] == "revoke_key" and json.loads(revoke["payload"])["reason"] == (
        "expired")
    [(topic, report, _properties)] = site.new_messages()
    assert topic == ROOT + "/event/reconcile_report"
    assert report["backend"] == "space" and report["repaired"] is True
    [found] = report["discrepancies"]
    assert found["kind"] == "expired_but_live" and found["booking_id"] == "OLD"
    last = json.loads(site.store.read.meta.get("last_reconciliation") or "null")
    assert last["discrepancies"] == 1 and last["repaired"] is True
    assert datetime.datetime.fromisoformat(last["at"]).tzinfo is not None
    # Once repaired, the next run finds nothing.
    assert reconcile(site, True, "nightly").data["discrepancies"] == 0


def test_reconcile_without_repair_only_reports(site: Site) -> None:
    confirmed(site, "OLD", arrival="2020-07-01T14:00:00+02:00",
              departure="2020-07-05T10:00:00+02:00")
    outcome = reconcile(site, False, "cmd")
    assert outcome.data["discrepancies"] == 1 and outcome.data["repaired"] is False
    assert site.key_rows()[0]["state"] == "issuing" and len(site.jobs()) == 1
    [(_topic, report, _properties)] = site.new_messages()
    assert report["repaired"] is False and len(report["discrepancies"]) == 1


# -- whatever the PMS sends, the engine answers and never raises --------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8)
_IDS = st.one_of(st.sampled_from(["r-1", "r-2"]), st.uuids().map(str),
                 st.sampled_from(["", " ", "x" * 129]), st.text(max_size=4))
_HOLDERS = st.sampled_from(["B1", "B2", "O1"]) | _IDS


@st.composite
def _bookings(draw: st.DrawFn) -> dict[str, Any]:
    """A valid booking with up to two fields replaced by anything JSON."""
    body: dict[str, Any] = {
        "id": draw(st.sampled_from(["B1", "B2"])), "revision": draw(st.integers(0, 3)),
        "status": draw(st.sampled_from(["CONFIRMED", "CHECKED_IN", "COMPLETED", "CANCELLED"])),
        "arrival": ARRIVAL, "departure": DEPARTURE,
        "units": draw(st.lists(st.sampled_from(["P12", "C3", "X"]), min_size=1, max_size=2))}
    fields = ["id", "revision", "status", "arrival", "departure", "units", "guest", "labels",
              "extras", "type", "license_plate"]
    for name in draw(st.lists(st.sampled_from(fields), max_size=2, unique=True)):
        body[name] = draw(_JSON | st.sampled_from(["2027-07-01T14:00:00", "2020-01-01T00:00Z"]))
    return {"request_id": draw(_IDS), "booking": body}


@st.composite
def _desk(draw: st.DrawFn) -> dict[str, Any]:
    """A desk command naming one holder, with up to two fields replaced or added."""
    holder = draw(st.sampled_from(["booking_id", "owner_key_id"]))
    body: dict[str, Any] = {"request_id": draw(_IDS), holder: draw(_HOLDERS),
                            "encoder": "desk-1", "phone": "+31612345678"}
    fields = ["booking_id", "owner_key_id", "encoder", "count", "copy", "phone", "backend",
              "repair", "request_id"]
    for name in draw(st.lists(st.sampled_from(fields), max_size=2, unique=True)):
        body[name] = draw(_JSON | _HOLDERS | st.integers(-1, 12))
    return body


_COMMANDS = st.sampled_from(["booking", "encode_card", "read_card", "send_mobile_key",
                             "delete_keys", "owner_key", "reconcile", "test_connection",
                             "bogus"])
_DESK_COMMANDS = st.sampled_from(["encode_card", "read_card", "send_mobile_key",
                                  "delete_keys", "reconcile", "test_connection"])


def _encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


_CALLS = st.one_of(
    st.tuples(st.just("booking"), _bookings().map(_encoded)),
    st.tuples(_DESK_COMMANDS, _desk().map(_encoded)),
    st.tuples(_COMMANDS, st.binary(max_size=40) | _JSON.map(_encoded)))


@pytest.fixture(scope="module")
def fuzz_site() -> Iterator[Site]:
    with tempfile.TemporaryDirectory() as folder:
        site = Site(folder)
        yield site
        site.store.close()


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(call=_CALLS, retained=st.sampled_from([False, False, False, True]))
def test_any_message_but_an_empty_one_gets_exactly_one_answer_and_never_raises(
        fuzz_site: Site, call: tuple[str, bytes], retained: bool) -> None:
    site = fuzz_site
    command, raw = call
    site.engine.submit(command, raw, retained, ReplyTo())
    messages = site.new_messages()
    if raw == b"":  # a retained command cleared: nothing was asked, nothing is answered
        assert messages == []
        return
    # Besides its one answer, a booking on a unit no backend knows is news once (key_failed).
    news = [m for m in messages if m[0].endswith("/event/key_failed")]
    assert all(body["code"] == "unknown_unit" for _topic, body, _props in news), news
    messages = [m for m in messages if m not in news]
    assert len(messages) == 1, messages
    topic, body, _properties = messages[0]
    if topic.endswith("/event/command_rejected"):
        assert retained and body["request_id"]
        return
    assert topic == "%s/reply/%s" % (ROOT, command)
    assert body["status"] in ("accepted", "ok", "error")
    event(body["status"] if body["error"] is None else body["error"]["code"])
    if body["status"] == "error":
        assert body["error"]["code"] and body["error"]["message"]
    if body["request_id"] is not None:
        stored = site.rows("SELECT command, reply FROM inbox WHERE request_id = ?",
                           body["request_id"])
        assert len(stored) == 1
        if body["error"] is not None and body["error"]["code"] == "request_id_conflict":
            assert stored[0]["command"] != command
        else:
            # What was sent is what the inbox keeps for a repeat of this request_id.
            assert json.loads(stored[0]["reply"]) == body


# Review findings: each test is a scenario that went wrong before its fix.

def _claim(site: Site, kind: str) -> Any:
    job = job_claim(site.store, "space", time.time() + 1, 60)
    assert job is not None and job.kind == kind, job
    return job


def _key(site: Site) -> Any:
    return site.store.read.keys.get(site.key_rows()[0]["id"])


def test_a_check_out_that_may_have_run_is_retried_not_abandoned(site: Site) -> None:
    from appliance.engine.backend import BackendFailure
    confirmed(site)
    site.runner.record.succeeded(_claim(site, "issue_key"), _key(site), _outcome("issued"))
    site.send("booking", booking("done", revision=2, status="COMPLETED"))
    site.new_messages()
    job = _claim(site, "revoke_key")
    site.runner.failed(job, _key(site), BackendFailure(
        "backend_unavailable", "no reply after the ACK", retry=True, may_have_run=True))
    assert site.rows("SELECT state FROM jobs WHERE id = ?", job.id) == [{"state": "pending"}]
    [(_topic, failed, _props)] = site.new_messages()
    assert failed["type"] == "key_failed" and failed["will_retry"] is True


def test_a_card_cut_while_delete_keys_arrived_does_not_bring_the_key_back(site: Site) -> None:
    confirmed(site)
    site.runner.record.succeeded(_claim(site, "issue_key"), _key(site), _outcome("issued"))
    site.send("encode_card", {"request_id": "cut", "booking_id": "B1", "encoder": "desk-1"})
    site.new_messages()
    cut = _claim(site, "encode_card")
    held = _key(site)  # what the worker read when the card went to Space
    site.send("delete_keys", {"request_id": "del", "booking_id": "B1"})
    site.new_messages()
    site.runner.record.succeeded(cut, held, _outcome("issued"))
    assert site.key_rows()[0]["state"] == "revoking"


async def test_a_card_for_a_key_revoked_meanwhile_is_refused_with_no_key(site: Site) -> None:
    confirmed(site)
    site.runner.record.succeeded(_claim(site, "issue_key"), _key(site), _outcome("issued"))
    site.send("encode_card", {"request_id": "cut", "booking_id": "B1", "encoder": "desk-1"})
    site.send("delete_keys", {"request_id": "del", "booking_id": "B1"})
    site.new_messages()
    await site.runner.run_job(_claim(site, "encode_card"))  # Space is never asked
    [(_topic, answer, _props)] = site.new_messages()
    assert answer["request_id"] == "cut" and answer["error"]["code"] == "no_key"


def test_reconcile_reports_and_repairs_a_revocation_that_gave_up(site: Site) -> None:
    from appliance.engine.backend import BackendFailure
    confirmed(site)
    site.runner.record.succeeded(_claim(site, "issue_key"), _key(site), _outcome("issued"))
    site.send("delete_keys", {"request_id": "del", "booking_id": "B1"})
    site.runner.failed(_claim(site, "revoke_key"), _key(site),
                       BackendFailure("OS", "room out of service"))
    outcome = reconcile(site, True, "nightly")
    assert outcome.data["discrepancies"] == 1
    pending = site.rows("SELECT kind FROM jobs WHERE state = 'pending'")
    assert pending == [{"kind": "revoke_key"}]


@pytest.mark.parametrize("topic", ["pms/replies/#", "pms/+/x", "a\x00b", "x" * 70000])
def test_an_unpublishable_response_topic_falls_back_to_the_reply_topic(
        site: Site, topic: str) -> None:
    site.send("booking", booking("r-1"), reply_to=ReplyTo(topic, b"c"))
    assert site.reply()["request_id"] == "r-1"  # on reply/booking


def _outcome(event: str) -> Any:
    return Outcome(key_event=event)



async def test_a_desk_jobs_final_reply_keeps_its_route_across_a_restart(site: Site) -> None:
    site.send("reconcile", {"request_id": "rec-1"}, reply_to=ReplyTo("pms/replies/7", b"\x07"))
    [(topic, accepted, _props)] = site.new_messages()
    assert topic == "pms/replies/7" and accepted["status"] == "accepted"
    site.restart()  # the route is the job's, in the store, not the engine's memory
    job = job_claim(site.store, "appliance", time.time() + 1, 60)
    assert job is not None and "reply" not in job.payload
    await site.runner.run_job(job)
    [(topic, final, props)] = [m for m in site.new_messages() if "/event/" not in m[0]]
    assert (topic, props, final["status"]) == ("pms/replies/7", {"correlation_hex": "07"}, "ok")


@pytest.fixture
def writer(site: Site) -> Iterator[Any]:
    """Another writer (a technician's sqlite3 shell) on the store, and the store's busy
    timeout cut to 0.1 s so the test need not wait the real 5 s past it."""
    site.store.db.execute("PRAGMA busy_timeout = 100")
    other = sqlite3.connect(site.config.store.path, isolation_level=None)
    yield other
    other.close()


def hold_for(writer: Any, seconds: float) -> None:
    """Take the write lock now and let go after ``seconds`` of the event loop's time."""
    writer.execute("BEGIN IMMEDIATE")
    asyncio.get_running_loop().call_later(seconds, writer.execute, "COMMIT")


@pytest.mark.parametrize("revoked", [False, True], ids=["issued", "skipped"])
async def test_a_job_taken_just_before_the_store_locks_waits_instead_of_raising(
        site: Site, writer: Any, revoked: bool, caplog: pytest.LogCaptureFixture) -> None:
    confirmed(site)
    if revoked:
        site.send("delete_keys", {"request_id": "del", "booking_id": "B1"})
    job = _claim(site, "issue_key")
    hold_for(writer, 1.0)
    await site.runner.run_job(job)  # started/skipped must wait, never raise StoreError
    assert "refuses writes" in caplog.text
    [row] = site.rows("SELECT state FROM jobs WHERE id = ?", job.id)
    assert row["state"] == "done"
    assert site.key_rows()[0]["state"] == ("revoking" if revoked else "active")


async def test_interrupted_jobs_are_settled_once_the_store_lets_go(
        site: Site, writer: Any, caplog: pytest.LogCaptureFixture) -> None:
    confirmed(site)
    _interrupt(site, "issue_key")
    site.store.db.execute("PRAGMA busy_timeout = 100")  # the restart opened a new connection
    hold_for(writer, 1.0)
    assert await site.runner.recover() == 1
    assert "refuses writes" in caplog.text
    assert site.jobs()[0]["state"] == "pending"


@pytest.mark.parametrize("checked_out_first", [True, False], ids=["unannounced", "announced"])
def test_every_key_revoked_says_whether_the_pms_ever_heard_of_the_key(
        site: Site, checked_out_first: bool) -> None:
    """The one rule for unannounced keys: a PIN minted while the check-out arrived gets no
    key_issued, and its key_revoked says announced: false; otherwise announced: true."""
    confirmed(site)
    issue = _claim(site, "issue_key")
    if checked_out_first:  # the check-out arrives while the PIN is being minted
        site.send("booking", booking("done", revision=2, status="COMPLETED"))
        site.new_messages()
    site.runner.record.succeeded(issue, _key(site), Outcome(
        key_event="issued", events=[("key_issued", {"key_id": _key(site).id, "pin": "1234"})]))
    issued = [body["type"] for _topic, body, _props in site.new_messages()]
    assert issued == ([] if checked_out_first else ["key_issued"])
    if not checked_out_first:
        site.send("booking", booking("done", revision=2, status="COMPLETED"))
        site.new_messages()
    site.runner.record.succeeded(_claim(site, "revoke_key"), _key(site), Outcome(
        key_event="revoked", events=[("key_revoked", {"key_id": _key(site).id})]))
    [(_topic, revoked, _props)] = site.new_messages()
    assert revoked["type"] == "key_revoked"
    assert revoked["announced"] is (not checked_out_first)
