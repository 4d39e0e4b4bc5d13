"""Routing: identity paths, Connect version prefixes, bearer auth, and error bodies.

Connect paths carry a version prefix per endpoint (notes §3): every resource answers on
``/v1.1`` and ``/v1.2`` except entries (and incidents, by analogy [U]), which answer on
``/v1.1`` only (``/v1.2/.../entries`` -> 405, as measured); ``/v2/...`` is 403 with an
RFC 7807 problem body. A path that matches no template is 404 with an empty body, a known
path with the wrong method 405 — both before authentication, as ASP.NET routes first.
Then the bearer token (401, ``WWW-Authenticate``, empty body), a JSON content type for
bodies (else 415), the site id (UUID only, else 400/1100), the system user's role (not
site_admin -> 403/2203 under the site, except the site itself and the caller's own
record), and the handler, under the cloud's lock. ``KsError`` becomes
``{"ErrorCode", "Message"}``.
"""

import json
import urllib.parse
import uuid
from collections.abc import Callable

from simulators.ks import api_groups, api_site, api_users
from simulators.ks.cloud import KsCloud
from simulators.ks.errors import KsError, forbidden
from simulators.ks.identity import Identity, OAuthError, TokenRejected
from simulators.ks.wire import Call, Request, Response, error_response, json_response

Handler = Callable[[Call], Response]
TABLE: list[tuple[str, str, Handler]] = [*api_site.ROUTES, *api_users.ROUTES,
                                         *api_groups.ROUTES]
VERSIONS = ("v1.1", "v1.2")
V11_ONLY = frozenset({"sites/{site}/entries", "sites/{site}/incidents"})
OPEN_TO_MEMBERS = frozenset({"sites/{site}", "sites/{site}/me"})  # no site_admin needed
IDENTITY_PATHS = ("/connect/", "/.well-known/")
TOKEN_PATH = "/connect/token"  # noqa: S105 - a path, not a password
DISCOVERY_PATH = "/.well-known/openid-configuration"


def _match(template: str, segments: list[str]) -> dict[str, str] | None:
    parts = template.split("/")
    if len(parts) != len(segments) or not all(segments):
        return None
    params = {}
    for part, segment in zip(parts, segments, strict=True):
        if part.startswith("{"):
            params[part[1:-1]] = segment
        elif part != segment:
            return None
    return params


def resolve(method: str, path: str
            ) -> tuple[str, str | None, Handler | None, dict[str, str], list[str]]:
    """(version, template, handler, params, methods of the template) for a Connect path."""
    version, _, rest = path.strip("/").partition("/")
    methods: list[str] = []
    for route_method, template, handler in TABLE:
        params = _match(template, rest.split("/"))
        if params is None:
            continue
        methods.append(route_method)
        if route_method == method:
            return version, template, handler, params, methods
    return version, None, None, {}, methods


def is_identity(path: str) -> bool:
    return path.startswith(IDENTITY_PATHS)


def template_key(method: str, path: str) -> str:
    """How the request log counts a request: "POST /sites/{site}/guests"."""
    if is_identity(path):
        return "%s %s" % (method, path)
    version, template, _, _, _ = resolve(method, path)
    if version == "v2":
        return "%s /v2" % method
    return "%s /%s" % (method, template) if template and version in VERSIONS else (
        "%s (unmatched)" % method)


# -- identity ----------------------------------------------------------------------------

def identity_response(identity: Identity, request: Request) -> Response:
    if request.path == TOKEN_PATH and request.method == "POST":
        return _token(identity, request)
    if request.path == DISCOVERY_PATH and request.method == "GET":
        return json_response(200, identity.discovery(request.base_url))
    if request.path == DISCOVERY_PATH + "/jwks" and request.method == "GET":
        return json_response(200, identity.jwks())
    return Response(404)


def _token(identity: Identity, request: Request) -> Response:
    content_type = request.header("content-type") or ""
    form = dict(urllib.parse.parse_qsl(request.body.decode("utf-8", "replace")))
    try:
        if not content_type.startswith("application/x-www-form-urlencoded"):
            raise OAuthError(400, "invalid_request", "send application/x-www-form-urlencoded")
        reply = identity.token(form, request.header("authorization"), request.base_url)
    except OAuthError as err:
        return json_response(err.status, err.body, [("Cache-Control", "no-store")])
    return json_response(200, reply, [("Cache-Control", "no-store"), ("Pragma", "no-cache")])


# -- Connect -------------------------------------------------------------------------------

def _unauthorized(description: str) -> Response:
    challenge = 'Bearer error="invalid_token", error_description="%s"' % description.replace(
        '"', "'")
    return Response(401, b"", [("WWW-Authenticate", challenge)])


def _problem(status: int, title: str) -> Response:
    body = {"type": "https://httpstatuses.io/%d" % status, "title": title, "status": status,
            "traceId": "00-%s-%s-00" % (uuid.uuid4().hex, uuid.uuid4().hex[:16])}
    return Response(status, json.dumps(body).encode(),
                    [("Content-Type", "application/problem+json; charset=utf-8")])


def dispatch(cloud: KsCloud, identity: Identity, request: Request) -> Response:
    """Answer one Connect API request."""
    version, template, handler, params, methods = resolve(request.method, request.path)
    if version not in (*VERSIONS, "v2"):
        return Response(404)
    if version != "v2" and handler is None:
        return Response(405, headers=[("Allow", ", ".join(methods))]) if methods else (
            Response(404))
    if template in V11_ONLY and version != "v1.1":
        return Response(405)
    try:
        identity.validate(request.header("authorization"))
    except TokenRejected as err:
        return _unauthorized(str(err))
    if version == "v2" or handler is None or template is None:
        return _problem(403, "Forbidden")
    if request.body.strip() and not (request.header("content-type") or "").startswith(
            "application/json"):
        return Response(415)
    try:
        with cloud.lock:
            _check_site(cloud, template, params)
            return handler(Call(cloud, request, params))
    except KsError as err:
        return error_response(err)


def _check_site(cloud: KsCloud, template: str, params: dict[str, str]) -> None:
    if "site" not in params:
        return
    cloud.check_site(params["site"])
    if template not in OPEN_TO_MEMBERS and cloud.knobs.system_user_role != "site_admin":
        raise forbidden("The current user does not have permission for this operation")
