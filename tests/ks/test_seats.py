"""The seat gate on its own, with a hand-turned clock: which PIN jobs may ask KS."""

import pytest

from appliance.engine.backend import BackendFailure
from appliance.ks.seats import NO_SEATS, SeatGate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


NO_SEAT = BackendFailure(NO_SEATS, "no seat", retry=True)


def closed_gate() -> tuple[Clock, SeatGate]:
    """A gate whose first PIN job KS refused for want of a seat, and its clock."""
    clock = Clock()
    gate = SeatGate(30, 900, clock)
    gate.admit()
    gate.done(NO_SEAT)
    return clock, gate


def refused_at_once(gate: SeatGate) -> bool:
    with pytest.raises(BackendFailure) as caught:
        gate.admit()
    return caught.value.code == NO_SEATS and caught.value.retry


def test_with_seats_every_job_asks_and_one_refusal_closes_the_gate() -> None:
    clock = Clock()
    gate = SeatGate(30, 900, clock)
    gate.admit()
    gate.admit()  # two at once: nothing is known against it yet
    gate.done(NO_SEAT)
    gate.done(NO_SEAT)
    assert refused_at_once(gate)
    clock.now += 29
    assert refused_at_once(gate)
    clock.now += 1  # two refusals at once are one pause, not two doublings
    gate.admit()


def test_one_probe_per_pause_and_the_pause_doubles_to_its_ceiling() -> None:
    clock, gate = closed_gate()
    pauses = []
    for _ in range(7):
        start = clock.now
        while True:  # the first admitted job after the pause is the only probe
            clock.now += 1
            try:
                gate.admit()
            except BackendFailure:
                continue
            break
        assert refused_at_once(gate)  # while the probe runs, nobody else asks
        pauses.append(clock.now - start)
        gate.done(NO_SEAT)
    assert pauses == [30, 60, 120, 240, 480, 900, 900]


def test_a_revocation_opens_the_gate_for_one_probe_and_a_pin_ends_the_episode() -> None:
    _clock, gate = closed_gate()
    gate.freed()  # a guest left: its seat is free now
    gate.admit()
    assert refused_at_once(gate)
    gate.done(None)  # the probe got its PIN
    gate.admit()
    gate.admit()


def test_a_probe_that_failed_otherwise_lets_the_next_job_probe() -> None:
    clock, gate = closed_gate()
    clock.now += 30
    gate.admit()
    gate.done(BackendFailure("backend_unavailable", "KS down", retry=True))
    gate.admit()  # the seats are still unknown: the next one asks
