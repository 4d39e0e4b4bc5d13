"""Fixtures for the Space tests; the helpers are in ``_spacesim.py``."""

import pytest

from appliance.space import SpaceClient, SpaceCommands
from appliance.store.db import Store
from appliance.store.secrets import Keyring, create_key_file
from simulators.space.control import ControlChannel

from _spacesim import make_space, settings_for


@pytest.fixture(params=["tcp", "pty"])
async def space(request):
    """The simulator, served on TCP and, in a second run, on a pseudo-terminal."""
    simulator = make_space()
    if request.param == "tcp":
        await simulator.start_tcp("127.0.0.1", 0)
    else:
        simulator.start_pty()
    yield simulator
    await simulator.close()


@pytest.fixture
async def client(space):
    async with SpaceClient(settings_for(space)) as link:
        yield link


@pytest.fixture
async def desk(client):
    return SpaceCommands(client)


@pytest.fixture
async def control(space):
    """The simulator's JSON control channel, as HOST:PORT."""
    channel = ControlChannel(space)
    host, port = await channel.start("127.0.0.1", 0)
    yield "%s:%d" % (host, port)
    await channel.close()


@pytest.fixture
def store(tmp_path):
    """A real store in a SQLite file of its own."""
    key_file = str(tmp_path / "store.key")
    create_key_file(key_file)
    with Store(str(tmp_path / "kb.db"), Keyring(key_file)) as opened:
        yield opened
