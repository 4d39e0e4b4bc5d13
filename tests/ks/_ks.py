"""The KS simulator for tests: as a real process (``KsProcess``) and a small Connect client
(``KsApi``) for tests that talk to it directly.

``KsProcess`` runs ``python -m simulators.ks --listen 127.0.0.1:0``, reads the URL from the
line it announces first, then keeps draining its stdout (one line per request) into
``ks-sim.log`` in the test's directory. Its ``/_sim`` admin API is called with urllib, so
the harness needs nothing but the standard library. ``tests/ks`` has no ``__init__.py``:
pytest puts this directory on ``sys.path`` for the tests here; tests elsewhere insert it
themselves (as ``tests/simulators/test_ks_sim*.py`` do).
"""

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx2

from appliance.ks.settings import KsSettings
from simulators.ks import defaults

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0
READY = "KS simulator listening on "
ALWAYS = {"monday": True, "tuesday": True, "wednesday": True, "thursday": True, "friday": True,
          "saturday": True, "sunday": True, "start_time": "00:00:00", "end_time": "23:59:59"}


class FakeTime:
    """Injected time for a client and the simulator alike: nothing really waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def settings_for(server: Any, **overrides: Any) -> KsSettings:
    """KsSettings for the simulator's fixed account on ``server`` (anything with ``url``)."""
    values = {"identity_url": server.url, "api_url": server.url,
              "client_id": defaults.CLIENT_ID, "client_secret": defaults.CLIENT_SECRET,
              "username": defaults.USERNAME, "password": defaults.PASSWORD,
              "site": defaults.SITE_CUSTOMER_REFERENCE, **overrides}
    return KsSettings(**values)


def knobs(server: Any, **values: Any) -> None:
    """Set knobs on an in-process ``KsServer``."""
    with server.cloud.lock:
        server.cloud.knobs.update(**values)


class KsProcess:
    """``python -m simulators.ks`` on a free port; its request log in ``ks-sim.log``.

    Args:
        directory: where the log goes.
        args: more command-line arguments (``"--seats", "3"``).
    """

    def __init__(self, directory: Path, *args: str) -> None:
        self.directory = directory
        self.args = args
        self.log_file = directory / "ks-sim.log"
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self._ready = threading.Event()
        self._drain: threading.Thread | None = None

    def start(self) -> "KsProcess":
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simulators.ks", "--listen", "127.0.0.1:0", *self.args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._drain = threading.Thread(target=self._read, name="ks-sim-log", daemon=True)
        self._drain.start()
        if not self._ready.wait(START_TIMEOUT_S) or not self.url:
            self.close()
            raise AssertionError("the KS simulator did not announce its URL; it said:\n%s"
                                 % self.log_text()[-4000:])
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with open(self.log_file, "a") as log:
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                if not self._ready.is_set() and line.startswith(READY):
                    self.url = line[len(READY):].strip()
                    self._ready.set()
        self._ready.set()  # it exited: start() stops waiting

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def __enter__(self) -> "KsProcess":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """SIGTERM, then wait; the log is complete afterwards."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._drain is not None:
            self._drain.join(5)
        if process.stdout is not None:
            process.stdout.close()

    # -- the /_sim admin API ---------------------------------------------------------------

    def admin(self, path: str, body: dict[str, Any] | None = None,
              timeout: float = 10.0) -> Any:
        """GET ``/_sim/<path>`` (no body) or POST it with a JSON body; the JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            "%s/_sim/%s" % (self.url, path.lstrip("/")), data=data,
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            with err:
                detail = err.read().decode(errors="replace")
            raise AssertionError("/_sim/%s answered %d: %s" % (path, err.code, detail)) from None

    def state(self) -> dict[str, Any]:
        return dict(self.admin("state"))

    def requests(self) -> list[dict[str, Any]]:
        return list(self.admin("requests"))

    def knobs(self, **values: Any) -> dict[str, Any]:
        return dict(self.admin("knobs", values))

    def clock(self, set: str | None = None, advance_s: float | None = None,
              real: bool = False, frozen: bool | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"real": real} if real else {}
        if set is not None:
            body["set"] = set
        if advance_s is not None:
            body["advance_s"] = advance_s
        if frozen is not None:
            body["frozen"] = frozen
        return dict(self.admin("clock", body))

    def keypad(self, lock: str, pin: str, at: str | None = None) -> dict[str, Any]:
        body = {"lock": lock, "pin": pin} | ({"at": at} if at else {})
        return dict(self.admin("keypad", body))

    def incident(self, lock: str, type: str, **extra: Any) -> dict[str, Any]:
        return dict(self.admin("incident", {"lock": lock, "type": type, **extra}))

    def lock(self, lock: str, **values: Any) -> dict[str, Any]:
        return dict(self.admin("lock", {"lock": lock, **values}))

    def site(self, **values: Any) -> dict[str, Any]:
        return dict(self.admin("site", values))

    def release(self) -> int:
        return int(self.admin("release", {})["released"])

    def reset(self) -> None:
        self.admin("reset", {})

    def wait(self, hung: int | None = None, requests: dict[str, int] | None = None,
             timeout: float = 10.0) -> bool:
        """Block (server side) until ``hung`` requests hang / request counts are reached."""
        body: dict[str, Any] = {"timeout_s": timeout}
        if hung is not None:
            body["hung"] = hung
        if requests:
            body["requests"] = requests
        return bool(self.admin("wait", body, timeout=timeout + 5)["ok"])

    def wait_hung(self, count: int = 1, timeout: float = 10.0) -> bool:
        return self.wait(hung=count, timeout=timeout)


def error_of(response: httpx2.Response) -> tuple[int, int]:
    """(HTTP status, KS ErrorCode) of a refusal."""
    return response.status_code, response.json()["ErrorCode"]


class KsApi:
    """A test's Connect client: sync httpx2, a password-grant token, ``{site}`` in paths.

    ``api.get("sites/{site}/users")`` goes to ``/v1.2/sites/<SITE_ID>/users`` with the
    bearer token; ``version=`` picks another prefix, ``token=`` another token ("" for none).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx2.Client(base_url=url, timeout=10)
        self.token = self.grant()["access_token"]

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "KsApi":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def grant(self, **form: str) -> dict[str, Any]:
        """A password grant (``form`` overrides fields); asserts it succeeds."""
        response = self.token_request(**form)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def token_request(self, auth: tuple[str, str] | None = (defaults.CLIENT_ID,
                                                             defaults.CLIENT_SECRET),
                      **form: str) -> httpx2.Response:
        data = {"grant_type": "password", "username": defaults.USERNAME,
                "password": defaults.PASSWORD, **form}
        return self.http.post("/connect/token", data=data, auth=auth)

    def request(self, method: str, path: str, *, version: str = "v1.2",
                token: str | None = None, **kwargs: Any) -> httpx2.Response:
        token = self.token if token is None else token
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = "Bearer " + token
        target = "/%s/%s" % (version, path.replace("{site}", defaults.SITE_ID))
        return self.http.request(method, target, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx2.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx2.Response:
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> httpx2.Response:
        return self.request("PATCH", path, json=body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> httpx2.Response:
        return self.request("PUT", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx2.Response:
        return self.request("DELETE", path, **kwargs)

    # -- the booking recipe (notes §3.5), one step at a time -------------------------------

    def guest(self, alias: str, expires_at: str | None = None, use_pin: bool = True
              ) -> dict[str, Any]:
        """POST /guests, then PATCH use_pin; the site user as the PATCH returned it."""
        body = {"alias": alias} | ({"expires_at": expires_at} if expires_at else {})
        created = self.post("sites/{site}/guests", body)
        assert created.status_code == 201, created.text
        if not use_pin:
            return dict(created.json())
        patched = self.patch("sites/{site}/users/%s" % created.json()["id"], {"use_pin": True})
        assert patched.status_code == 200, patched.text
        return dict(patched.json())

    def group(self, name: str, locks: tuple[str, ...] = ("Pitch 12",),
              schedule: dict[str, Any] | None = ALWAYS) -> str:
        """An access group with ``locks`` (names) and ``schedule`` (None: none); its id."""
        created = self.post("sites/{site}/access_groups", {"customer_reference": name})
        assert created.status_code == 200, created.text
        group = created.json()["id"]
        for lock in locks:
            added = self.post("sites/{site}/access_groups/%s/locks" % group,
                              {"lock_id": defaults.lock_id(lock)})
            assert added.status_code == 200, added.text
        if schedule is not None:
            made = self.post("sites/{site}/access_groups/%s/time_schedules" % group, schedule,
                             version="v1.1")
            assert made.status_code == 200, made.text
        return str(group)

    def join(self, group: str, guest: dict[str, Any]) -> None:
        added = self.post("sites/{site}/access_groups/%s/users" % group,
                          {"user_id": guest["user"]["id"]})
        assert added.status_code == 200, added.text

    def pin(self, guest: dict[str, Any]) -> str:
        issued = self.put("sites/{site}/users/%s/pin" % guest["id"], {})
        assert issued.status_code == 200, issued.text
        return str(issued.json())
