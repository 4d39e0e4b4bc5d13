"""The access token against the KS simulator over TCP: caching, renewal, one re-auth on a
401, and every way the identity server can refuse. Time is injected: nothing waits."""

import asyncio
import logging
import time

import pytest

from appliance.ks import errors
from appliance.ks.client import KsClient
from simulators.ks import defaults
from simulators.ks.server import KsServer

from _ks import knobs, settings_for


class Wall:
    """The simulator's real time, shiftable: moving it ahead expires tokens it issued."""

    def __init__(self):
        self.offset_s = 0.0

    def __call__(self):
        return time.time() + self.offset_s


@pytest.fixture
def wall():
    return Wall()


@pytest.fixture
def server(wall):
    with KsServer(host="127.0.0.1", port=0, wall=wall) as server:
        yield server


def requests(server):
    """(method, path, status) of every request the simulator answered."""
    return [(r["method"], r["path"], r["status"])
            for r in server.traffic.requests_log()]


TOKEN = ("POST", "/connect/token", 200)
SITES = ("GET", "/v1.2/sites", 200)


async def test_the_token_is_cached_and_renewed_before_it_expires(server, client, fake):
    knobs(server, token_ttl_s=300)  # margin 120 s: renewed at 180 s
    await client.sites()
    fake.now = 179.9
    await client.sites()
    assert client.auth.fetches == 1
    fake.now = 180.0
    await client.sites()
    assert client.auth.fetches == 2
    assert requests(server) == [TOKEN, SITES, SITES, TOKEN, SITES]


async def test_a_short_lived_token_is_renewed_at_half_life(server, client, fake):
    knobs(server, token_ttl_s=100)  # shorter than two margins
    await client.sites()
    fake.now = 49.9
    await client.sites()
    fake.now = 50.0
    await client.sites()
    assert client.auth.fetches == 2


async def test_concurrent_callers_share_one_token_fetch(server, client):
    await asyncio.gather(*(client.sites() for _ in range(5)))
    assert client.auth.fetches == 1
    assert requests(server).count(TOKEN) == 1


async def test_an_expired_token_is_renewed_once_and_the_request_retried(server, client, wall):
    await client.sites()
    wall.offset_s = 7200  # the cached token died server-side (the client could not know)
    assert len(await client.sites()) == 1
    assert requests(server) == [TOKEN, SITES, ("GET", "/v1.2/sites", 401), TOKEN, SITES]


async def test_a_401_that_persists_is_an_auth_error(server, client):
    knobs(server, token_ttl_s=0)  # every token is dead on arrival
    with pytest.raises(errors.KsAuthError) as caught:
        await client.sites()
    assert caught.value.error == "invalid_token"
    assert str(caught.value).startswith("GET /v1.2/sites: the API refused a fresh token")
    assert requests(server) == [TOKEN, ("GET", "/v1.2/sites", 401)] * 2


@pytest.mark.parametrize(("override", "error"), [
    ({"password": "bad-password"}, "invalid_grant"),
    ({"username": "someone@else.test"}, "invalid_grant"),
    ({"client_secret": "wrong-secret"}, "invalid_client"),
    ({"client_id": "other"}, "invalid_client"),
    ({"scope": "core_api.full"}, "invalid_scope"),
])
async def test_refused_credentials_are_an_auth_error(server, override, error):
    async with KsClient(settings_for(server, **override)) as client:
        with pytest.raises(errors.KsAuthError) as caught:
            await client.sites()
    assert caught.value.error == error
    text = str(caught.value)
    assert text.startswith("POST /connect/token: identity server refused the login")
    for secret in ("bad-password", "wrong-secret", defaults.PASSWORD, defaults.CLIENT_SECRET):
        assert secret not in text
    assert [r[1] for r in requests(server)] == ["/connect/token"]  # the API is never asked


async def test_identity_down_is_unavailable(server, client):
    knobs(server, identity_down=True)
    with pytest.raises(errors.KsUnavailable) as caught:
        await client.sites()
    assert (caught.value.status, caught.value.request_may_have_run) == (503, False)
    assert "identity server answered 503" in str(caught.value)
    assert requests(server) == [("POST", "/connect/token", 503)]


async def test_identity_down_at_renewal_keeps_the_current_token_while_it_lives(
        server, client, fake):
    knobs(server, token_ttl_s=300)
    await client.sites()
    knobs(server, identity_down=True)
    fake.now = 250  # due for renewal, still valid
    assert len(await client.sites()) == 1
    fake.now = 300  # dead now
    with pytest.raises(errors.KsUnavailable, match="identity server answered 503"):
        await client.sites()


async def test_an_unreachable_identity_server(server):
    async with KsClient(settings_for(server, identity_url="http://127.0.0.1:9")) as client:
        with pytest.raises(errors.KsUnavailable) as caught:
            await client.sites()
    assert caught.value.request_may_have_run is False
    assert "identity server http://127.0.0.1:9 unreachable: ConnectError" in str(caught.value)


async def test_no_secret_token_or_pin_reaches_a_log_line(server, client, caplog):
    caplog.set_level(logging.DEBUG)
    knobs(server, token_ttl_s=0)
    with pytest.raises(errors.KsAuthError):
        await client.sites()
    knobs(server, token_ttl_s=3600)
    guest = await client.create_guest(defaults.SITE_ID, "B-1001", None)
    pin = await client.put_pin(defaults.SITE_ID, guest["id"])
    token = await client.auth.token()
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "PUT /v1.2/sites/{}/users/{}/pin -> 200" in text
    for secret in (defaults.CLIENT_SECRET, defaults.PASSWORD, token, pin):
        assert secret not in text
