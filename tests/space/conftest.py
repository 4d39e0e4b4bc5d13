"""Fixtures for the Space tests; the helpers are in ``_spacesim.py``."""

import pytest

from appliance.space import SpaceClient, SpaceCommands

from _spacesim import make_space, settings_for


@pytest.fixture
async def space():
    simulator = make_space()
    await simulator.start_tcp("127.0.0.1", 0)
    yield simulator
    await simulator.close()


@pytest.fixture
async def client(space):
    async with SpaceClient(settings_for(space)) as link:
        yield link


@pytest.fixture
async def desk(client):
    return SpaceCommands(client)
