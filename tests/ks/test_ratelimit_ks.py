"""TokenBucket and Retry-After parsing, on an injected clock: nothing here really waits."""

import asyncio
import datetime
import email.utils

import pytest

from appliance.ks.ratelimit import MAX_RETRY_AFTER_S, TokenBucket, retry_after_s


class FakeTime:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    async def sleep(self, seconds):
        self.sleeps.append(round(seconds, 6))
        self.now += seconds
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would


def bucket(time, rate_per_hour=3600.0, burst=3):
    return TokenBucket(rate_per_hour, burst, clock=time.clock, sleep=time.sleep)


async def test_burst_goes_at_once_then_one_per_interval():
    time = FakeTime()
    limiter = bucket(time, rate_per_hour=7200.0, burst=3)  # one token every 0.5 s
    for _ in range(3):
        await limiter.acquire()
    assert time.sleeps == []
    await limiter.acquire()
    await limiter.acquire()
    assert time.sleeps == [0.5, 0.5]  # one sleep per token, no polling


async def test_idle_refill_is_capped_at_burst():
    time = FakeTime()
    limiter = bucket(time, burst=2)
    await limiter.acquire()
    await limiter.acquire()
    time.now += 3600
    assert limiter.waiting_s() == 0.0
    for _ in range(3):
        await limiter.acquire()
    assert time.sleeps == [1.0]  # two saved up, not 3600


async def test_pause_holds_everyone_then_resumes_with_one_request():
    time = FakeTime()
    limiter = bucket(time, burst=5)
    limiter.pause(30)
    assert limiter.paused
    assert limiter.waiting_s() == 30.0
    await limiter.acquire()
    assert time.sleeps == [30.0]
    assert not limiter.paused
    await limiter.acquire()  # no burst after a 429: the rate, not the bucket
    assert time.sleeps == [30.0, 1.0]


async def test_shorter_pause_does_not_shorten_a_longer_one():
    time = FakeTime()
    limiter = bucket(time)
    limiter.pause(30)
    time.now += 10
    limiter.pause(5)
    assert limiter.waiting_s() == 20.0
    limiter.pause(-1)
    assert limiter.waiting_s() == 20.0


async def test_pause_while_waiting_extends_the_wait():
    time = FakeTime()
    limiter = bucket(time, burst=1)
    await limiter.acquire()

    async def sleep_then_429(seconds):
        await time.sleep(seconds)
        if len(time.sleeps) == 1:
            limiter.pause(10)  # a 429 arrived for someone else meanwhile

    limiter._sleep = sleep_then_429
    await limiter.acquire()
    assert time.sleeps == [1.0, 10.0]


async def test_callers_are_served_in_arrival_order():
    time = FakeTime()
    limiter = bucket(time, burst=1)
    order = []

    async def caller(name):
        await limiter.acquire()
        order.append(name)

    async with asyncio.TaskGroup() as group:
        for name in "abcd":
            group.create_task(caller(name))
    assert order == list("abcd")
    assert time.sleeps == [1.0, 1.0, 1.0]


async def test_a_cancelled_waiter_takes_no_token():
    limiter = TokenBucket(3600.0, 1)  # real clock and sleep: the waiter is cancelled at once
    await limiter.acquire()
    waiter = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert 0.0 < limiter.waiting_s() <= 1.0


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-5, 1), (3600, 0)])
def test_nonsense_limits_are_refused(rate, burst):
    with pytest.raises(ValueError, match="token bucket"):
        TokenBucket(rate, burst)


@pytest.mark.parametrize(("header", "seconds"), [
    ("5", 5.0), ("1.5", 1.5), ("0", 0.0), ("-3", 0.0), (None, 1.0), ("", 1.0),
    ("soon", 1.0), ("nan", 1.0), ("inf", 1.0), ("1e9", MAX_RETRY_AFTER_S),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: now
])
def test_retry_after(header, seconds):
    assert retry_after_s(header) == seconds


def test_retry_after_as_http_date():
    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=90)
    assert 85 < retry_after_s(email.utils.format_datetime(when, usegmt=True)) <= 90
