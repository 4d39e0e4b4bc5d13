"""Fixtures for the KS client tests: injected time, and a client of the simulator's
account. Each test file brings its own ``server`` fixture (how the simulator is started is
what the file is about)."""

import pytest

from appliance.ks.client import KsClient

from _ks import FakeTime, settings_for


@pytest.fixture
def fake():
    return FakeTime()


@pytest.fixture
async def client(server, fake):
    async with KsClient(settings_for(server), clock=fake.clock, sleep=fake.sleep) as client:
        yield client
