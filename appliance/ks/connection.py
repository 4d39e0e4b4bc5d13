"""Requests to the Salto KS Connect API: a few at a time, authorised, rate-limited, translated.

Every request goes through ``KsConnection._exchange``: a token from the
bucket (spacing requests, honouring 429), the bearer token (one
re-authentication and one retry on a 401), the timeout, and the translation
of every failure into the ``appliance.ks.errors`` tree with ``raise ... from``.
The connection never loops on failures: what to retry, and when, is the
caller's decision (a ``PUT .../pin`` that timed out may already have rotated
the PIN; salto-ks-connect.md §3.4). Paged lists are followed here too.

Logging: DEBUG lines carry the method, the path with its ids blanked and
the status; never a body (PINs) nor a header (the token). httpx2 logs the
request URL at INFO; URLs carry ids and OData filters, never a secret.
"""

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2

from appliance.ks import errors
from appliance.ks.auth import TokenSource, describe
from appliance.ks.ratelimit import TokenBucket, retry_after_s
from appliance.ks.settings import KsSettings

log = logging.getLogger("keybridge.ks")

MAX_PAGES = 10_000  # a next_page_link loop must end somewhere
# Failures after which the request certainly never reached KS.
NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout,
            httpx2.UnsupportedProtocol, httpx2.ProxyError, httpx2.LocalProtocolError)
_WORD = re.compile(r"[a-z_]+|v\d+(\.\d+)?")


class KsConnection:
    """The HTTP side of the Connect API for one account.

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
        self._base = settings.api_url.rstrip("/") + "/"
        self._api = httpx2.URL(self._base)
        self._in_flight = asyncio.Semaphore(settings.max_in_flight)

    async def close(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, *, version: str = "v1.2",
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

    async def request_object(self, method: str, path: str, what: str, *,
                             version: str = "v1.2", json: object = None) -> dict[str, Any]:
        """``request`` for an answer that must be a JSON object."""
        body = await self.request(method, path, version=version, json=json)
        if not isinstance(body, dict):
            raise errors.KsProtocolError("expected a %s object, got %s" % (
                what, type(body).__name__), method=method, path="/%s/%s" % (version, path))
        return body

    async def pages(self, path: str, *, version: str = "v1.2",
                    params: dict[str, str] | None = None) -> list[Any]:
        """Every item of a paged list, following ``next_page_link`` verbatim until null."""
        query = {"$top": str(self.settings.page_size), **(params or {})}
        body = await self.request("GET", path, version=version, params=query)
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
            body = await self.request("GET", str(self._api.join(link)))

    async def delete(self, path: str, version: str = "v1.2") -> bool:
        """DELETE; False when it was already gone (404)."""
        return await self._exchange("DELETE", path, version=version, ok_missing=True) is not None

    async def _exchange(self, method: str, path: str, *, version: str = "v1.2",
                        json: object = None, params: dict[str, str] | None = None,
                        headers: dict[str, str] | None = None,
                        ok_missing: bool = False) -> httpx2.Response | None:
        """``request`` without parsing the body: the response, or None for a missing one."""
        url = self._url(path, version, method)
        # A handful in flight per account (§4.3), so one guest's saga waits for KS while
        # another's goes on; a 429 pauses the bucket for all of them at once, and at most
        # max_in_flight requests already under way can still run into its window.
        async with self._in_flight:
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
            peer = "%s://%s%s" % (url.scheme, url.host, ":%d" % url.port if url.port else "")
            raise errors.KsUnavailable(
                "%s (KS at %s)%s" % (describe(err), peer,
                                     "; KS may have carried it out" if ran else ""),
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
            # Concatenated, not URL.join: the paths are ours and relative, and RFC 3986
            # resolution cost a tenth of a millisecond per request, 8 per PIN.
            return httpx2.URL("%s%s/%s" % (self._base, version, path.lstrip("/")))
        url = httpx2.URL(path)
        if (url.scheme, url.host, url.port) != (self._api.scheme, self._api.host,
                                                self._api.port):
            raise errors.KsProtocolError("KS sent a link to another host: %s" % url.host,
                                         method=method, path=url.path)
        return url


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
