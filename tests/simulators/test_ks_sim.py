"""The KS simulator's identity server, authentication, routing, lists and OData, over TCP.

The simulator runs in-process (``KsServer``) on a real port; requests go through httpx2.
``tests/ks/_ks.py`` (``KsApi``: a token and ``{site}`` paths) is put on ``sys.path`` here.
"""

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given
from hypothesis import strategies as st

from simulators.ks import KsServer, defaults, odata
from simulators.ks.errors import KsError

from _ks import error_of


@pytest.fixture
def server() -> Iterator[KsServer]:
    with KsServer() as server:
        yield server


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _claims(token: str) -> dict[str, Any]:
    return dict(json.loads(_b64(token.split(".")[1])))


# -- identity ------------------------------------------------------------------------------

def test_password_grant_token_is_an_rs256_jwt_that_verifies_with_the_jwks(api: Any) -> None:
    reply = api.grant()
    assert reply["token_type"] == "Bearer" and reply["expires_in"] == 3600
    assert reply["scope"] == "user_api.full_access" and "refresh_token" not in reply
    discovery = api.http.get("/.well-known/openid-configuration").json()
    assert discovery["token_endpoint"] == api.url + "/connect/token"
    jwks = api.http.get(discovery["jwks_uri"]).json()
    (key,) = jwks["keys"]
    public = rsa.RSAPublicNumbers(int.from_bytes(_b64(key["e"])),
                                  int.from_bytes(_b64(key["n"]))).public_key()
    head, body, signature = reply["access_token"].split(".")
    public.verify(_b64(signature), (head + "." + body).encode(), padding.PKCS1v15(),
                  hashes.SHA256())  # raises if it does not verify
    header = json.loads(_b64(head))
    assert header == {"alg": "RS256", "kid": key["kid"], "typ": "at+jwt"}
    claims = _claims(reply["access_token"])
    assert claims["aud"] == "user_api" and claims["scope"] == ["user_api.full_access"]
    assert claims["client_id"] == defaults.CLIENT_ID and claims["amr"] == ["password"]
    assert claims["exp"] - claims["iat"] == 3600 and claims["iss"] == api.url
    assert claims["sub"] not in (defaults.SYSTEM_USER_ID, defaults.SYSTEM_SITE_USER_ID)
    assert {"tenant_id", "product_id", "identity_id", "nbf"} <= set(claims)


def test_client_credentials_in_the_form_work_like_basic_auth(api: Any) -> None:
    response = api.token_request(auth=None, client_id=defaults.CLIENT_ID,
                                 client_secret=defaults.CLIENT_SECRET)
    assert response.status_code == 200


@pytest.mark.parametrize(("auth", "form", "status", "error"), [
    (("keybridge", "wrong"), {}, 401, "invalid_client"),
    (("someone", defaults.CLIENT_SECRET), {}, 401, "invalid_client"),
    (None, {}, 401, "invalid_client"),
    ((defaults.CLIENT_ID, defaults.CLIENT_SECRET), {"password": "nope"}, 400, "invalid_grant"),
    ((defaults.CLIENT_ID, defaults.CLIENT_SECRET), {"username": "x@y.z"}, 400,
     "invalid_grant"),
    ((defaults.CLIENT_ID, defaults.CLIENT_SECRET), {"scope": "hardware_api"}, 400,
     "invalid_scope"),
    ((defaults.CLIENT_ID, defaults.CLIENT_SECRET),
     {"scope": "user_api.full_access core_api.full"}, 400, "invalid_scope"),
    ((defaults.CLIENT_ID, defaults.CLIENT_SECRET), {"grant_type": "authorization_code"}, 400,
     "unsupported_grant_type"),
    ((defaults.CLIENT_ID, defaults.CLIENT_SECRET),
     {"grant_type": "refresh_token", "refresh_token": "made-up"}, 400, "invalid_grant"),
])
def test_token_errors_are_oauth_bodies(api: Any, auth: Any, form: dict[str, str], status: int,
                                       error: str) -> None:
    response = api.token_request(auth=auth, **form)
    assert response.status_code == status
    assert response.json()["error"] == error and "error_description" in response.json()


def test_refresh_tokens_need_offline_access_and_are_single_use(api: Any) -> None:
    first = api.grant(scope="user_api.full_access openid offline_access")
    assert first["scope"] == "user_api.full_access openid offline_access"
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = api.token_request(**refresh)
    assert second.status_code == 200 and second.json()["refresh_token"] != refresh[
        "refresh_token"]
    assert api.get("sites", token=second.json()["access_token"]).status_code == 200
    assert api.token_request(**refresh).json()["error"] == "invalid_grant"  # used up


def test_a_client_credentials_token_is_refused_by_every_connect_call(api: Any) -> None:
    reply = api.token_request(grant_type="client_credentials")
    assert reply.status_code == 200 and "sub" not in _claims(reply.json()["access_token"])
    response = api.get("sites", token=reply.json()["access_token"])
    assert response.status_code == 401 and response.content == b""
    assert "client_credentials" in response.headers["WWW-Authenticate"]


def _tampered(token: str) -> str:
    head, _, signature = token.split(".")
    claims = _claims(token) | {"exp": 4_102_444_800}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return "%s.%s.%s" % (head, forged, signature)


@pytest.mark.parametrize("kind", ["missing", "garbage", "expired", "tampered"])
def test_bad_tokens_get_401_with_www_authenticate_and_an_empty_body(
        server: KsServer, api: Any, kind: str) -> None:
    if kind == "expired":
        server.cloud.knobs.update(token_ttl_s=0)
    token = {"missing": "", "garbage": "not.a.jwt",
             "expired": api.grant().get("access_token"),
             "tampered": _tampered(api.token)}[kind]
    response = api.get("sites/{site}/users", token=token)
    assert response.status_code == 401 and response.content == b""
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    if kind == "expired":
        assert "expired" in challenge


def test_tokens_live_in_real_time_not_in_the_simulated_clock(server: KsServer,
                                                             api: Any) -> None:
    server.cloud.clock.advance(30 * 86400)
    assert api.get("sites/{site}").status_code == 200


def test_identity_down_takes_every_identity_path_but_not_connect(server: KsServer,
                                                                 api: Any) -> None:
    server.cloud.knobs.update(identity_down=True)
    assert api.token_request().status_code == 503
    assert api.http.get("/.well-known/openid-configuration").status_code == 503
    assert api.get("sites").status_code == 200


# -- sites, hardware, roles ----------------------------------------------------------------

def test_sites_list_filters_and_the_bare_array_knob(server: KsServer, api: Any) -> None:
    listed = api.get("sites").json()
    assert listed["next_page_link"] is None and listed["count"] is None
    (site,) = listed["items"]
    assert (site["id"], site["site_uid"], site["customer_reference"]) == (
        defaults.SITE_ID, "SIMSITE01", "Camping Demo")
    found = api.get("sites", params={"$filter": "site_uid eq 'SIMSITE01'"}).json()["items"]
    assert [s["id"] for s in found] == [defaults.SITE_ID]
    assert api.get("sites", params={"$filter": "customer_reference eq 'Nope'"}).json()[
        "items"] == []
    server.cloud.knobs.update(sites_bare_array=True)
    assert [s["site_uid"] for s in api.get("sites").json()] == ["SIMSITE01"]


def test_the_site_object_and_its_subscription(api: Any) -> None:
    site = api.get("sites/{site}").json()
    assert site["time_zone"] == "Europe/Amsterdam" and site["subscribed_user_amount"] == 50
    assert site["active_user_amount"] == 1  # the system user holds a seat
    assert site["pin_enabled"] is True and site["installation_state"] == "released"
    assert site["store_events_ttl"] == "90.00:00:00"
    assert api.get("sites/{site}/subscription").json() == {
        "user_amount": 50, "type": "default", "features": ["events_streaming", "activity_log"]}


@pytest.mark.parametrize("site", ["SIMSITE01", "00000000-0000-0000-0000-000000000001"])
def test_anything_but_the_site_uuid_in_the_path_is_400_1100(api: Any, site: str) -> None:
    assert error_of(api.get("sites/%s/locks" % site)) == (400, 1100)


def test_a_system_user_without_site_admin_gets_403_2203(server: KsServer, api: Any) -> None:
    server.cloud.knobs.update(system_user_role="site_user")
    assert error_of(api.post("sites/{site}/guests", {"alias": "x"})) == (403, 2203)
    assert error_of(api.get("sites/{site}/users")) == (403, 2203)
    assert api.get("sites/{site}").status_code == 200
    me = api.get("sites/{site}/me").json()
    assert me["id"] == defaults.SYSTEM_SITE_USER_ID and me["user"]["id"] == (
        defaults.SYSTEM_USER_ID)
    assert [role["code"] for role in me["roles"]] == ["site_user"]


def test_locks_iqs_and_roles(api: Any) -> None:
    locks = api.get("sites/{site}/locks").json()["items"]
    assert [lock["customer_reference"] for lock in locks] == list(defaults.LOCK_NAMES)
    pitch = locks[0]
    assert pitch["id"] == defaults.lock_id("Pitch 12") and "site_id" not in pitch
    assert (pitch["lock_type"], pitch["online"], pitch["battery_level"]) == (
        "escutcheon_pin", True, "fresh")
    assert pitch["iq"]["id"] == defaults.IQ_ID and pitch["iq"]["is_online"] is True
    assert api.get("sites/{site}/locks/%s" % pitch["id"]).json() == pitch
    assert error_of(api.get("sites/{site}/locks/%s" % defaults.SITE_ID)) == (404, 2202)
    (iq,) = api.get("sites/{site}/iqs").json()["items"]
    assert iq["online"] is True and api.get("sites/{site}/iqs/%s" % iq["id"]).json() == iq
    codes = {role["code"] for role in api.get("sites/{site}/roles").json()["items"]}
    assert {"site_guest", "site_admin", "site_user"} <= codes


def test_locks_ids_are_stable_across_servers() -> None:
    with KsServer(locks=["Tent A"]) as one, KsServer(locks=["Tent A"]) as two:
        assert one.cloud.locks.keys() == two.cloud.locks.keys() == {defaults.lock_id("Tent A")}


# -- versions, lists, OData ----------------------------------------------------------------

def test_version_prefixes(api: Any) -> None:
    assert api.get("sites/{site}/users", version="v1.1").status_code == 200
    assert api.get("sites/{site}/users", version="v1.2").status_code == 200
    assert api.get("sites/{site}/entries", version="v1.1").status_code == 200
    assert api.get("sites/{site}/entries", version="v1.2").status_code == 405
    assert api.get("sites/{site}/users", version="v3").status_code == 404
    problem = api.get("sites/{site}/roles", version="v2")
    assert problem.status_code == 403
    assert problem.headers["Content-Type"].startswith("application/problem+json")
    assert {"type", "title", "status", "traceId"} <= set(problem.json())


def test_unknown_paths_and_methods(api: Any) -> None:
    assert api.get("sites/{site}/nothing").status_code == 404
    assert api.post("users/access", {}).status_code == 404  # guessed endpoints do not exist
    assert api.delete("sites/{site}/locks").status_code == 405


def test_lists_page_with_top_skip_and_absolute_next_page_links(api: Any) -> None:
    first = api.get("sites/{site}/locks", params={"$top": "4"}).json()
    assert len(first["items"]) == 4 and first["count"] is None
    link = first["next_page_link"]
    assert link.startswith(api.url + "/v1.2/sites/%s/locks?" % defaults.SITE_ID)
    second = api.http.get(link, headers={"Authorization": "Bearer " + api.token}).json()
    assert [lock["customer_reference"] for lock in second["items"]] == ["Shower block",
                                                                          "Main gate"]
    assert second["next_page_link"] is None
    counted = api.get("sites/{site}/locks", params={"$top": "1", "$inlinecount": "allpages"})
    assert counted.json()["count"] == 6


def test_the_page_size_knob_is_the_default_top(server: KsServer, api: Any) -> None:
    server.cloud.knobs.update(page_size=5)
    assert len(api.get("sites/{site}/locks").json()["items"]) == 5


@pytest.mark.parametrize(("path", "params"), [
    ("sites/{site}/users", {"$filter": "alias ne 'x'"}),
    ("sites/{site}/users", {"$filter": "email eq 'x'"}),
    ("sites/{site}/users", {"$filter": "alias eq x"}),
    ("sites/{site}/users", {"$filter": "alias eq 'x' or alias eq 'y'"}),
    ("sites/{site}/users", {"$orderby": "alias"}),
    ("sites/{site}/entries", {"$orderby": "date"}),
    ("sites/{site}/entries", {"$filter": "utc_date_time gt DateTime'2026-11-21T10:00:00Z'"}),
    ("sites/{site}/entries", {"$filter": "utc_date_time ge DateTime'yesterday'"}),
    ("sites/{site}/locks", {"$top": "-1"}),
])
def test_odata_outside_the_subset_is_400_1102(api: Any, path: str,
                                              params: dict[str, str]) -> None:
    version = "v1.1" if "entries" in path else "v1.2"
    assert error_of(api.get(path, params=params, version=version)) == (400, 1102)


def test_expand_is_refused_unless_the_knob_serves_it_on_access_groups(
        server: KsServer, api: Any) -> None:
    """No source shows KS taking ``$expand``: the simulator is no more lenient."""
    guest = api.guest("B-1")
    group = api.group("B-1")
    api.join(group, guest)
    expand = {"$expand": "users,locks,time_schedules"}
    assert error_of(api.get("sites/{site}/access_groups", params=expand)) == (400, 1102)
    assert error_of(api.get("sites/{site}/users", params=expand)) == (400, 1102)
    server.cloud.knobs.update(access_group_expand="ignored")
    assert api.get("sites/{site}/access_groups", params=expand).json()["items"] == [
        {"id": group, "customer_reference": "B-1"}]
    server.cloud.knobs.update(access_group_expand="served")
    (shown,) = api.get("sites/{site}/access_groups", params=expand).json()["items"]
    for part in ("users", "locks", "time_schedules"):
        alone = api.get("sites/{site}/access_groups/%s/%s" % (group, part)).json()["items"]
        assert shown[part] == alone and len(alone) == 1
    assert error_of(api.get("sites/{site}/access_groups",
                            params={"$expand": "users($top=1)"})) == (400, 1102)
    assert error_of(api.get("sites/{site}/users", params=expand)) == (400, 1102)


@given(st.text(max_size=60))
def test_a_filter_either_parses_or_is_1102(text: str) -> None:
    try:
        odata.parse_filter(text, {"alias": ("text", odata.EQ),
                                  "utc_date_time": ("instant", odata.RANGE)})
    except KsError as err:
        assert (err.status, err.code) == (400, 1102)


def test_bodies_must_be_json_objects_with_a_json_content_type(api: Any) -> None:
    assert error_of(api.request("POST", "sites/{site}/guests", content=b"{nope",
                              headers={"Content-Type": "application/json"})) == (400, 1100)
    assert error_of(api.post("sites/{site}/guests", ["alias"])) == (400, 1100)
    assert api.request("POST", "sites/{site}/guests", content=b"alias=x",
                       headers={"Content-Type": "text/plain"}).status_code == 415
