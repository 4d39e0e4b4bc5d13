"""Connections: one PMS at a time, reconnects with backoff, health probes, and
a Space server killed in the middle of a request (a real process, kill -9)."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.space import SpaceClient, SpaceCommands, SpaceSettings, errors
from appliance.space.transport import TcpTransport

from _spacesim import ARRIVAL, DEPARTURE, ENC1, FAST, make_space, settings_for

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_second_pms_is_refused_while_one_is_connected(space):
    async with SpaceClient(settings_for(space)) as first, \
            SpaceClient(settings_for(space)) as second:
        assert await first.ping() is True
        with pytest.raises(errors.SpaceUnavailable) as info:
            await second.ping()
        assert await first.ping() is True  # the first is not disturbed
    if space.pty_path:  # a serial line is held exclusively by whoever opened it
        assert "cannot open serial line" in str(info.value)
    else:  # Space hangs up on the second PMS
        assert "closed" in str(info.value)
        assert space.server.connections_refused == 1


async def test_a_second_pms_is_queued_until_the_first_leaves():
    space = make_space(second_connection="queue")
    space.server.second_connection = "queue"
    await space.start_tcp()
    try:
        first = SpaceClient(settings_for(space))
        first.start()
        assert await first.ping() is True
        async with SpaceClient(settings_for(space)) as second:
            waiting = asyncio.ensure_future(SpaceCommands(second).check_out("Pitch 12"))
            done, _ = await asyncio.wait({waiting}, timeout=0.05)
            assert not done  # connected at TCP level, but not served yet
            await first.close()
            await waiting
        assert space.server.connections_refused == 0
    finally:
        await space.close()


async def test_nothing_listening_is_unavailable_and_never_ran():
    settings = SpaceSettings(server="127.0.0.1:%d" % free_port(), **FAST)
    downs = []
    async with SpaceClient(settings, on_health=lambda up, why: downs.append((up, why))) as client:
        with pytest.raises(errors.SpaceUnavailable) as info:
            await client.ping()
    assert info.value.request_may_have_run is False
    assert "cannot connect to tcp://127.0.0.1" in str(info.value)
    assert downs and downs[0][0] is False
    assert client.up is False and client.since is not None


class CountingTransport(TcpTransport):
    """The real TCP transport, counting connection attempts."""

    def __init__(self, *args):
        super().__init__(*args)
        self.attempts = 0

    async def open(self):
        self.attempts += 1
        return await super().open()


class FixedJitter:
    def random(self):
        return 1.0  # always the top of the backoff window


async def test_reconnect_backoff_doubles_up_to_its_ceiling():
    settings = SpaceSettings(server="127.0.0.1:1", **{**FAST, "reconnect_min_s": 0.01,
                                                      "reconnect_max_s": 0.04})
    client = SpaceClient(settings, rng=FixedJitter())
    assert [client._backoff_s() for _ in range(5)] == [0.01, 0.02, 0.04, 0.04, 0.04]


async def test_server_coming_back_within_the_budget_is_used():
    port = free_port()
    transport = CountingTransport("127.0.0.1", port, 1.0)
    settings = SpaceSettings(server="127.0.0.1:%d" % port,
                             **{**FAST, "connect_budget_s": 10.0, "reconnect_max_s": 0.02})
    space = make_space()
    async with SpaceClient(settings, transport=transport) as client:
        ping = asyncio.ensure_future(client.ping())
        while transport.attempts < 3:  # it keeps trying while nothing listens
            await asyncio.sleep(0.005)
        await space.start_tcp("127.0.0.1", port)
        try:
            assert await ping is True
            assert client.up is True
        finally:
            await space.close()


async def test_idle_probe_notices_a_vanished_server():
    space = make_space()
    await space.start_tcp()
    changes = asyncio.Queue()
    settings = settings_for(space, probe_interval_s=0.02)
    async with SpaceClient(settings, on_health=lambda up, why: changes.put_nowait((up, why))):
        client_up = await asyncio.wait_for(changes.get(), 5)
        assert client_up[0] is True
        await space.close()
        up, why = await asyncio.wait_for(changes.get(), 5)
    assert up is False
    assert "health probe failed" in why


async def test_per_request_connections_close_when_idle(space):
    async with SpaceClient(settings_for(space, connection="per_request")) as client:
        desk = SpaceCommands(client)
        await desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE)
        while client._driver is not None:  # hung up after the linger
            await asyncio.sleep(0.01)
        assert (await desk.read(ENC1)).valid is True  # and reconnects for the next


SLOW_SITE = """
[server]
listen = "127.0.0.1:{port}"
[[rooms]]
name = "Pitch 12"
[[encoders]]
name = "Online Encoder 1"
card = "blank"
card_after_s = 30
card_timeout_s = 60
"""


async def start_process(site, port):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators.space", "--site", str(site), "--quiet",
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert b"listening on 127.0.0.1:%d" % port in line, line
    return proc


async def test_simulator_killed_mid_request_then_a_clean_reconnect(tmp_path):
    port = free_port()
    site = tmp_path / "slow.toml"
    site.write_text(SLOW_SITE.format(port=port))
    proc = await start_process(site, port)
    settings = SpaceSettings(server="127.0.0.1:%d" % port,
                             **{**FAST, "card_wait_s": 60.0, "connect_budget_s": 10.0})
    try:
        async with SpaceClient(settings) as client:
            desk = SpaceCommands(client)
            assert await desk.ping() is True
            cutting = asyncio.ensure_future(desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE))
            while client.requests_sent == 0:
                await asyncio.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            with pytest.raises(errors.SpaceUnavailable) as info:
                await cutting
            assert info.value.request_may_have_run is True
            assert client.up is False
            await proc.wait()
            proc = await start_process(site, port)
            assert await desk.ping() is True
            assert client.up is True
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


async def test_space_restarting_while_idle_is_not_mistaken_for_a_lost_request():
    space = make_space()
    host, port = await space.start_tcp()
    async with SpaceClient(settings_for(space)) as client:
        desk = SpaceCommands(client)
        assert await desk.ping() is True
        await space.close()  # Space restarts while the desk is idle
        space = make_space()
        await space.start_tcp(host, port)
        try:
            await desk.check_out("Pitch 12")  # reopened first; nothing sent into the dead link
        finally:
            await space.close()


async def test_a_failing_health_observer_does_not_stop_the_link(space):
    def broken(up, why):
        raise RuntimeError("observer bug")

    async with SpaceClient(settings_for(space), on_health=broken) as client:
        assert await client.ping() is True
        assert await client.ping() is True


async def test_closing_while_still_connecting_says_it_never_ran():
    port = free_port()
    transport = CountingTransport("127.0.0.1", port, 1.0)
    settings = SpaceSettings(server="127.0.0.1:%d" % port, **{**FAST, "connect_budget_s": 30.0})
    client = SpaceClient(settings, transport=transport)
    client.start()
    ping = asyncio.ensure_future(client.ping())
    while transport.attempts < 2:
        await asyncio.sleep(0.005)
    await client.close()
    with pytest.raises(errors.SpaceUnavailable) as info:
        await ping
    assert info.value.request_may_have_run is False


async def test_refuse_mode_refuses_the_third_pms_instead_of_queueing_it():
    space = make_space()
    await space.start_tcp()
    try:
        first = SpaceClient(settings_for(space))
        first.start()
        assert await first.ping() is True
        others = [SpaceClient(settings_for(space)) for _ in range(2)]
        for other in others:
            other.start()
        pings = [asyncio.ensure_future(other.ping()) for other in others]
        while len(space.server._slot._waiters or ()) < 2:  # both are at the door
            await asyncio.sleep(0.005)
        await first.close()
        results = await asyncio.gather(*pings, return_exceptions=True)
        assert sorted(type(r).__name__ for r in results) == ["SpaceUnavailable", "bool"]
        assert space.server.connections_refused == 1
        for other in others:
            await other.close()
    finally:
        await space.close()
