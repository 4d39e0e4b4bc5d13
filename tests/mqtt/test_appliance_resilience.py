"""Outages while commands flow: the broker restarted or killed, the appliance killed with
SIGKILL at chosen moments. After recovery nothing accepted is lost, nothing runs twice, and
every event reaches the PMS (de-duplicated by event_id)."""

import sqlite3
import subprocess
import sys
import threading

import pytest

from _appliance import ROOT, Appliance, eventually
from test_appliance_contract import booking, cut_slowly, event, reply, send

pytestmark = pytest.mark.timeout(240)


def pending_outbox(appliance):
    with sqlite3.connect(appliance.db_file) as db:
        return db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0]


def test_broker_restart_resubscribes_republishes_status_and_loses_nothing(
        tmp_path, broker, space, peer_factory):
    appliance = Appliance(tmp_path / "a", broker, space).start()
    try:
        pms = peer_factory(broker, "pms", persistent=True)
        pms.subscribe("keybridge/camp/#")
        cut_slowly(pms, appliance, space, "before", 1.5)
        broker.stop()  # the card is cut while the broker is away
        eventually(lambda: pending_outbox(appliance) >= 2, what="the result in the outbox")
        broker.start()
        pms.connect()
        assert reply(pms, "cut", "ok", timeout=20)["data"]["count"] == 1
        event(pms, "card_encoded", booking_id="B1")
        send(pms, appliance, "booking", booking("after", "B2", units=("C3",)))
        assert reply(pms, "after", timeout=20)["status"] == "accepted"  # resubscribed
        online = [m for m in pms.messages if m.topic.endswith("/status")
                  and m.json()["state"] == "online"]
        assert len(online) >= 2  # published again on the new connection
    finally:
        appliance.close()


def test_broker_killed_loses_its_state_and_the_appliance_restores_it(
        tmp_path, broker, space, peer_factory):
    appliance = Appliance(tmp_path / "a", broker, space).start()
    try:
        broker.kill()  # no persistence written: retained status and sessions are gone
        broker.start()
        late = peer_factory(broker)
        late.subscribe(appliance.topic("#"))
        late.wait_for(lambda m: m.topic.endswith("/status"), 20)  # the appliance is back
        later = peer_factory(broker)
        later.subscribe(appliance.topic("status"))
        assert later.wait_for(lambda m: m.retain).json()["state"] == "online"
        send(late, appliance, "booking", booking("fresh"))
        assert reply(late, "fresh", timeout=20)["status"] == "accepted"
    finally:
        appliance.close()


class Recorder:
    """The PMS's bookkeeping: the replies and events seen, events by event_id."""

    def __init__(self, pms):
        self.pms = pms

    def replies(self, request_id):
        return [m.json() for m in self.pms.messages
                if "/reply/" in m.topic and m.json()["request_id"] == request_id]

    def events(self, kind):
        unique = {}
        for message in self.pms.messages:
            if message.topic.endswith("/event/" + kind):
                unique[message.json()["event_id"]] = message.json()
        return list(unique.values())


def day_of_commands():
    """Bookings confirmed and cards cut, then (once the desk is done) stays completed:
    8 guests, 24 commands, in two phases."""
    arrivals, departures = [], []
    for n in range(8):
        unit = ("P12", "C3", "P14")[n % 3]
        guest = "G%d" % n
        arrivals.append(("booking", booking("%s-confirm" % guest, guest, 1, units=(unit,))))
        arrivals.append(("encode_card", {"request_id": "%s-cut" % guest, "booking_id": guest,
                                         "encoder": "desk-1"}))
        departures.append(("booking", booking("%s-done" % guest, guest, 2, "COMPLETED",
                                              units=(unit,))))
    return arrivals, departures


def test_kill_9_while_commands_flow_loses_nothing_and_repeats_nothing(
        tmp_path, broker, space, peer_factory):
    space.control({"op": "faults", "set": {"reply_delay_s": 0.3}})
    appliance = Appliance(tmp_path / "a", broker, space).start()
    try:
        pms = peer_factory(broker, "pms", persistent=True)
        pms.subscribe("keybridge/camp/#")
        record = Recorder(pms)
        arrivals, departures = day_of_commands()
        commands = arrivals + departures
        sender = threading.Thread(target=_send_all, args=(pms, appliance, record, arrivals,
                                                          departures))
        sender.start()
        # Kill points chosen by what is happening, not by the clock: mid-stream after a
        # reply, while a card is being cut (Space has the CN, no answer yet), after a revoke.
        for moment in (lambda: record.replies("G1-confirm"),
                       lambda: len(space.requests("CN")) >= 4,
                       lambda: record.events("key_revoked")):
            eventually(moment, 60, "the kill point")
            appliance.kill()
            appliance.start()
        sender.join(120)
        send(pms, appliance, "test_connection", {"request_id": "fence"})
        reply(pms, "fence", "ok", timeout=60)
        _check_day(record, commands, space, appliance)
    finally:
        appliance.close()


def _send_all(pms, appliance, record, arrivals, departures):
    for command, payload in arrivals:
        send(pms, appliance, command, payload)
    # Guests leave after their cards are cut: a check-out first would (rightly) refuse them.
    for command, payload in arrivals:
        if command == "encode_card":
            eventually(lambda payload=payload: _final(record, payload["request_id"]), 120,
                       "the desk's answer")
    for command, payload in departures:
        send(pms, appliance, command, payload)


def _final(record, request_id):
    return [r for r in record.replies(request_id) if r["status"] != "accepted"]


def _check_day(record, commands, space, appliance):
    unknown = 0
    for command, payload in commands:
        replies = record.replies(payload["request_id"])
        assert replies, "no reply to %s" % payload["request_id"]
        if command == "encode_card":
            final = _final(record, payload["request_id"])
            codes = {r["error"]["code"] for r in final if r["error"]}
            assert codes <= {"outcome_unknown"}, final
            unknown += bool(codes)
    cards = len(space.requests("CN"))
    encoded = record.events("card_encoded")
    assert len({e["booking_id"] for e in encoded}) == len(encoded)  # one card per guest
    assert len(encoded) <= cards <= len(encoded) + unknown
    eventually(lambda: len(record.events("key_revoked")) == 8, 60, "eight revocations")
    assert len({e["booking_id"] for e in record.events("key_revoked")}) == 8
    with sqlite3.connect(appliance.db_file) as db:
        states = dict(db.execute("SELECT id, status FROM bookings"))
        inbox = {row[0] for row in db.execute("SELECT request_id FROM inbox")}
    assert states == {"G%d" % n: "COMPLETED" for n in range(8)}
    assert {payload["request_id"] for _command, payload in commands} <= inbox


def test_a_store_held_past_the_busy_timeout_delays_the_work_and_ends_nothing(
        tmp_path, broker, space, peer_factory):
    """A technician's sqlite3 shell holds the write lock longer than the busy timeout while a
    card is being cut and commands arrive: the service waits, stays up, then finishes all."""
    appliance = Appliance(tmp_path / "a", broker, space).start()
    holder = sqlite3.connect(appliance.db_file, isolation_level=None)
    try:
        pms = peer_factory(broker, "pms", persistent=True)
        pms.subscribe("keybridge/camp/#")
        cut_slowly(pms, appliance, space, "first", 1.0)
        eventually(lambda: space.requests("CN"), what="the card on its way to Space")
        holder.execute("BEGIN IMMEDIATE")  # the card's result must now wait for the store
        send(pms, appliance, "booking", booking("during", "B2", units=("C3",)))
        eventually(lambda: "refuses writes" in appliance.log_text(),
                   timeout=30, what="the service waiting past the busy timeout")
        assert appliance.process.poll() is None
        holder.execute("COMMIT")
        assert reply(pms, "cut", "ok", timeout=40)["data"]["count"] == 1
        assert reply(pms, "during")["error"]["code"] == "store_unavailable"  # at once
        assert reply(pms, "during", "accepted", timeout=40)
        event(pms, "card_encoded", booking_id="B1")
        assert len(space.requests("CN")) == 1  # the card was not cut a second time
        assert appliance.stop() == 0
    finally:
        holder.close()
        appliance.close()


def test_a_broker_down_at_start_is_named_once_with_its_address(tmp_path, broker):
    """Not paho's "Client is not connected. Socket: None" at every retry: one line with the
    broker's address and what to check, and READY once the broker is there."""
    broker.stop()
    appliance = Appliance(tmp_path / "a", broker).start(wait=False)
    try:
        where = "cannot reach the broker at %s:%d" % (broker.host, broker.port)
        eventually(lambda: where in appliance.log_text(), what="the unreachable broker named")
        broker.start()
        appliance.wait_ready()
        log = appliance.log_text()
        assert log.count("cannot reach the broker") == 1, log
        assert "Client is not connected" not in log and "check [mqtt] host and port" in log
    finally:
        appliance.close()


def test_a_second_run_on_the_same_store_stops_at_once_naming_the_first(tmp_path, broker,
                                                                       peer_factory):
    first = Appliance(tmp_path / "a", broker).start()
    try:
        second = subprocess.run([sys.executable, "-m", "appliance", "run", "--config",
                                 str(first.config_file)], cwd=ROOT, capture_output=True,
                                text=True, timeout=60, check=False)
        assert second.returncode != 0
        assert "in use by another keybridge run (pid %d)" % first.process.pid in second.stderr
        # The first one never noticed: it still answers.
        pms = peer_factory(broker, "pms", persistent=True)
        pms.subscribe("keybridge/camp/#")
        send(pms, first, "booking", booking("still-mine"))
        assert reply(pms, "still-mine")["status"] == "accepted"
        first.kill()  # kill -9: the kernel lets go of the lock with the process
        first.start()
    finally:
        first.close()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_second_appliance_with_the_same_site_id_ends_the_fight(tmp_path, broker,
                                                                 peer_factory, protocol):
    """Two stores, one site id: the broker hands the session back and forth. Instead of
    fighting for ever, an appliance that sees its session taken stops, exit status 3 (no
    systemd restart), and its journal and `keybridge status` say why and what to do."""
    first = Appliance(tmp_path / "a", broker, protocol=protocol).start()
    second = Appliance(tmp_path / "b", broker, protocol=protocol).start(wait=False)
    try:
        eventually(lambda: 3 in (first.process.poll(), second.process.poll()), timeout=90,
                   what="one of the two appliances to give the session up")
        gave_up = first if first.process.poll() == 3 else second
        log = gave_up.log_text()
        assert "another client uses this site's MQTT client id 'keybridge-camp'" in log, log
        assert "systemctl start keybridge" in log
        shown = subprocess.run([sys.executable, "-m", "appliance", "status", "--config",
                                str(gave_up.config_file)], cwd=ROOT, capture_output=True,
                               text=True, timeout=60, check=False)
        assert "another appliance uses this site's client id" in shown.stdout, shown.stdout
        kept = second if gave_up is first else first
        if kept.process.poll() is None:  # the other one keeps the site, undisturbed now
            pms = peer_factory(broker, "pms", persistent=True)
            pms.subscribe("keybridge/camp/#")
            send(pms, kept, "booking", booking("after-the-fight"))
            assert reply(pms, "after-the-fight", timeout=30)["status"] == "accepted"
    finally:
        first.close()
        second.close()
