"""The simulator's control channel: one JSON object per line over TCP.

A technician or a test on another process sets knobs while the simulator
runs. Requests and answers (every answer has ``ok``)::

    {"op": "faults", "set": {"nak_frames": 2}}      -> {"ok": true, "faults": {...}}
    {"op": "faults", "clear": true}
    {"op": "faults", "set": {"refuse_connections": true}}   # Space down; state is kept
    {"op": "card", "encoder": "Online Encoder 1", "kind": "staff", "holder": "Anna"}
    {"op": "card", "encoder": "Online Encoder 1", "serial": "04A10000"}
    {"op": "card", "encoder": "Online Encoder 1", "remove": true}
    {"op": "encoder", "encoder": "Online Encoder 1", "set": {"online": false}}
    {"op": "room", "room": "Pitch 12", "set": {"out_of_service": true}}
    {"op": "door", "door": "Pitch 12", "serial": "04A10000"}  -> {"ok": true, "incident": "0"}
    {"op": "phone", "phone": "+31612345678"}
    {"op": "clock", "set": "2026-07-03T10:00"}  or  {"op": "clock", "advance_s": 3600}
    {"op": "state"}                                  -> {"ok": true, "state": {...}}

``python -m simulators.space.control HOST:PORT '{"op": "state"}'`` sends one.
"""

import asyncio
import datetime
import json
import sys
from typing import Any

from simulators.faults import FaultError
from simulators.space.space import SpaceSimulator

MAX_LINE_BYTES = 64 * 1024


class ControlChannel:
    """Serves JSON-line control requests for one simulator."""

    def __init__(self, space: SpaceSimulator) -> None:
        self.space = space
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, host, port,
                                                  limit=MAX_LINE_BYTES)
        bound = self._server.sockets[0].getsockname()
        return bound[0], bound[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(json.dumps(self.execute(line)).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError):
            pass  # a broken client: drop it, the simulator goes on
        finally:
            writer.close()

    def execute(self, line: bytes) -> dict[str, Any]:
        """Run one request line; never raises."""
        try:
            try:
                request = json.loads(line)
            except ValueError as err:
                raise ValueError("not JSON (%s): send one JSON object per line" % err) from err
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
            op = getattr(self, "_op_" + str(request.get("op")), None)
            if op is None:
                raise ValueError("unknown op %r; ops: %s" % (request.get("op"), ", ".join(
                    n[4:] for n in dir(self) if n.startswith("_op_"))))
            return {"ok": True, **op(request)}
        except (KeyError, ValueError, TypeError, FaultError) as err:
            return {"ok": False, "error": str(err).strip('"')}

    def _op_faults(self, request: dict[str, Any]) -> dict[str, Any]:
        faults = self.space.faults
        if request.get("clear"):
            faults.clear()
        faults.update(**request.get("set", {}))
        return {"faults": faults.as_dict()}

    def _op_card(self, request: dict[str, Any]) -> dict[str, Any]:
        encoder = _text(request, "encoder")
        if request.get("remove"):
            self.space.remove_card(encoder)
        else:
            self.space.place_card(encoder, request.get("kind", "blank"),
                                  request.get("holder", "").encode(),
                                  request.get("serial", "").encode())
        return {}

    def _op_encoder(self, request: dict[str, Any]) -> dict[str, Any]:
        self.space.set_encoder(_text(request, "encoder"), **request.get("set", {}))
        return {}

    def _op_room(self, request: dict[str, Any]) -> dict[str, Any]:
        self.space.set_room(_text(request, "room"), **request.get("set", {}))
        return {}

    def _op_door(self, request: dict[str, Any]) -> dict[str, Any]:
        incident = self.space.open_door(
            _text(request, "door"), request.get("serial", "").encode(),
            request.get("staff", "").encode(), request.get("phone", "").encode())
        return {"incident": incident.decode()}

    def _op_phone(self, request: dict[str, Any]) -> dict[str, Any]:
        self.space.register_phone(_text(request, "phone"))
        return {}

    def _op_clock(self, request: dict[str, Any]) -> dict[str, Any]:
        if "set" in request:
            self.space.set_clock(datetime.datetime.fromisoformat(request["set"]))
        if "advance_s" in request:
            self.space.clock.advance(float(request["advance_s"]))
        return {"clock": self.space.clock.now().isoformat(timespec="minutes")}

    def _op_state(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"state": self.space.state()}


def _text(request: dict[str, Any], key: str) -> bytes:
    value = request.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError("%r is required: a non-empty string" % key)
    return value.encode()


async def send(address: str, request: str) -> dict[str, Any]:
    """Send one request line to a running simulator's control channel."""
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host or "127.0.0.1", int(port))
    try:
        writer.write(request.encode().strip() + b"\n")
        await writer.drain()
        answer: dict[str, Any] = json.loads(await reader.readline())
        return answer
    finally:
        writer.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m simulators.space.control HOST:PORT 'JSON request'",
              file=sys.stderr)
        return 2
    answer = asyncio.run(send(args[0], args[1]))
    print(json.dumps(answer, indent=2))
    return 0 if answer.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
