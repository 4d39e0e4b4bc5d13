"""sd_notify against a real AF_UNIX datagram socket standing in for systemd's."""

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance import sdnotify


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[sdnotify.Notifier]:
    """No systemd variables leak in (the suite may itself run under systemd) and the
    module's default notifier is a fresh one, closed afterwards (no ResourceWarning)."""
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)
    notifier = sdnotify.Notifier()
    monkeypatch.setattr(sdnotify, "_default", notifier)
    yield notifier
    notifier.close()


def bind(address: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    return sock


@pytest.fixture
def systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """The receiving end, as PID 1 binds it, named in $NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    with bind(str(path)) as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


@pytest.mark.parametrize(("send", "datagram"), [
    (lambda: sdnotify.ready(), b"READY=1"),
    (lambda: sdnotify.ready("serving 12 doors"), b"READY=1\nSTATUS=serving 12 doors"),
    (lambda: sdnotify.status("broker reconnecting"), b"STATUS=broker reconnecting"),
    (lambda: sdnotify.watchdog_ping(), b"WATCHDOG=1"),
    (lambda: sdnotify.stopping(), b"STOPPING=1"),
    (lambda: sdnotify.notify("RELOADING=1\nSTATUS=x"), b"RELOADING=1\nSTATUS=x"),
])
def test_datagrams_arrive_as_sent(systemd: socket.socket, send, datagram: bytes) -> None:
    assert send() is True
    assert systemd.recv(4096) == datagram


def test_status_text_cannot_inject_another_assignment(systemd: socket.socket) -> None:
    assert sdnotify.status("lost broker\nREADY=1")
    assert systemd.recv(4096) == b"STATUS=lost broker READY=1"
    assert sdnotify.ready("up\r\nWATCHDOG=trigger")
    assert systemd.recv(4096) == b"READY=1\nSTATUS=up WATCHDOG=trigger"


def test_nul_and_unencodable_text_still_send(systemd: socket.socket) -> None:
    """systemd drops a datagram with a NUL in it; a lone surrogate must not raise."""
    assert sdnotify.status("a\0b")
    assert systemd.recv(4096) == b"STATUS=a b"
    assert sdnotify.status("file \udcff")
    assert systemd.recv(4096) == b"STATUS=file ?"


def test_status_is_utf8(systemd: socket.socket) -> None:
    assert sdnotify.status("Zimmer Möwe belegt")
    assert systemd.recv(4096).decode("utf-8") == "STATUS=Zimmer Möwe belegt"


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "keybridge-test-%s" % uuid.uuid4().hex
    with bind("\0" + name) as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.watchdog_ping()
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_explicit_address_overrides_the_environment(tmp_path: Path) -> None:
    with bind(str(tmp_path / "own")) as sock:
        notifier = sdnotify.Notifier(str(tmp_path / "own"))
        try:
            assert notifier.notify("READY=1")
        finally:
            notifier.close()
        assert sock.recv(4096) == b"READY=1"


@pytest.mark.parametrize("value", [None, "", "relative/notify", "vsock:2:1234"])
def test_not_under_systemd_is_false_and_quiet(monkeypatch: pytest.MonkeyPatch,
                                              value: str | None) -> None:
    if value is not None:
        monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.ready("x") is False
    assert sdnotify.status("x") is False
    assert sdnotify.watchdog_ping() is False
    assert sdnotify.stopping() is False


def test_missing_socket_is_false_and_quiet(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert sdnotify.watchdog_ping() is False
    monkeypatch.setenv("NOTIFY_SOCKET", "@keybridge-nobody-%s" % uuid.uuid4().hex)
    assert sdnotify.watchdog_ping() is False


def test_socket_is_kept_open_between_calls(systemd: socket.socket,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    opened = []
    real_open = sdnotify.Notifier._open

    def counting_open(target: str) -> socket.socket:
        opened.append(target)
        return real_open(target)

    monkeypatch.setattr(sdnotify.Notifier, "_open", staticmethod(counting_open))
    for _ in range(3):
        assert sdnotify.watchdog_ping()
        assert systemd.recv(4096) == b"WATCHDOG=1"
    assert len(opened) == 1


def test_close_then_send_reopens(systemd: socket.socket,
                                 clean_env: sdnotify.Notifier) -> None:
    assert sdnotify.status("one")
    clean_env.close()
    clean_env.close()  # idempotent
    assert sdnotify.status("two")
    assert [systemd.recv(4096), systemd.recv(4096)] == [b"STATUS=one", b"STATUS=two"]


def test_recreated_socket_is_found_again(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """PID 1 re-executed: same path, new socket; the kept one is stale."""
    path = tmp_path / "notify"
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    with bind(str(path)) as first:
        assert sdnotify.status("before")
        assert first.recv(4096) == b"STATUS=before"
    path.unlink()
    with bind(str(path)) as second:
        assert sdnotify.status("after")
        assert second.recv(4096) == b"STATUS=after"


def test_socket_moved_to_another_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with bind(str(tmp_path / "a")) as a, bind(str(tmp_path / "b")) as b:
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "a"))
        assert sdnotify.watchdog_ping()
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "b"))
        assert sdnotify.watchdog_ping()
        assert a.recv(4096) == b.recv(4096) == b"WATCHDOG=1"


@pytest.mark.parametrize(("env", "expected"), [
    ({"WATCHDOG_USEC": "10000000"}, 5.0),
    ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}, 5.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
    ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getppid())}, None),
    ({}, None),
    ({"WATCHDOG_PID": str(os.getpid())}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "-5"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "me"}, None),
])
def test_watchdog_interval_from_environment(monkeypatch: pytest.MonkeyPatch,
                                            env: dict[str, str],
                                            expected: float | None) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert sdnotify.watchdog_interval_s() == expected
    assert sdnotify.watchdog_interval_s(env) == expected  # an explicit mapping, same answer
