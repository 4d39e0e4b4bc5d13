"""The KS simulator's fault knobs: outage, random 500s, delay, 429 with Retry-After and
violation recording, hung requests (with and without effect), and the admin knob API."""

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from simulators.ks import KnobError, KsServer

import _ks
from _ks import error_of

WAIT_S = 10.0


class FakeMonotonic:
    """The Retry-After window's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def server(monotonic: FakeMonotonic) -> Iterator[KsServer]:
    with KsServer(monotonic=monotonic) as server:
        yield server


def test_outage_answers_every_connect_path_503_2201(server: KsServer, api: Any) -> None:
    server.cloud.knobs.update(outage=True)
    assert error_of(api.get("sites")) == (503, 2201)
    assert error_of(api.post("sites/{site}/guests", {"alias": "x"})) == (503, 2201)
    assert api.token_request().status_code == 200  # identity is another service
    assert api.http.get("/_sim/state").status_code == 200
    assert server.cloud.state()["users"][1:] == []  # nothing was carried out


def test_error_rate_is_seeded_and_repeatable(server: KsServer, api: Any) -> None:
    def pattern() -> list[int]:
        return [api.get("sites").status_code for _ in range(20)]

    server.cloud.knobs.update(error_rate=0.5, seed=7)
    first = pattern()
    assert set(first) == {200, 500}
    server.cloud.knobs.update(seed=8)
    server.cloud.knobs.update(seed=7)
    assert pattern() == first
    server.cloud.knobs.update(error_rate=1.0)
    assert error_of(api.get("sites")) == (500, 2201)


def test_delay_holds_every_connect_answer(server: KsServer, api: Any) -> None:
    server.cloud.knobs.update(delay_s=0.3)
    started = time.monotonic()
    assert api.get("sites").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_rate_limit_answers_429_with_retry_after_and_records_violations(
        server: KsServer, api: Any, monotonic: FakeMonotonic) -> None:
    server.cloud.knobs.update(rate_limit={"count": 2, "retry_after_s": 5})
    first = api.get("sites")
    assert first.status_code == 429 and first.headers["Retry-After"] == "5"
    assert server.traffic.state()["rate_limit_violations"] == []
    monotonic.now += 2  # too early
    assert api.get("sites").status_code == 429
    (violation,) = server.traffic.state()["rate_limit_violations"]
    assert violation["request"] == "GET /sites" and violation["early_by_s"] == 3.0
    monotonic.now += 5  # waited as told
    assert api.get("sites").status_code == 200
    state = api.http.get("/_sim/state").json()
    assert len(state["rate_limit_violations"]) == 1
    assert state["knobs"]["rate_limit"] == {"count": 0, "retry_after_s": 5.0}


def test_a_hung_request_with_effect_is_carried_out_and_never_answered(server: KsServer,
                                                                      api: Any) -> None:
    server.cloud.knobs.update(hang=[{"method": "POST", "path_contains": "/access_groups",
                                     "after_effect": True, "count": 1}])
    outcome: list[BaseException] = []

    def create() -> None:
        try:
            api.post("sites/{site}/access_groups", {"customer_reference": "BK-hang"})
        except httpx2.HTTPError as err:
            outcome.append(err)

    worker = threading.Thread(target=create)
    worker.start()
    assert server.wait_hung(1, WAIT_S)
    state = api.http.get("/_sim/state").json()
    assert state["hung"] == 1 and state["hung_requests"][0]["request"] == (
        "POST /sites/{site}/access_groups")
    assert [g["customer_reference"] for g in state["access_groups"]] == ["BK-hang"]
    assert api.http.post("/_sim/release").json() == {"released": 1}
    worker.join(WAIT_S)
    assert not worker.is_alive()
    assert isinstance(outcome[0], httpx2.RemoteProtocolError)
    assert api.post("sites/{site}/access_groups", {"customer_reference": "x"}
                    ).status_code == 200  # the rule's count is used up
    assert server.cloud.state()["knobs"]["hang"] == []


def test_a_hung_request_without_effect_changes_nothing(server: KsServer) -> None:
    server.cloud.knobs.update(hang=[{"method": "PUT", "path_contains": "/pin"}])
    with _ks.KsApi(server.url) as api:
        guest = api.guest("BK-nohang")
        errors: list[BaseException] = []
        worker = threading.Thread(target=lambda: _capture(errors, api.pin, guest))
        worker.start()
        assert server.wait_hung(1, WAIT_S)
        assert [u["pin"] for u in server.cloud.state()["users"] if u["alias"] == "BK-nohang"
                ] == [None]
        assert server.release() == 1
        worker.join(WAIT_S)
        assert isinstance(errors[0], httpx2.RemoteProtocolError)


def _capture(errors: list[BaseException], call: Any, *args: Any) -> None:
    try:
        call(*args)
    except httpx2.HTTPError as err:
        errors.append(err)


def test_stopping_the_server_lets_hung_requests_go(monotonic: FakeMonotonic) -> None:
    server = KsServer(knobs={"hang": [{"path_contains": "/sites"}]}, monotonic=monotonic)
    server.start()
    errors: list[BaseException] = []
    with _ks.KsApi(server.url) as api:
        worker = threading.Thread(target=lambda: _capture(errors, api.get, "sites"))
        worker.start()
        assert server.wait_hung(1, WAIT_S)
        server.stop()
        worker.join(WAIT_S)
    assert not worker.is_alive() and isinstance(errors[0], httpx2.HTTPError)


def test_a_stopped_server_restarts_on_the_same_port_with_its_state(
        monotonic: FakeMonotonic) -> None:
    server = KsServer(monotonic=monotonic).start()
    url = server.url
    with _ks.KsApi(url) as api:
        api.guest("BK-restart")
        server.stop()
        with pytest.raises(httpx2.TransportError):
            api.get("sites")
        server.start()
        try:
            assert server.url == url
            found = api.get("sites/{site}/users", params={"$filter": "alias eq 'BK-restart'"})
            assert len(found.json()["items"]) == 1  # the same token is still good
        finally:
            server.stop()


def test_wait_over_http_blocks_until_requests_arrive(server: KsServer, api: Any) -> None:
    worker = threading.Thread(target=lambda: [api.get("sites") for _ in range(3)])
    worker.start()
    answer = api.http.post("/_sim/wait", json={"requests": {"GET /sites": 3},
                                               "timeout_s": WAIT_S}).json()
    worker.join(WAIT_S)
    assert answer["ok"] is True and answer["requests"]["GET /sites"] >= 3
    assert api.http.post("/_sim/wait", json={"hung": 1, "timeout_s": 0.05}).json()[
        "ok"] is False


def test_requests_are_counted_by_template_and_logged(server: KsServer, api: Any) -> None:
    api.guest("BK-count")
    api.get("sites/{site}/locks")
    api.get("sites/{site}/entries", version="v1.1")
    counts = server.traffic.state()["requests"]
    assert counts["POST /sites/{site}/guests"] == 1
    assert counts["PATCH /sites/{site}/users/{site_user}"] == 1
    assert counts["GET /sites/{site}/entries"] == 1 and counts["POST /connect/token"] == 1
    log = api.http.get("/_sim/requests").json()
    assert [(e["request"], e["status"]) for e in log][-2:] == [
        ("GET /sites/{site}/locks", 200), ("GET /sites/{site}/entries", 200)]


@pytest.mark.parametrize("knobs", [
    {"outage": 1}, {"nonsense": True}, {"error_rate": 2}, {"delay_s": -1},
    {"rate_limit": {"count": 1, "every": 2}}, {"hang": [{"path": "/x"}]}, {"page_size": 0},
])
def test_bad_knobs_are_refused_and_nothing_changes(server: KsServer, api: Any,
                                                   knobs: dict[str, Any]) -> None:
    before = server.cloud.knobs.as_dict()
    response = api.http.post("/_sim/knobs", json={**knobs, "outage": True} if "outage" not in
                             knobs else knobs)
    assert response.status_code == 400 and response.json()["error"]
    assert server.cloud.knobs.as_dict() == before
    with pytest.raises(KnobError):
        server.cloud.knobs.update(**knobs)


def test_knobs_merge_over_http_and_reset_restores_everything(server: KsServer,
                                                             api: Any) -> None:
    answer = api.http.post("/_sim/knobs", json={"delay_s": 0.01, "page_size": 2}).json()
    assert answer["delay_s"] == 0.01 and answer["page_size"] == 2 and answer["outage"] is False
    api.guest("BK-reset")
    assert api.http.post("/_sim/reset").status_code == 200
    state = api.http.get("/_sim/state").json()
    assert state["knobs"]["page_size"] == 100 and len(state["users"]) == 1
    assert state["requests"] == {}
