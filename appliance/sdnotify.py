"""Tell systemd how the service is doing: the sd_notify protocol in our own code.

Under ``Type=notify`` systemd passes ``$NOTIFY_SOCKET``; the service sends it
datagrams of ``KEY=value`` lines: ``READY=1`` once it serves, ``STATUS=...``
for ``systemctl status``, ``WATCHDOG=1`` at least every ``WatchdogSec=``, and
``STOPPING=1`` when it starts to shut down. Outside systemd (a technician's
shell, the tests) there is no socket and every call returns False.

Why not a dependency: the protocol is one ``send`` on an AF_UNIX datagram
socket, about twenty lines. ``systemd-python`` is a C extension published as
source only, so the Pi would need libsystemd-dev and a compiler in the venv
build (or apt's python3-systemd outside the venv), and the pure-Python packages
add a supply-chain entry for no gain. This module needs the standard library only.

Sending never blocks: the socket is non-blocking, so a stalled PID 1 costs a
lost datagram (False), never a stalled event loop. ``STATUS=`` text has its
line breaks and NULs flattened, so a message can neither smuggle in another
assignment nor be dropped whole by systemd. Nothing here logs or raises:
callers decide what a False means.
"""

import os
import socket
import threading
from collections.abc import Mapping


class Notifier:
    """One datagram socket to systemd, opened on first use and kept open.

    ``address`` overrides ``$NOTIFY_SOCKET``; without it the variable is read
    on every call (cheap), so a changed environment opens a fresh socket.
    """

    def __init__(self, address: str | None = None) -> None:
        self._address = address
        self._sock: socket.socket | None = None
        self._connected_to: str | None = None
        self._lock = threading.Lock()  # the executor threads may report too

    def notify(self, state: str) -> bool:
        """Send ``state`` (``KEY=value`` lines); False when not under systemd or it failed."""
        address = self._address if self._address is not None else os.environ.get("NOTIFY_SOCKET")
        # systemd only hands out absolute paths or abstract names ('@' for the leading NUL).
        if not address or address[0] not in "/@":
            return False
        target = "\0" + address[1:] if address[0] == "@" else address
        data = state.encode("utf-8", "replace")  # a lone surrogate must not raise
        with self._lock:
            # A kept socket may point at a socket file PID 1 has since re-created
            # (daemon-reexec): on failure, reopen once before giving up.
            for _attempt in range(2):
                try:
                    if self._sock is None or self._connected_to != address:
                        self._close_locked()
                        self._sock = self._open(target)
                        self._connected_to = address
                    self._sock.send(data)
                except OSError:
                    self._close_locked()
                else:
                    return True
        return False

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    @staticmethod
    def _open(target: str) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # close-on-exec by default
        try:
            sock.setblocking(False)
            sock.connect(target)
        except OSError:
            sock.close()
            raise
        return sock

    def _close_locked(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._connected_to = None


_default = Notifier()


def notify(state: str) -> bool:
    return _default.notify(state)


def ready(status: str | None = None) -> bool:
    """``READY=1``: startup is done (store, config and broker up), with an optional status."""
    return notify("READY=1" if status is None else "READY=1\nSTATUS=" + _flat(status))


def stopping() -> bool:
    return notify("STOPPING=1")


def status(text: str) -> bool:
    return notify("STATUS=" + _flat(text))


def watchdog_ping() -> bool:
    return notify("WATCHDOG=1")


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """How often to ping: half of ``WatchdogSec=``, or None when the watchdog is not ours.

    As sd_watchdog_enabled(3): ``WATCHDOG_PID``, when set, must be this process,
    otherwise the variables were inherited from a parent that systemd watches.
    """
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
        pid = env.get("WATCHDOG_PID")
        if pid and int(pid) != os.getpid():
            return None
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None


def _flat(text: str) -> str:
    return " ".join(text.replace("\0", " ").splitlines())
