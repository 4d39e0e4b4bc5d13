"""The HTTP server: one port for identity, the Connect API and the ``/_sim`` admin API.

Stdlib only: a ``ThreadingHTTPServer`` (one thread per connection, HTTP/1.1 keep-alive)
in a background thread, so a test holds it in-process over real TCP::

    with KsServer(port=0) as server:
        server.url        # "http://127.0.0.1:NNNN"
        server.cloud      # the state (KsCloud): knobs, clock, users, keypad, ...

Every Connect request goes through the fault knobs in a fixed order — counted (and
checked against an announced Retry-After), ``delay_s``, ``rate_limit`` (429),
``outage`` (503), ``error_rate`` (500), ``hang`` rules — before routing. Identity paths
only know ``identity_down``; ``/_sim`` paths never fault. One line per request goes to
``log`` (method, path, status): request bodies, PINs and tokens never do.
"""

import socket
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from simulators.ks import defaults, routes
from simulators.ks.admin import Admin
from simulators.ks.clock import SimClock
from simulators.ks.cloud import KsCloud
from simulators.ks.errors import KsError
from simulators.ks.identity import Identity
from simulators.ks.traffic import Traffic
from simulators.ks.wire import Request, Response, error_response

ADMIN_PREFIX = "/_sim/"


class KsServer:
    """The simulated Salto KS cloud on a TCP port.

    Args:
        host: address to listen on.
        port: port to listen on; 0 picks a free one (see ``url``).
        locks: the site's lock names.
        seats: the site's ``subscribed_user_amount``.
        time_zone: the site's time zone.
        knobs: initial knob values (``Knobs.update`` names).
        log: called with one line per request; None for silence.
        wall: real time source for the clock and tokens (tests).
        monotonic: real time source for Retry-After windows (tests).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 locks: Sequence[str] = defaults.LOCK_NAMES, seats: int = defaults.SEATS,
                 time_zone: str = defaults.TIME_ZONE, knobs: dict[str, Any] | None = None,
                 log: Callable[[str], None] | None = None,
                 wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.address = (host, port)
        self.cloud = KsCloud(locks=locks, seats=seats, time_zone=time_zone,
                             clock=SimClock(wall))
        self.cloud.knobs.update(**(knobs or {}))
        self.identity = Identity(self.cloud.knobs, wall)
        self.traffic = Traffic(self.cloud.knobs, monotonic)
        self.admin = Admin(self.cloud, self.identity, self.traffic)
        self._log = log
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> "KsServer":
        """Serve; after a ``stop()`` it starts again on the same port, with its state."""
        self.traffic.stopped = False
        self._httpd = _HttpServer(self.address, _Handler)
        self._httpd.app = self
        self.address = (self.address[0], self._httpd.server_address[1])
        self._httpd.authority = self.url.removeprefix("http://")
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        name="ks-sim", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        host, port = self._httpd.server_address[:2]
        return "http://%s:%d" % (host if isinstance(host, str) else host.decode(), port)

    def stop(self) -> None:
        """Stop serving; hung requests are let go and their connections closed. The state
        stays: ``start()`` serves it again on the same port."""
        self.traffic.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._httpd = self._thread = None

    def __enter__(self) -> "KsServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- test helpers --------------------------------------------------------------------

    def release(self) -> int:
        """Release hung requests; how many there were."""
        return self.traffic.release()

    def wait_hung(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until ``count`` requests hang; False on timeout."""
        return self.traffic.wait(hung=count, timeout=timeout)

    # -- one request ---------------------------------------------------------------------

    def handle(self, request: Request) -> Response | None:
        """The response to ``request``, or None to close the connection without one."""
        if request.path.startswith(ADMIN_PREFIX):
            return self.admin.handle(request)
        key = routes.template_key(request.method, request.path)
        identity = routes.is_identity(request.path)
        self.traffic.arrive(key, request.method, request.path, connect=not identity)
        if identity:
            if self.cloud.knobs.identity_down:
                return Response(503, b"Service Unavailable", [("Content-Type", "text/plain")])
            return routes.identity_response(self.identity, request)
        return self._connect(request)

    def _connect(self, request: Request) -> Response | None:
        knobs = self.cloud.knobs
        if knobs.delay_s > 0:
            time.sleep(knobs.delay_s)
        retry_after = self.traffic.rate_limited()
        if retry_after is not None:
            body = KsError(429, 429, "Rate limit is exceeded. Try again in %d seconds."
                           % retry_after)
            response = error_response(body)
            response.headers.append(("Retry-After", str(retry_after)))
            return response
        if knobs.outage:
            return error_response(KsError(503, 2201, "Service unavailable"))
        if self.traffic.failed_at_random():
            return error_response(KsError(500, 2201, "Internal error"))
        rule = self.traffic.hang_rule(request.method, request.path)
        if rule is not None:
            if rule["after_effect"]:
                routes.dispatch(self.cloud, self.identity, request)
            self.traffic.hang({"method": request.method, "path": request.path,
                               "after_effect": rule["after_effect"],
                               "request": routes.template_key(request.method, request.path)})
            return None
        return routes.dispatch(self.cloud, self.identity, request)

    def served(self, request: Request, target: str, status: int | None) -> None:
        """Log one answered (or withheld) request."""
        if not request.path.startswith(ADMIN_PREFIX):
            self.traffic.finished({"method": request.method, "path": request.path,
                                   "request": routes.template_key(request.method,
                                                                  request.path),
                                   "status": status})
        if self._log is not None:
            self._log("%s %s -> %s" % (request.method, target, status or "withheld"))


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: KsServer
    authority = ""  # "host:port", for requests without a Host header


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "KsSimulator/1.0"
    sys_version = ""
    timeout = 60
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        # Headers and body are written separately: without this, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every keep-alive exchange.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Silence: ``KsServer.served`` logs one line per request instead."""

    def _serve(self) -> None:
        app = self.server.app
        if app.traffic.stopped:
            self.close_connection = True
            return
        request = Request.build(self.command, self.path, self.headers.items(), self._body(),
                                self.server.authority)
        try:
            response = app.handle(request)
        except Exception:  # a simulator bug: answer 500 and say where
            traceback.print_exc()
            response = error_response(KsError(500, 2201, "Simulator error (see its log)"))
        app.served(request, _loggable(self.path), response.status if response else None)
        if response is None:
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():
                pass  # trailers
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""


def _loggable(target: str) -> str:
    """The request target for the log, with any ``access_token`` query value blanked."""
    path, _, query = target.partition("?")
    if "access_token=" not in query:
        return target
    parts = [p if not p.startswith("access_token=") else "access_token=***"
             for p in query.split("&")]
    return path + "?" + "&".join(parts)
