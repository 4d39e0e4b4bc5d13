"""Salto KS end to end: the PMS over a real Mosquitto, the appliance process, and the KS
simulator process (``python -m simulators.ks``) whose keypad emulator decides like a lock.

What a guest notices is asserted at the keypad: the PIN published in ``key_issued`` opens
the booking's doors inside the stay and nothing else, and stops working at check-out.
What the campsite pays for is asserted in the simulator's state: no duplicate guests or
groups after outages, 429 storms and kill -9 between any two steps of the saga.
"""

import re
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest

from _appliance import ROOT, Appliance, eventually
from _ks import KsApi, KsProcess
from test_appliance_contract import check_published, event, reply, send

INSIDE = "2027-07-02T12:00:00+02:00"
BEFORE = "2027-07-01T13:59:00+02:00"
AFTER = "2027-07-04T11:01:00+02:00"
STAY = {"arrival": "2027-07-01T14:00:00+02:00", "departure": "2027-07-04T11:00:00+02:00"}


def booking(request_id, booking_id="B1", revision=1, status="CONFIRMED", units=("P12",),
            **stay):
    return {"request_id": request_id, "booking": {
        "id": booking_id, "revision": revision, "status": status, "units": list(units),
        **(STAY | stay)}}


@pytest.fixture
def ks(tmp_path):
    process = KsProcess(tmp_path).start()
    yield process
    process.close()


class Site:
    def __init__(self, tmp_path, broker, ks, peer_factory, **ks_options):
        self.ks = ks
        self.appliance = Appliance(tmp_path / "appliance", broker, None, ks_url=ks.url,
                                   ks=ks_options).start()
        self.pms = peer_factory(broker, "pms", persistent=True)
        self.pms.subscribe("keybridge/camp/#")

    def send(self, command, payload):
        send(self.pms, self.appliance, command, payload)

    def issued(self, booking_id="B1", timeout=30.0, **fields):
        return event(self.pms, "key_issued", timeout, booking_id=booking_id, backend="ks",
                     **fields)

    def cli(self, command, *args, check=False):
        """``keybridge COMMAND`` against this appliance's configuration, as a technician."""
        return subprocess.run([sys.executable, "-m", "appliance", command, "--config",
                               str(self.appliance.config_file), *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=check)

    def opens(self, lock, pin, at=INSIDE):
        return bool(self.ks.keypad(lock, pin, at=at)["opened"])

    def close(self):
        self.appliance.close()
        for message in self.pms.messages:
            check_published(message)


@pytest.fixture
def site(tmp_path, broker, ks, peer_factory):
    made = Site(tmp_path, broker, ks, peer_factory)
    yield made
    made.close()


def ours(state):
    """The guests and groups the appliance made (our reference prefix)."""
    guests = [user for user in state["users"] if str(user.get("alias")).startswith("kb:camp:")]
    groups = [group for group in state["access_groups"]
              if str(group.get("customer_reference")).startswith("kb:camp:")]
    return guests, groups


def no_pin_in(text, pin):
    return re.search(r"(?<![\w.:-])%s(?!\w)" % pin, text) is None


def test_a_confirmed_booking_gets_a_pin_for_exactly_the_stay(site, tmp_path):
    site.send("booking", booking("r1"))
    assert reply(site.pms, "r1")["status"] == "accepted"
    issued = site.issued()
    pin = issued["pin"]
    assert re.fullmatch(r"[0-9]{6}", pin)
    assert issued["key_type"] == "stay" and issued["locks"] == ["Pitch 12"]
    assert site.opens("Pitch 12", pin, INSIDE)
    assert not site.opens("Pitch 12", pin, BEFORE)
    assert not site.opens("Pitch 12", pin, AFTER)
    assert not site.opens("Pitch 14", pin, INSIDE)
    guests, groups = ours(site.ks.state())
    assert len(guests) == 1 and len(groups) == 1
    # The PIN is in no log and nowhere readable in the database files.
    assert no_pin_in(site.appliance.log_text(), pin)
    assert no_pin_in(site.ks.log_text(), pin)
    for path in site.appliance.directory.glob("keybridge.db*"):
        assert re.search(rb"(?<![\w=-])%s(?![\w=-])" % pin.encode(), path.read_bytes()) is None
    # The audit names the KS ids and the request that triggered it.
    audit = site.cli("audit", check=True).stdout
    assert "pin_minted" in audit and guests[0]["id"] in audit and "r1" in audit


def test_a_new_guest_ks_is_still_settling_on_is_waited_for(site):
    """Right after creation KS refuses the guest's PIN and membership for a while (§2.7)."""
    site.ks.knobs(consistency_window_s=2)
    site.send("booking", booking("r1"))
    pin = site.issued()["pin"]
    assert site.opens("Pitch 12", pin)
    refused = [r for r in site.ks.requests() if r["status"] in (403, 404)]
    assert refused, "KS never refused: the window was not exercised"
    assert not [m for m in site.pms.messages if m.topic.endswith("/event/key_failed")]


def test_check_out_and_cancellation_revoke_the_pin(site):
    site.send("booking", booking("a1", "OUT"))
    site.send("booking", booking("b1", "CANCEL", units=("C3",)))
    out, cancel = site.issued("OUT")["pin"], site.issued("CANCEL")["pin"]
    assert site.opens("Pitch 12", out) and site.opens("Chalet 3", cancel)
    site.send("booking", booking("a2", "OUT", revision=2, status="COMPLETED"))
    site.send("booking", booking("b2", "CANCEL", revision=2, status="CANCELLED"))
    event(site.pms, "key_revoked", 30, booking_id="OUT", reason="completed")
    event(site.pms, "key_revoked", 30, booking_id="CANCEL", reason="cancelled")
    assert not site.opens("Pitch 12", out) and not site.opens("Chalet 3", cancel)
    assert ours(site.ks.state()) == ([], [])  # guests deleted: their seats are free again
    assert site.cli("audit", check=True).stdout.count("pin_revoked") == 2


def test_a_date_change_moves_the_window_and_keeps_the_pin(site):
    site.send("booking", booking("r1"))
    pin = site.issued()["pin"]
    site.send("booking", booking("r2", revision=2, departure="2027-07-06T11:00:00+02:00"))
    updated = event(site.pms, "key_updated", 30, booking_id="B1")
    assert "pin" not in updated and updated["valid_until"].startswith("2027-07-06")
    assert site.opens("Pitch 12", pin, "2027-07-05T20:00:00+02:00")
    assert not site.opens("Pitch 12", pin, "2027-07-06T11:01:00+02:00")


def test_a_guest_deleted_in_the_ks_app_gets_a_new_pin_at_the_next_change(site):
    site.send("booking", booking("r1"))
    old = site.issued()["pin"]
    [guest] = ours(site.ks.state())[0]
    with KsApi(site.ks.url) as someone:
        assert someone.delete("sites/{site}/users/%s" % guest["id"]).status_code == 202
    site.send("booking", booking("r2", revision=2, departure="2027-07-05T11:00:00+02:00"))
    new = site.pms.wait_for(lambda m: m.topic.endswith("/event/key_issued")
                            and m.json()["pin"] != old, 30).json()
    assert site.opens("Pitch 12", new["pin"], "2027-07-04T20:00:00+02:00")
    assert not [m for m in site.pms.messages if m.topic.endswith("/event/key_updated")]


def test_a_lock_missing_in_ks_is_a_failure_that_says_which(tmp_path, broker, ks,
                                                           peer_factory):
    made = Site(tmp_path, broker, ks, peer_factory, units={"P12": ["Pitch 99"]})
    try:
        made.send("booking", booking("r1"))
        failed = event(made.pms, "key_failed", 30, booking_id="B1")
        assert failed["code"] == "ks_unknown_lock" and "Pitch 99" in failed["message"]
        assert "[ks.units]" in failed["hint"] and failed["will_retry"] is True
    finally:
        made.close()


def test_a_unit_change_swaps_the_locks_and_keeps_the_pin(site):
    site.send("booking", booking("r1"))
    pin = site.issued()["pin"]
    site.send("booking", booking("r2", revision=2, units=("P14",)))
    updated = event(site.pms, "key_updated", 30, booking_id="B1")
    assert updated["locks"] == ["Pitch 14"]
    assert site.opens("Pitch 14", pin) and not site.opens("Pitch 12", pin)


def test_reconfirmed_after_a_cancellation_is_a_new_key_with_a_new_pin(site):
    site.send("booking", booking("r1"))
    first = site.issued()
    site.send("booking", booking("r2", revision=2, status="CANCELLED"))
    event(site.pms, "key_revoked", 30, booking_id="B1")
    site.send("booking", booking("r3", revision=3))
    second = site.pms.wait_for(lambda m: m.topic.endswith("/event/key_issued")
                               and m.json()["key_id"] != first["key_id"], 30).json()
    assert site.opens("Pitch 12", second["pin"])
    if second["pin"] != first["pin"]:  # KS may hand out a number again; then it is the new one
        assert not site.opens("Pitch 12", first["pin"])
    assert len(ours(site.ks.state())[0]) == 1


def test_two_key_types_give_two_pins_each_opening_its_own_doors(tmp_path, broker, ks,
                                                                 peer_factory):
    made = Site(tmp_path, broker, ks, peer_factory, key_types=[
        {"name": "stay", "locks": ["Main gate"]},
        {"name": "showers", "unit_locks": False, "locks": ["Shower block"]}])
    try:
        made.send("booking", booking("r1"))
        stay = made.issued(key_type="stay")["pin"]
        showers = made.issued(key_type="showers")["pin"]
        assert stay != showers
        assert made.opens("Pitch 12", stay) and made.opens("Main gate", stay)
        assert not made.opens("Shower block", stay)
        assert made.opens("Shower block", showers) and not made.opens("Pitch 12", showers)
    finally:
        made.close()


POLLERS = ("GET /sites", "GET /sites/{site}/entries", "GET /sites/{site}/locks",
           "POST /connect/token")


def user_requests(ks):
    """KS requests so far but the door-event and battery pollers' (and the token)."""
    return sum(count for key, count in ks.state()["requests"].items() if key not in POLLERS)


def least_attempts(db_file):
    with sqlite3.connect(db_file) as db:
        return db.execute("SELECT min(attempts) FROM jobs WHERE kind = 'issue_key' AND "
                          "state != 'done'").fetchone()[0] or 0


def test_no_free_seat_asks_ks_once_per_pause_not_once_per_key(tmp_path, broker, ks,
                                                               peer_factory):
    """While every seat is taken, 20 waiting PINs are one probe per pause (doubling to
    seats_retry_max_s), not 20 jobs each retrying on their own; one key_failed per key."""
    made = Site(tmp_path, broker, ks, peer_factory, seats_retry_min_s=2, seats_retry_max_s=4)
    try:
        used = ks.state()["site"]["seats_used"]
        ks.site(subscribed_user_amount=used)
        ids = ["S%d" % n for n in range(20)]
        for n, booking_id in enumerate(ids):
            made.send("booking", booking("r%d" % n, booking_id,
                                         units=(("P12", "P14", "C3")[n % 3],)))
        for booking_id in ids:
            failed = event(made.pms, "key_failed", 30, booking_id=booking_id)
            assert failed["code"] == "ks_no_seats" and failed["will_retry"] is True
        before, started = user_requests(ks), time.monotonic()
        eventually(lambda: least_attempts(made.appliance.db_file) >= 8, timeout=90,
                   what="every PIN job tried again seven times")
        sent, minutes = user_requests(ks) - before, (time.monotonic() - started) / 60
        print("no seats: %d KS user requests in %.1f min (%.0f/min) for %d waiting keys"
              % (sent, minutes, sent / minutes, len(ids)))
        assert 0 < sent < len(ids)  # 7 tries of 20 jobs: 280+ requests without the gate
        failures = [m for m in made.pms.messages if m.topic.endswith("/event/key_failed")]
        assert len(failures) == len(ids)  # once per key, not once per try
        ks.site(subscribed_user_amount=used + 40)
        pins = {booking_id: made.issued(booking_id, 60)["pin"] for booking_id in ids}
        assert len(set(pins.values())) == len(ids)
        assert made.opens("Pitch 12", pins["S0"])
        assert len(ours(ks.state())[0]) == len(ids)  # no guest made twice meanwhile
    finally:
        made.close()


def test_a_ks_outage_during_a_burst_issues_everything_once_after_recovery(site):
    site.ks.knobs(outage=True)
    ids = ["OUT%d" % n for n in range(8)]
    for n, booking_id in enumerate(ids):
        site.send("booking", booking("r%d" % n, booking_id, units=(("P12", "P14", "C3")[n % 3],)))
    for booking_id in ids:
        failed = event(site.pms, "key_failed", 30, booking_id=booking_id)
        assert failed["code"] == "backend_unavailable" and failed["will_retry"] is True
    site.ks.clock(advance_s=600)  # ten minutes later, KS is back
    site.ks.knobs(outage=False)
    pins = {booking_id: site.issued(booking_id, 60)["pin"] for booking_id in ids}
    guests, groups = ours(site.ks.state())
    assert len(guests) == len(ids) and len(groups) == len(ids)
    assert len(set(pins.values())) == len(ids)


@pytest.fixture
def serial_site(tmp_path, broker, ks, peer_factory):
    """One KS request at a time: with several in flight, those already on their way when
    a 429 is sent arrive inside its window, which the simulator counts as violations."""
    made = Site(tmp_path, broker, ks, peer_factory, max_in_flight=1)
    yield made
    made.close()


def test_a_429_storm_is_waited_out_as_ks_asks(serial_site):
    site = serial_site
    site.ks.knobs(rate_limit={"count": 6, "retry_after_s": 1})
    for n in range(3):
        site.send("booking", booking("r%d" % n, "RL%d" % n))
    for n in range(3):
        site.issued("RL%d" % n, 60)
    state = site.ks.state()
    assert state["rate_limit_violations"] == []
    assert len(ours(state)[0]) == 3


@pytest.fixture
def patient_site(tmp_path, broker, ks, peer_factory):
    """A KS that may take a minute to answer before the appliance gives up on it."""
    made = Site(tmp_path, broker, ks, peer_factory, timeout_s=60)
    yield made
    made.close()


def test_pin_jobs_wait_for_ks_side_by_side_and_each_key_in_order(patient_site):
    # Two guests' sagas are under way at once (max_in_flight, default 4): a slow KS answer
    # for one booking does not hold up the next; the check-out of the first still waits
    # for its own issue to finish, so it never overtakes it.
    site = patient_site
    site.ks.knobs(hang=[{"method": "POST", "path_contains": "/guests", "count": 2}])
    site.send("booking", booking("r1", "PAR1"))
    site.send("booking", booking("r2", "PAR2", units=("P14",)))
    site.send("booking", booking("r3", "PAR1", revision=2, status="COMPLETED"))
    assert site.ks.wait_hung(2, 20), "the two guests were not created side by side"
    site.ks.release()
    site.issued("PAR2", 60)
    revoked = event(site.pms, "key_revoked", 60, booking_id="PAR1")
    assert revoked["backend"] == "ks"
    guests, groups = ours(site.ks.state())
    assert len(guests) == 1 and len(groups) == 1  # PAR1's guest and group are gone


SAGA_STEPS = [("POST", "/guests"), ("PATCH", "/users/"), ("POST", "/access_groups"),
              ("POST", "/time_schedules"), ("POST", "/locks"), ("POST", "/users"),
              ("PUT", "/pin")]


@pytest.mark.parametrize(("method", "path"), SAGA_STEPS,
                         ids=["%s %s" % step for step in SAGA_STEPS])
def test_killed_after_any_saga_step_recovers_without_a_duplicate(site, method, path):
    site.ks.knobs(hang=[{"method": method, "path_contains": path, "after_effect": True,
                         "count": 1}])
    site.send("booking", booking("r1"))
    assert site.ks.wait_hung(1, 30), "the %s %s did not come" % (method, path)
    site.appliance.kill()
    site.ks.release()
    site.appliance.start()
    pin = site.issued(timeout=60)["pin"]
    guests, groups = ours(site.ks.state())
    assert len(guests) == 1 and len(groups) == 1
    assert site.opens("Pitch 12", pin)


def test_reconciliation_finds_both_kinds_of_discrepancy_and_repairs_them(site):
    site.send("booking", booking("r1", "GONE"))
    site.send("booking", booking("r2", "KEPT", units=("P14",)))
    gone, kept = site.issued("GONE")["pin"], site.issued("KEPT")["pin"]
    [victim] = [guest for guest in ours(site.ks.state())[0] if guest["pin"] == gone]
    stray = "kb:camp:%s" % uuid.uuid4()
    with KsApi(site.ks.url) as someone:  # someone in the KS app, and a lost deletion
        assert someone.delete("sites/{site}/users/%s" % victim["id"]).status_code == 202
        someone.guest(stray)
    site.send("reconcile", {"request_id": "rec1"})
    report = event(site.pms, "reconcile_report", 60, backend="ks")
    kinds = sorted(item["kind"] for item in report["discrepancies"])
    assert kinds == ["missing_in_ks", "unknown_in_ks"] and report["repaired"] is False
    assert not site.opens("Pitch 12", gone) and site.opens("Pitch 14", kept)
    site.send("reconcile", {"request_id": "rec2", "repair": True})
    reissued = site.pms.wait_for(lambda m: m.topic.endswith("/event/key_issued")
                                 and m.json()["booking_id"] == "GONE"
                                 and m.json()["pin"] != gone, 60).json()
    assert site.opens("Pitch 12", reissued["pin"]) and site.opens("Pitch 14", kept)
    eventually(lambda: stray not in [g["alias"] for g in ours(site.ks.state())[0]], 30,
               "the stray guest to be removed")
    # The nightly timer's way: the command line, against the same store and KS.
    nightly = site.cli("reconcile")
    assert nightly.returncode == 0, nightly.stdout + nightly.stderr
    assert "reconciliation: 0 discrepancies" in nightly.stdout


def test_test_connection_names_the_site_and_what_to_fix(site):
    status = site.pms.wait_for(lambda m: m.topic.endswith("/status") and m.json().get(
        "backends", {}).get("ks", {}).get("up") is True, 30).json()
    assert status["backends"]["ks"]["last_error"] is None
    site.send("test_connection", {"request_id": "t1", "backend": "ks"})
    result = reply(site.pms, "t1", "ok", 30)["data"]["backends"]["ks"]
    assert result["ok"] is True and result["detail"]["site"] == "Camping Demo"
    site.ks.knobs(identity_down=True)
    cli = site.cli("test-connection", "--backend", "ks")
    assert cli.returncode == 1 and "ks" in cli.stdout and "FAIL" in cli.stdout


def test_explicit_urls_win_over_the_environment_and_test_connection_names_them(
        tmp_path, broker, ks, peer_factory):
    """A site moved to environment = "production" that still names its own URLs (here the
    simulator's) talks to those, and test_connection says which KS it asked."""
    made = Site(tmp_path, broker, ks, peer_factory, environment="production")
    try:
        made.send("test_connection", {"request_id": "e1", "backend": "ks"})
        result = reply(made.pms, "e1", "ok", 30)["data"]["backends"]["ks"]
        assert result["ok"] is True, result
        assert result["detail"]["api_url"] == ks.url.rstrip("/")
        cli = made.cli("test-connection", "--backend", "ks")
        assert cli.returncode == 0 and "at %s," % ks.url.rstrip("/") in cli.stdout, cli.stdout
        made.send("booking", booking("e2", "E1"))
        assert made.issued("E1")["pin"]
    finally:
        made.close()


def test_door_events_and_low_battery_reach_the_pms_once(site):
    site.send("booking", booking("r1"))
    pin = site.issued()["pin"]
    assert site.opens("Pitch 12", pin)
    opened = event(site.pms, "door_event", 30, booking_id="B1", granted=True)
    assert opened["door"] == "Pitch 12" and opened["units"] == ["P12"]
    assert not site.opens("Chalet 3", "000000")
    refused = event(site.pms, "door_event", 30, door="Chalet 3", granted=False)
    assert refused["booking_id"] is None
    site.ks.incident("Chalet 7", "low_battery_warning")
    low = event(site.pms, "battery_low", 30, door="Chalet 7")
    assert low["level"] == "low" and low["units"] == ["C7"]
    # A later marker: everything before it has been seen, and only once.
    assert not site.opens("Main gate", "111111")
    event(site.pms, "door_event", 30, door="Main gate")
    doors = [m.json()["entry_id"] for m in site.pms.messages
             if m.topic.endswith("/event/door_event")]
    assert len(doors) == len(set(doors)) == 3
    assert sum(m.topic.endswith("/event/battery_low") for m in site.pms.messages) == 1


def test_a_pin_of_another_length_than_the_doors_take_is_said_once(tmp_path, broker, ks,
                                                                   peer_factory):
    """The simulator's PINs have 6 digits; a site set up for 4 hears of it once, in the
    journal, without the PIN, and the keys are issued all the same."""
    made = Site(tmp_path, broker, ks, peer_factory, pin_length=4)
    try:
        pins = []
        for n, unit in enumerate(("P12", "P14")):
            made.send("booking", booking("r%d" % n, "L%d" % n, units=(unit,)))
            pins.append(made.issued("L%d" % n)["pin"])
        log = made.appliance.log_text()
        assert log.count("KS returned a 6-digit PIN where [ks] pin_length = 4") == 1
        assert all(no_pin_in(log, pin) for pin in pins)
    finally:
        made.close()
