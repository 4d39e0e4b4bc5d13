"""The command line's end of the control channel: one request, one answer, a timeout."""

import getpass
import os
import socket
from typing import Any

from appliance.control import wire

TIMEOUT_S = 120.0
"""Long enough for a card placed on an encoder through the service's queue."""


def operator() -> str:
    """The person at the terminal, as the audit log names them: who ran sudo, if anyone."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def ask(path: str, op: str, timeout_s: float = TIMEOUT_S, **arguments: Any) -> Any:
    """The running service's answer to ``op``; raises NotRunning or ControlRefused."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError) as err:
            raise wire.NotRunning("the service is not running (nothing answers at %s)"
                                  % path) from err
        except PermissionError as err:
            raise wire.ControlError("%s: permission denied; run as root, or join the "
                                    "keybridge group (usermod -aG keybridge $USER)" % path) from err
        sock.sendall(wire.encode({"op": op, **arguments}))
        with sock.makefile("rb") as stream:
            line = stream.readline(wire.MAX_LINE_BYTES)
    if not line:
        raise wire.ControlError("the service at %s closed the channel without an answer"
                                % path)
    answer = wire.decode(line)
    if not answer.get("ok"):
        details = {name: value for name, value in answer.items() if name not in ("ok", "error")}
        raise wire.ControlRefused(str(answer.get("error")), details)
    return answer.get("data")
