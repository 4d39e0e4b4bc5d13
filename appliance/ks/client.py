"""The Salto KS Connect API client: one request function, paging, and the resources we use.

Every request goes through ``_exchange``: a token from the bucket (spacing
requests, honouring 429), the bearer token (one re-authentication and one
retry on a 401), the timeout, and the translation of every failure into the
``appliance.ks.errors`` tree with ``raise ... from``. The client never loops
on failures: what to retry, and when, is the caller's decision (a ``PUT
.../pin`` that timed out may already have rotated the PIN; salto-ks-connect.md §3.4).

Resources are returned as KS sends them (snake_case dicts and lists), with
the two ids of a site user kept apart: ``id`` (the site user: ``/users/{id}``,
PIN, keys, delete) and ``user.id`` (the platform user: access-group
membership, entries) (§2.2). ``site_id`` is always the site UUID; see
``resolve_site``.

Logging: DEBUG lines carry the method, the path with its ids blanked and
the status; never a body (PINs) nor a header (the token). httpx2 logs the
request URL at INFO; URLs carry ids and OData filters, never a secret.
"""

import asyncio
import datetime
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2

from appliance.ks import errors
from appliance.ks.auth import TokenSource, describe
from appliance.ks.ratelimit import TokenBucket, retry_after_s
from appliance.ks.settings import KsSettings

log = logging.getLogger("keybridge.ks")

SCHEDULES = "v1.1"  # time schedules are used on v1.1 (§3.1 #18-19)
EVENTS = "v1.1"  # entries exist only on v1.1 (§3.1 #20)
CONTINUATION_HEADER = "CLP-Continuation-Token"
SUBSCRIPTION_STATES = ("subscribed", "suspended")
MAX_PAGES = 10_000  # a next_page_link loop must end somewhere
# Failures after which the request certainly never reached KS.
NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout,
            httpx2.UnsupportedProtocol, httpx2.ProxyError, httpx2.LocalProtocolError)
PIN = re.compile(r"\d{4,12}")
_WORD = re.compile(r"[a-z_]+|v\d+(\.\d+)?")


class KsClient:
    """The Connect API for one account; an async context manager.

    Args:
        settings: hosts, credentials, timeouts, bucket and page size.
        transport: the HTTP transport (tests inject one); httpx2's default if None.
        clock: monotonic seconds, for the token's lifetime and the bucket.
        sleep: awaited by the bucket when it makes a caller wait.
        bucket: shared with other clients of the same account, or built from settings.
    """

    def __init__(self, settings: KsSettings, *,
                 transport: httpx2.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 bucket: TokenBucket | None = None) -> None:
        self.settings = settings
        self._http = httpx2.AsyncClient(transport=transport,
                                        timeout=httpx2.Timeout(settings.timeout_s))
        self.auth = TokenSource(settings, self._http, clock)
        self.bucket = bucket or TokenBucket(settings.rate_per_hour, settings.burst,
                                            clock, sleep)
        self._api = httpx2.URL(settings.api_url.rstrip("/") + "/")
        self._one_at_a_time = asyncio.Lock()
        self._filter_works = True  # until KS refuses an OData $filter on users (§3.3 [U])

    async def __aenter__(self) -> "KsClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # -- the one request function ----------------------------------------------

    async def _request(self, method: str, path: str, *, version: str = "v1.2",
                       json: object = None, params: dict[str, str] | None = None,
                       headers: dict[str, str] | None = None,
                       ok_missing: bool = False) -> Any:
        """Send one request; return the parsed JSON body (None when empty).

        ``path`` is below ``{api_url}/{version}/``, or an absolute URL on the
        API host (a ``next_page_link``). With ``ok_missing`` a 404 returns None.

        Raises:
            KsUnavailable, KsRateLimited, KsAuthError, KsRefused, KsProtocolError.
        """
        response = await self._exchange(method, path, version=version, json=json,
                                        params=params, headers=headers, ok_missing=ok_missing)
        return None if response is None else _body(response, method)

    async def _exchange(self, method: str, path: str, *, version: str = "v1.2",
                        json: object = None, params: dict[str, str] | None = None,
                        headers: dict[str, str] | None = None,
                        ok_missing: bool = False) -> httpx2.Response | None:
        """``_request`` without parsing the body: the response, or None for a missing one."""
        url = self._url(path, version, method)
        # One request in flight per account (§4.3: serialise): a 429 then stops everything
        # at once, where parallel requests already under way would run into its window.
        async with self._one_at_a_time:
            await self.bucket.acquire()
            try:
                response = await self._authorised(method, url, json, params, headers)
            except errors.KsRateLimited as limited:  # from the identity server
                self.bucket.pause(limited.retry_after_s)
                raise
            log.debug("%s %s -> %d", method, _template(url.path), response.status_code)
            return self._check(response, method, ok_missing)

    async def _authorised(self, method: str, url: httpx2.URL, json: object,
                          params: dict[str, str] | None,
                          headers: dict[str, str] | None) -> httpx2.Response:
        """Send with the bearer token; on a 401 once more with a fresh one."""
        for _attempt in range(2):
            token = await self.auth.token()
            sent = {**(headers or {}), "Authorization": "Bearer " + token}
            response = await self._send(method, url, json, params, sent)
            if response.status_code != 401:
                break
            self.auth.invalidate(token)
        return response

    async def _send(self, method: str, url: httpx2.URL, json: object,
                    params: dict[str, str] | None, headers: dict[str, str]) -> httpx2.Response:
        try:
            return await self._http.request(method, url, json=json, params=params,
                                            headers=headers)
        except httpx2.DecodingError as err:
            raise errors.KsProtocolError("cannot decode the answer: %s" % err,
                                         method=method, path=url.path) from err
        except httpx2.HTTPError as err:
            ran = not isinstance(err, NOT_SENT)
            raise errors.KsUnavailable(
                "%s%s" % (describe(err), "; KS may have carried it out" if ran else ""),
                request_may_have_run=ran, method=method, path=url.path) from err

    def _check(self, response: httpx2.Response, method: str,
               ok_missing: bool) -> httpx2.Response | None:
        """The response if it is a success; None for an accepted 404; else the error."""
        status = response.status_code
        path = response.request.url.path
        if 200 <= status < 300:
            return response
        if status == 404 and ok_missing:
            return None
        if status == 401:
            raise errors.KsAuthError("the API refused a fresh token with 401",
                                     error=_bearer_error(response), method=method, path=path)
        if status == 429:
            limited = errors.KsRateLimited(retry_after_s(response.headers.get("Retry-After")),
                                           method=method, path=path)
            self.bucket.pause(limited.retry_after_s)
            raise limited
        code, message = _error_fields(response)
        if status >= 500:
            raise errors.KsUnavailable(
                "%d %s%s" % (status, "" if code is None else "ErrorCode %s: " % code, message),
                request_may_have_run=status != 503, status=status, method=method, path=path)
        if status >= 400:
            raise errors.refusal(status, code, message, method=method, path=path)
        raise errors.KsProtocolError("unexpected status %d" % status, method=method, path=path)

    def _url(self, path: str, version: str, method: str) -> httpx2.URL:
        if "://" not in path:
            return self._api.join("%s/%s" % (version, path.lstrip("/")))
        url = httpx2.URL(path)
        if (url.scheme, url.host, url.port) != (self._api.scheme, self._api.host,
                                                self._api.port):
            raise errors.KsProtocolError("KS sent a link to another host: %s" % url.host,
                                         method=method, path=url.path)
        return url

    async def _object(self, method: str, path: str, what: str, *, version: str = "v1.2",
                      json: object = None) -> dict[str, Any]:
        """``_request`` for an answer that must be a JSON object."""
        body = await self._request(method, path, version=version, json=json)
        if not isinstance(body, dict):
            raise errors.KsProtocolError("expected a %s object, got %s" % (
                what, type(body).__name__), method=method, path="/%s/%s" % (version, path))
        return body

    # -- paging -------------------------------------------------------------------

    async def _pages(self, path: str, *, version: str = "v1.2",
                     params: dict[str, str] | None = None) -> list[Any]:
        """Every item of a paged list, following ``next_page_link`` verbatim until null."""
        query = {"$top": str(self.settings.page_size), **(params or {})}
        body = await self._request("GET", path, version=version, params=query)
        items: list[Any] = []
        seen: set[str] = set()
        while True:
            page, link = _page(body, path)
            items.extend(page)
            if not link:
                return items
            if link in seen or len(seen) >= MAX_PAGES:
                raise errors.KsProtocolError("next_page_link repeats", method="GET", path=path)
            seen.add(link)
            body = await self._request("GET", str(self._api.join(link)))

    # -- sites ----------------------------------------------------------------------

    async def sites(self) -> list[dict[str, Any]]:
        """The sites the system user can see."""
        return await self._pages("sites")

    async def resolve_site(self) -> dict[str, Any]:
        """The configured site (``settings.site``: its UUID, site_uid or customer_reference).

        Raises:
            KsNotFound: the account sees no such site; the message lists the ones it sees.
            KsInvalid: the name fits several sites.
        """
        wanted = self.settings.site.strip()
        sites = await self.sites()
        by_id = [s for s in sites if str(s.get("id", "")).lower() == wanted.lower()]
        matches = by_id or [s for s in sites
                            if wanted in (s.get("site_uid"), s.get("customer_reference"))]
        if len(matches) == 1:
            return matches[0]
        seen = ", ".join(_site_name(s) for s in sites) or "none"
        cls = errors.KsInvalid if matches else errors.KsNotFound
        problem = "fits %d sites" % len(matches) if matches else "is not a site of this account"
        raise cls(None, None, "site %r %s; the account sees: %s" % (wanted, problem, seen),
                  method="GET", path="/v1.2/sites",
                  hint="set the KS site to one of these (UUID, site_uid or "
                       "customer_reference), or give the system user a role on the site")

    async def site(self, site_id: str) -> dict[str, Any]:
        return await self._object("GET", _path("sites", site_id), "site")

    async def locks(self, site_id: str) -> list[dict[str, Any]]:
        return await self._pages(_path("sites", site_id, "locks"))

    # -- site users -----------------------------------------------------------------

    async def users(self, site_id: str) -> list[dict[str, Any]]:
        return await self._pages(_path("sites", site_id, "users"))

    async def user(self, site_id: str, su: str) -> dict[str, Any] | None:
        """The site user ``su`` (site-user id), or None if there is none."""
        try:
            return await self._object("GET", _path("sites", site_id, "users", su), "site user")
        except errors.KsNotFound:
            return None

    async def find_guest(self, site_id: str, alias: str) -> dict[str, Any] | None:
        """The first site user whose alias is exactly ``alias`` (look up before creating).

        Asks KS to filter (``$filter=alias eq '...'``); if KS refuses the
        filter (400), pages every user instead, from then on.
        """
        path = _path("sites", site_id, "users")
        if not self._filter_works:
            users = await self._pages(path)
        else:
            try:
                users = await self._pages(path, params={"$filter": _odata_eq("alias", alias)})
            except errors.KsInvalid:
                users = await self._pages(path)
                log.info("KS refused $filter on users; paging them from now on")
                self._filter_works = False
        return next((u for u in users if isinstance(u, dict) and u.get("alias") == alias), None)

    async def create_guest(self, site_id: str, alias: str,
                           expires_at: datetime.datetime | None) -> dict[str, Any]:
        """A new guest (role site_guest, no PIN yet: ``use_pin`` is false).

        Check ``subscription_state == "subscribed"``: with no seat left KS
        still answers 201, with a suspended user (§2.6).
        """
        body: dict[str, Any] = {"alias": alias}
        if expires_at is not None:
            body["expires_at"] = _utc(expires_at)
        return await self._object("POST", _path("sites", site_id, "guests"), "guest", json=body)

    async def patch_user(self, site_id: str, su: str, fields: dict[str, Any]) -> dict[str, Any]:
        return await self._object("PATCH", _path("sites", site_id, "users", su), "site user",
                                  json=fields)

    async def set_subscription(self, site_id: str, su: str, state: str) -> None:
        """``subscribed`` or ``suspended`` (frees the seat, keeps the user)."""
        if state not in SUBSCRIPTION_STATES:
            raise ValueError("subscription state must be one of %s" % (SUBSCRIPTION_STATES,))
        await self._request("PATCH", _path("sites", site_id, "users", su, "subscription"),
                            json={"state": state})

    async def delete_user(self, site_id: str, su: str) -> bool:
        """Delete the site user (frees the seat); False if it was already gone."""
        return await self._delete(_path("sites", site_id, "users", su))

    async def put_pin(self, site_id: str, su: str) -> str:
        """A new PIN for the site user; a second call rotates it. Not idempotent (§3.4)."""
        path = _path("sites", site_id, "users", su, "pin")
        answer = await self._request("PUT", path, json={})
        if not isinstance(answer, str) or not PIN.fullmatch(answer):  # never show the value
            raise errors.KsProtocolError("the PIN answer is not a string of digits (%s)"
                                         % type(answer).__name__, method="PUT",
                                         path="/v1.2/" + path)
        return answer

    async def keys(self, site_id: str, su: str) -> list[dict[str, Any]]:
        """The site user's keys (type, expiry; never the PIN itself)."""
        return await self._pages(_path("sites", site_id, "users", su, "keys"))

    # -- access groups ----------------------------------------------------------------

    async def access_groups(self, site_id: str) -> list[dict[str, Any]]:
        return await self._pages(_path("sites", site_id, "access_groups"))

    async def find_access_group(self, site_id: str, reference: str) -> dict[str, Any] | None:
        """The first access group whose customer_reference is exactly ``reference``."""
        groups = await self.access_groups(site_id)
        return next((g for g in groups
                     if isinstance(g, dict) and g.get("customer_reference") == reference), None)

    async def create_access_group(self, site_id: str, reference: str) -> dict[str, Any]:
        return await self._object("POST", _path("sites", site_id, "access_groups"),
                                  "access group", json={"customer_reference": reference})

    async def delete_access_group(self, site_id: str, ag: str) -> bool:
        return await self._delete(_path("sites", site_id, "access_groups", ag))

    async def group_locks(self, site_id: str, ag: str) -> list[dict[str, Any]]:
        return await self._pages(_path("sites", site_id, "access_groups", ag, "locks"))

    async def add_group_lock(self, site_id: str, ag: str, lock_id: str) -> None:
        await self._request("POST", _path("sites", site_id, "access_groups", ag, "locks"),
                            json={"lock_id": lock_id})

    async def remove_group_lock(self, site_id: str, ag: str, lock_id: str) -> bool:
        return await self._delete(_path("sites", site_id, "access_groups", ag, "locks",
                                        lock_id))

    async def group_users(self, site_id: str, ag: str) -> list[dict[str, Any]]:
        """The group's members, by platform user id."""
        return await self._pages(_path("sites", site_id, "access_groups", ag, "users"))

    async def add_group_user(self, site_id: str, ag: str, platform_user_id: str) -> None:
        """Add a member: the platform user id (``user.id``), not the site-user id."""
        await self._request("POST", _path("sites", site_id, "access_groups", ag, "users"),
                            json={"user_id": platform_user_id})

    async def remove_group_user(self, site_id: str, ag: str, platform_user_id: str) -> bool:
        return await self._delete(_path("sites", site_id, "access_groups", ag, "users",
                                        platform_user_id))

    # -- time schedules (v1.1) ------------------------------------------------------

    async def schedules(self, site_id: str, ag: str) -> list[dict[str, Any]]:
        return await self._pages(_schedules(site_id, ag), version=SCHEDULES)

    async def create_schedule(self, site_id: str, ag: str,
                              body: dict[str, Any]) -> dict[str, Any]:
        """``body``: monday..sunday booleans, start/end_time "HH:MM:SS", start/end_date
        as naive site-local datetimes (§2.9)."""
        return await self._object("POST", _schedules(site_id, ag), "time schedule",
                                  version=SCHEDULES, json=body)

    async def patch_schedule(self, site_id: str, ag: str, ts: str,
                             body: dict[str, Any]) -> dict[str, Any]:
        return await self._object("PATCH", _schedules(site_id, ag, ts), "time schedule",
                                  version=SCHEDULES, json=body)

    async def delete_schedule(self, site_id: str, ag: str, ts: str) -> bool:
        return await self._delete(_schedules(site_id, ag, ts), version=SCHEDULES)

    # -- events (v1.1) ----------------------------------------------------------------

    async def entries(self, site_id: str, *, since: datetime.datetime | None = None,
                      continuation: str | None = None,
                      top: int = 100) -> tuple[list[dict[str, Any]], str | None]:
        """One page of access events, newest first, and the token for the next page."""
        return await self._events(_path("sites", site_id, "entries"), since, continuation, top)

    async def incidents(self, site_id: str, *, since: datetime.datetime | None = None,
                        continuation: str | None = None,
                        top: int = 100) -> tuple[list[dict[str, Any]], str | None]:
        """Like ``entries`` for alarms (door left open, low battery...); [U] on Connect."""
        return await self._events(_path("sites", site_id, "incidents"), since, continuation,
                                  top)

    async def _events(self, path: str, since: datetime.datetime | None,
                      continuation: str | None,
                      top: int) -> tuple[list[dict[str, Any]], str | None]:
        params = {"$top": str(top), "$orderby": "utc_date_time desc"}
        if since is not None:
            params["$filter"] = "utc_date_time ge DateTime'%s'" % _utc(since)
        headers = {CONTINUATION_HEADER: continuation} if continuation else None
        body = await self._request("GET", path, version=EVENTS, params=params, headers=headers)
        if isinstance(body, list):
            return body, None
        items = body.get("items") if isinstance(body, dict) else None
        token = body.get("continuation_token") if isinstance(body, dict) else None
        if not isinstance(items, list) or not (token is None or isinstance(token, str)):
            raise errors.KsProtocolError("not a page of events", method="GET", path=path)
        return items, token or None

    async def _delete(self, path: str, version: str = "v1.2") -> bool:
        """DELETE; False when it was already gone (404)."""
        return await self._exchange("DELETE", path, version=version, ok_missing=True) is not None


# -- helpers ---------------------------------------------------------------------------

def _path(*segments: str) -> str:
    """A relative path; every segment quoted, so an id can never reach another resource."""
    return "/".join(urllib.parse.quote(str(segment), safe="") for segment in segments)


def _schedules(site_id: str, ag: str, *ts: str) -> str:
    return _path("sites", site_id, "access_groups", ag, "time_schedules", *ts)


def _utc(when: datetime.datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("a KS timestamp needs a time zone (naive datetime given)")
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _odata_eq(field: str, value: str) -> str:
    return "%s eq '%s'" % (field, value.replace("'", "''"))


def _site_name(site: dict[str, Any]) -> str:
    return "%r (site_uid %s, id %s)" % (site.get("customer_reference"), site.get("site_uid"),
                                        site.get("id"))


def _body(response: httpx2.Response, method: str) -> Any:
    """The JSON answer (a bare string for a PIN); None when the body is empty."""
    if not response.content.strip():
        return None
    try:
        return json.loads(response.content)
    except ValueError as err:  # includes UnicodeDecodeError
        raise errors.KsProtocolError("%d answer is not JSON" % response.status_code,
                                     method=method, path=response.request.url.path) from err


def _page(body: Any, path: str) -> tuple[list[Any], str | None]:
    if isinstance(body, list):
        return body, None
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        link = body.get("next_page_link")
        if link is None or isinstance(link, str):
            return body["items"], link
    raise errors.KsProtocolError("not a list page", method="GET", path=path)


def _error_fields(response: httpx2.Response) -> tuple[int | str | None, str]:
    """ErrorCode and Message of a v1.x error body (or a problem+json title); else the reason."""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return None, response.reason_phrase
    code = body.get("ErrorCode", body.get("error_code"))
    message = body.get("Message", body.get("message", body.get("title")))
    return (code if isinstance(code, int | str) and not isinstance(code, bool) else None,
            message if isinstance(message, str) and message else response.reason_phrase)


def _bearer_error(response: httpx2.Response) -> str:
    match = re.search(r'error="([^"]*)"', response.headers.get("WWW-Authenticate", ""))
    return match.group(1) if match else "invalid_token"


def _template(path: str) -> str:
    """The path with its ids blanked, for logs: /v1.2/sites/{}/users/{}/pin."""
    return "/".join(part if not part or _WORD.fullmatch(part) else "{}"
                    for part in path.split("/"))

