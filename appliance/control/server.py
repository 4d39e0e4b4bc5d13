"""The service's end of the control channel: a Unix socket answering one request per
connection with the handler its ``op`` names.

A socket file left by a service that died is replaced; one that still answers belongs to a
running keybridge, and this one then runs without a control channel rather than take it over.
"""

import asyncio
import contextlib
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from appliance.control import wire

log = logging.getLogger("keybridge.control")
Handler = Callable[[dict[str, Any]], Awaitable[Any]]
SOCKET_MODE = 0o660
"""The service user and its group (a technician an admin added to it) may talk to it."""


class ControlServer:
    def __init__(self, path: str, handlers: Mapping[str, Handler]) -> None:
        self.path = path
        self.handlers = handlers
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> bool:
        """Listen; False (with the reason in the journal) where it cannot."""
        try:
            self._clear_stale()
            self._server = await asyncio.start_unix_server(self._serve, self.path,
                                                           limit=wire.MAX_REQUEST_BYTES)
            os.chmod(self.path, SOCKET_MODE)
        except (OSError, wire.ControlError) as err:
            log.warning("no control channel: %s; keybridge status and the other commands "
                        "read the store instead", err, extra={"ctx": {"socket": self.path}})
            return False
        log.info("control channel open", extra={"ctx": {"socket": self.path}})
        return True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def _clear_stale(self) -> None:
        try:
            mode = os.lstat(self.path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise wire.ControlError("%s exists and is no socket; remove it or set [service] "
                                    "control_socket" % self.path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(self.path)
            except (ConnectionRefusedError, FileNotFoundError):
                os.unlink(self.path)  # left by a service that died
                return
        raise wire.ControlError("another keybridge answers at %s" % self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            answer = await self._answer(await reader.readline())
            writer.write(wire.encode(answer))
            await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass  # the caller went away or sent too much: nothing to answer to
        finally:
            writer.close()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = wire.decode(line)
            handler = self.handlers.get(str(request.get("op")))
            if handler is None:
                return {"ok": False, "error": "no such request %r; the requests are %s"
                        % (request.get("op"), ", ".join(sorted(self.handlers)))}
            return {"ok": True, "data": await handler(request)}
        except wire.ControlRefused as err:
            return {"ok": False, "error": str(err), **err.details}
        except ValueError as err:
            return {"ok": False, "error": "not a control request: %s" % err}
        except Exception as err:
            log.exception("control request failed")
            return {"ok": False, "error": "%s: %s" % (type(err).__name__, err)}
