"""When does a dropped connection mean another client took this site's session?"""

from appliance.bridge.takeover import SESSION_TAKEN_OVER, SHORT_LIVED, SHORT_S, TakeoverWatch

UNSPECIFIED = 0x80  # what paho reports when the broker just closes the socket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def session(watch: TakeoverWatch, clock: Clock, lasted_s: float) -> str | None:
    clock.now += 1.0  # the reconnect delay
    watch.connected()
    clock.now += lasted_s
    return watch.dropped(UNSPECIFIED)


def test_mqtt5_reason_session_taken_over_is_enough() -> None:
    watch = TakeoverWatch(Clock())
    assert "0x8E" in (watch.dropped(SESSION_TAKEN_OVER) or "")


def test_connections_closed_right_after_their_connack_three_times_are_a_takeover() -> None:
    clock = Clock()
    watch = TakeoverWatch(clock)
    found = [session(watch, clock, 2.0) for _ in range(SHORT_LIVED)]
    assert found[:-1] == [None] * (SHORT_LIVED - 1)
    assert found[-1] is not None and "%d connections" % SHORT_LIVED in found[-1]


def test_a_broker_restart_or_a_blip_after_a_long_connection_is_not() -> None:
    clock = Clock()
    watch = TakeoverWatch(clock)
    for _ in range(10):  # the broker restarted every hour: each connection lasted
        assert session(watch, clock, 3600.0) is None
    assert session(watch, clock, 2.0) is None
    assert session(watch, clock, 2.0) is None
    assert session(watch, clock, SHORT_S + 1) is None  # a lasting one ends the streak
    assert session(watch, clock, 2.0) is None


def test_short_connections_spread_over_hours_are_not() -> None:
    clock = Clock()
    watch = TakeoverWatch(clock)
    for _ in range(5):
        clock.now += 3600.0  # dropped without a CONNACK of ours in between: not counted
        assert watch.dropped(UNSPECIFIED) is None
        assert session(watch, clock, 2.0) is None
