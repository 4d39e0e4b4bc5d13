"""Byte streams to a Space server: TCP, or an RS-232 line opened with pyserial.

Both give the ``(reader, writer)`` pair ``protocol.driver.LinkDriver`` wants:
``await reader.read(n)`` (``b""`` at end of stream), ``writer.write(data)``,
``await writer.drain()``, ``writer.close()``.

A serial line has no asyncio transport in the standard library, so
``FdStream`` wraps the file descriptor pyserial opened (or a pseudo-terminal
master) with the event loop's ``add_reader``/``add_writer``: the loop sleeps
until the kernel says bytes are there, so nothing polls.
"""

import asyncio
import contextlib
import errno
import os
import termios
from typing import Protocol

import serial

READ_LIMIT = 4096  # bytes taken per read; a frame is at most 2048


class Reader(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def close(self) -> None: ...


class Transport(Protocol):
    """Opens a fresh stream pair to the Space server; ``describe`` names it in logs."""

    def describe(self) -> str: ...
    async def open(self) -> tuple[Reader, Writer]: ...


class FdStream:
    """Reader and writer over a non-blocking file descriptor (tty, pty master).

    A pseudo-terminal master reads EIO once the other end is closed: that is
    the end of the stream, as for a socket.
    """

    def __init__(self, fd: int, closer: object = None) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self._closer = closer  # e.g. the pyserial object that owns ``fd``
        self._pending = bytearray()
        self._closed = False

    async def read(self, n: int = -1) -> bytes:
        size = READ_LIMIT if n < 0 else n
        while not self._closed:
            try:
                return os.read(self.fd, size)
            except BlockingIOError:
                await self._wait(readable=True)
            except OSError as err:
                if err.errno == errno.EIO:
                    return b""
                raise
        return b""

    def write(self, data: bytes) -> None:
        self._pending.extend(data)

    async def drain(self) -> None:
        while self._pending:
            if self._closed:
                raise ConnectionResetError("the serial line is closed")
            try:
                sent = os.write(self.fd, self._pending)
            except BlockingIOError:
                await self._wait(readable=False)
            else:
                del self._pending[:sent]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._closer, "close", None)
        if callable(close):
            close()
        elif self._closer is None:
            os.close(self.fd)

    async def wait_closed(self) -> None:
        """For symmetry with ``asyncio.StreamWriter``."""

    async def _wait(self, readable: bool) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        add, remove = (
            (loop.add_reader, loop.remove_reader) if readable
            else (loop.add_writer, loop.remove_writer)
        )
        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        add(self.fd, wake)
        try:
            await ready
        finally:
            remove(self.fd)


class TcpTransport:
    """A TCP connection to ProAccess Space (it listens; we connect, §1)."""

    def __init__(self, host: str, port: int, connect_timeout_s: float) -> None:
        self.host = host
        self.port = port
        self.connect_timeout_s = connect_timeout_s

    def describe(self) -> str:
        return "tcp://%s:%d" % (self.host, self.port)

    async def open(self) -> tuple[Reader, Writer]:
        async with asyncio.timeout(self.connect_timeout_s):
            return await asyncio.open_connection(self.host, self.port)


class SerialTransport:
    """An RS-232 line: 8 data bits, no parity, 1 stop bit, raw (no flow control)."""

    def __init__(self, path: str, baud_rate: int = 9600) -> None:
        self.path = path
        self.baud_rate = baud_rate

    def describe(self) -> str:
        return "serial://%s@%d" % (self.path, self.baud_rate)

    async def open(self) -> tuple[Reader, Writer]:
        port = open_serial(self.path, self.baud_rate)
        stream = FdStream(port.fileno(), closer=port)
        return stream, stream


def open_serial(path: str, baud_rate: int) -> serial.Serial:
    """Open and configure a serial line; raises OSError naming the path."""
    try:
        port = serial.Serial(
            path, baud_rate, bytesize=serial.EIGHTBITS, parity=serial.PARITY_NONE,
            stopbits=serial.STOPBITS_ONE, timeout=0, exclusive=True,
        )
    except (serial.SerialException, ValueError) as err:
        raise OSError("cannot open serial line %s: %s" % (path, err)) from err
    # pyserial leaves VMIN=0, where a read with no data returns b"" and looks
    # like the end of the stream; VMIN=1 makes it EAGAIN until a byte comes.
    try:
        attrs = termios.tcgetattr(port.fileno())
        attrs[6][termios.VMIN] = 1
        attrs[6][termios.VTIME] = 0
        termios.tcsetattr(port.fileno(), termios.TCSANOW, attrs)
    except termios.error as err:
        port.close()
        raise OSError("cannot configure serial line %s: %s" % (path, err)) from err
    return port


async def close_quietly(writer: Writer) -> None:
    """Close a stream and wait for it, ignoring a peer that is already gone."""
    with contextlib.suppress(ConnectionError, OSError):
        writer.close()
        wait_closed = getattr(writer, "wait_closed", None)
        if wait_closed is not None:
            await wait_closed()
