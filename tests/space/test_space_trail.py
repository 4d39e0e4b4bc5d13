"""Which records of an audit trail are new: the top remembered of the last walk, and the
records walked before it shows up again, at the edges (an empty trail, a busy minute, a top
that reached the end of the trail). Pure functions: no link, no store.
"""

from appliance.space.trail import TOP_MAX, Line, Top, new_lines, top_of, without


def line(time: str, card: str = "Pitch 12") -> Line:
    return Line("01/07", time, "0", "I", card, "#0", "")


A, B, C = line("10:00"), line("10:01"), line("10:02")


def test_an_empty_trail_has_an_ended_empty_top() -> None:
    assert top_of([], True) == Top((), True)
    assert top_of([], False) is None  # nothing walked yet: no top to keep


def test_after_an_empty_trail_every_record_is_new_once_the_walk_ends() -> None:
    empty = Top((), True)
    assert new_lines([], empty, True) == []
    assert new_lines([B, A], empty, False) is None  # the end not reached: maybe more
    assert new_lines([B, A], empty, True) == [B, A]


def test_a_busy_minute_keeps_at_most_top_max_records_and_stops_there() -> None:
    busy = [line("10:00", card="STAFF")] * (TOP_MAX + 5)
    top = top_of([*busy, line("09:00")], False)
    assert top is not None and len(top.lines) == TOP_MAX and not top.ended
    # The walk need not go past TOP_MAX records of one minute to have its top.
    assert top_of(busy[:TOP_MAX], False) == Top(tuple(busy[:TOP_MAX]), False)
    # The next walk stops as soon as the top shows up again, under the new record.
    assert new_lines([C, *busy[:TOP_MAX - 1]], top, False) is None
    assert new_lines([C, *busy[:TOP_MAX]], top, False) == [C]


def test_a_top_that_reached_the_end_matches_only_at_the_end() -> None:
    top = top_of([A, A], True)
    assert top == Top((A, A), True)
    assert top_of([A, A], False) is None  # the trail may go on with more of that minute
    assert new_lines([B, A, A], top, False) is None
    assert new_lines([B, A, A], top, True) == [B]


def test_the_records_before_the_top_are_new_newest_first() -> None:
    top = top_of([B, A], False)
    assert top == Top((B, A), False)
    assert new_lines([C], top, False) is None
    assert new_lines([C, C, B, A], top, False) == [C, C]


def test_without_drops_one_record_per_delivered_one() -> None:
    assert without([C, A, A, B], (A, B)) == [C, A]
