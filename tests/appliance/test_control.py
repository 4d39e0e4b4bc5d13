"""The control channel on a real Unix socket: one request, one answer; a socket left by a
dead service is replaced, one a live service answers on is never taken over."""

import asyncio
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from appliance.control import client, wire
from appliance.control.server import ControlServer


async def echo(request: dict[str, Any]) -> Any:
    return {"asked": request}


async def refuse(request: dict[str, Any]) -> Any:
    raise wire.ControlRefused("Space is away", {"code": "backend_unavailable"})


async def ask(path: Path, op: str, **arguments: Any) -> Any:
    return await asyncio.to_thread(client.ask, str(path), op, 5.0, **arguments)


async def test_a_request_gets_its_handlers_answer_and_errors_keep_their_details(
        tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    server = ControlServer(str(path), {"echo": echo, "refuse": refuse})
    assert await server.start()
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        assert await ask(path, "echo", n=1) == {"asked": {"op": "echo", "n": 1}}
        with pytest.raises(wire.ControlRefused) as caught:
            await ask(path, "refuse")
        assert (str(caught.value), caught.value.details) == (
            "Space is away", {"code": "backend_unavailable"})
        with pytest.raises(wire.ControlRefused, match="no such request 'nope'; the requests "
                                                      "are echo, refuse"):
            await ask(path, "nope")
    finally:
        await server.close()
    assert not path.exists()
    with pytest.raises(wire.NotRunning, match="not running"):
        client.ask(str(path), "echo")


async def test_a_dead_services_socket_is_replaced_a_live_ones_is_not(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # a socket file nobody listens on: a service killed with -9
    dead.close()
    first = ControlServer(str(path), {"echo": echo})
    assert await first.start()
    try:
        second = ControlServer(str(path), {"echo": echo})
        assert not await second.start()  # another keybridge answers there
        assert await ask(path, "echo") == {"asked": {"op": "echo"}}
    finally:
        await first.close()


async def test_a_file_that_is_no_socket_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    path.write_text("a technician's notes")
    assert not await ControlServer(str(path), {"echo": echo}).start()
    assert path.read_text() == "a technician's notes"
