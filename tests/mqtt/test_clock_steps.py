"""NTP steps the appliance's wall clock an hour back, then an hour forward, mid-day.

The appliance runs with a clock shim preloaded (``bench/clocks.py``), so its wall clock jumps
under it while its monotonic clock runs on, as on a Pi without a real-time clock. A key whose
issue is waiting for a retry when the clock goes back is not put off by an hour; the journal
says the clock jumped; after the forward step new bookings still get their keys at once."""

import pytest

from bench.clocks import SteppedClock

from _appliance import Appliance, eventually
from _ks import KsProcess
from test_appliance_contract import STAY, booking, event, reply, send

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def ks(tmp_path):
    process = KsProcess(tmp_path).start()
    yield process
    process.close()


@pytest.fixture
def waiting(tmp_path, broker, ks, peer_factory):
    """An appliance with a steppable clock, and B1's PIN waiting for a retry: KS is down."""
    clock = SteppedClock(tmp_path)
    appliance = Appliance(tmp_path / "a", broker, ks_url=ks.url, env=clock.env).start()
    try:
        pms = peer_factory(broker, "pms", persistent=True)
        pms.subscribe("keybridge/camp/#")
        ks.knobs(outage=True)
        send(pms, appliance, "booking", booking("back", "B1"))
        assert reply(pms, "back")["status"] == "accepted"
        assert event(pms, "key_failed", 30, booking_id="B1")["will_retry"] is True
        yield clock, appliance, pms
    finally:
        appliance.close()


def test_a_clock_stepped_back_and_forward_an_hour_delays_no_key(waiting, ks):
    clock, appliance, pms = waiting
    clock.step(-3600)  # the retry was due in a second or two; it still is
    eventually(lambda: "wall clock jumped -36" in appliance.log_text(), timeout=30,
               what="the step back noticed")
    ks.knobs(outage=False)
    assert event(pms, "key_issued", 30, booking_id="B1")["pin"]

    clock.step(+3600)
    eventually(lambda: "wall clock jumped +36" in appliance.log_text(), timeout=30,
               what="the step forward noticed")
    send(pms, appliance, "booking", booking("forward", "B2", units=("P14",)))
    assert event(pms, "key_issued", 30, booking_id="B2")["pin"]
    assert appliance.stop() == 0


def test_a_clock_stepped_back_while_the_appliance_was_stopped_delays_no_key(waiting, ks):
    """A Pi boots with yesterday's clock ahead and NTP sets it back before keybridge
    starts: no ClockWatch saw the step, yet no retry waits longer than job_retry_max_s."""
    clock, appliance, pms = waiting
    assert appliance.stop() == 0
    clock.step(-3600)
    appliance.start()
    assert "were due more than 2 s from now" in appliance.log_text()
    ks.knobs(outage=False)
    assert event(pms, "key_issued", 30, booking_id="B1")["pin"]


def test_a_room_cut_for_the_next_guest_after_a_step_back_is_not_checked_out(
        tmp_path, broker, space, peer_factory):
    """Space holds one check-in per room. The Jansens' card is cut, the clock goes back an
    hour, the next guests' card for the same pitch is cut; the Jansens then leave: their
    check-out must leave the pitch to the next guests, though by the wall clock their card
    looks the newer of the two."""
    clock = SteppedClock(tmp_path)
    appliance = Appliance(tmp_path / "a", broker, space, env=clock.env).start()
    try:
        pms = peer_factory(broker, "pms", persistent=True)
        pms.subscribe("keybridge/camp/#")
        send(pms, appliance, "booking", booking("first", "B1"))
        assert reply(pms, "first")["status"] == "accepted"
        send(pms, appliance, "encode_card", {"request_id": "cut-1", "booking_id": "B1",
                                             "encoder": "desk-1"})
        assert reply(pms, "cut-1", "ok", timeout=30)
        clock.step(-3600)
        eventually(lambda: "wall clock jumped -36" in appliance.log_text(), timeout=30,
                   what="the step back in effect")
        send(pms, appliance, "booking", booking("next", "B2", arrival=STAY["departure"],
                                                departure="2027-07-06T11:00:00+02:00"))
        assert reply(pms, "next")["status"] == "accepted"
        send(pms, appliance, "encode_card", {"request_id": "cut-2", "booking_id": "B2",
                                             "encoder": "desk-1"})
        assert reply(pms, "cut-2", "ok", timeout=30)
        send(pms, appliance, "booking", booking("left", "B1", revision=2, status="COMPLETED"))
        revoked = event(pms, "key_revoked", 30, booking_id="B1", backend="space")
        assert revoked["checked_out"] is False
        assert space.control({"op": "state"})["state"]["rooms"]["Pitch 12"]["checked_in"]
    finally:
        appliance.close()
