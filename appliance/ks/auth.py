"""The access token for the Connect API: fetched with the password grant, cached, renewed.

Every public backend integration uses the password grant with a dedicated
system user (salto-ks-connect.md §1.1-1.2): ``POST {identity}/connect/token``,
form-encoded, the client authenticated with HTTP Basic. Tokens live an hour;
we renew ``token_margin_s`` before that (half-way for short-lived tokens), so
a request never sets out with a token about to die. On a 401 the client calls
``invalidate`` and asks again: one fresh token, one retry (§1.4).

One fetch at a time: concurrent callers wait on a lock and share the token
the first one fetched. The secret, the password and the token never appear
in a log line or an exception; only the OAuth error string does.
"""

import asyncio
import json
import logging
import math
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx2

from appliance.ks import errors
from appliance.ks.ratelimit import retry_after_s
from appliance.ks.settings import KsSettings

log = logging.getLogger("keybridge.ks")

DEFAULT_EXPIRES_IN_S = 3600.0  # what KS issues (§1.2) when the answer does not say
TOKEN_PATH = "/connect/token"  # noqa: S105 - a path, not a password


class TokenSource:
    """Hands out a valid bearer token for ``settings``' system user.

    Args:
        settings: identity URL, client, user and scope.
        http: the client the token requests go through (the KS client's own).
        clock: monotonic seconds (injected in tests).
    """

    def __init__(self, settings: KsSettings, http: httpx2.AsyncClient,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._http = http
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0  # clock time to fetch the next one
        self._expires_at = 0.0  # clock time the cached one dies
        self._lock = asyncio.Lock()
        self.fetches = 0  # tokens fetched so far (status page, tests)

    async def token(self) -> str:
        """A token valid for at least ``token_margin_s`` more (or half its life).

        If the identity server is away when the token is due for renewal, the
        current one is used for as long as it lives.

        Raises:
            KsAuthError: the identity server refused the credentials or scope.
            KsUnavailable: it could not be reached or failed (5xx, 404).
            KsProtocolError: it answered something that is not a token.
        """
        async with self._lock:
            if self._token is not None and self._clock() < self._renew_at:
                return self._token
            started = self._clock()
            try:
                token, expires_in_s = await self._fetch()
            except errors.KsUnavailable:
                if self._token is not None and self._clock() < self._expires_at:
                    log.warning("KS identity server unavailable; using the current token "
                                "until it expires")
                    return self._token
                raise
            self._token = token
            self._renew_at = started + expires_in_s - self._margin_s(expires_in_s)
            self._expires_at = started + expires_in_s
            return token

    def invalidate(self, stale: str | None = None) -> None:
        """Forget the token (the API said 401), so the next caller fetches a new one.

        With ``stale``, only if that is still the cached token: when several
        requests fail with the same old token, the first one's fresh token survives.
        """
        if stale is None or stale == self._token:
            self._token = None

    def _margin_s(self, expires_in_s: float) -> float:
        margin = self.settings.token_margin_s
        return margin if expires_in_s >= 2 * margin else expires_in_s / 2

    async def _fetch(self) -> tuple[str, float]:
        url = self.settings.identity_url.rstrip("/") + TOKEN_PATH
        form = {"grant_type": "password", "username": self.settings.username,
                "password": self.settings.password, "scope": self.settings.scope}
        # RFC 6749 §2.3.1: form-encode both before Basic; IdentityServer decodes them.
        auth = httpx2.BasicAuth(urllib.parse.quote_plus(self.settings.client_id),
                                urllib.parse.quote_plus(self.settings.client_secret))
        try:
            response = await self._http.post(url, data=form, auth=auth)
        except httpx2.HTTPError as err:
            raise errors.KsUnavailable(
                "identity server %s unreachable: %s" % (self.settings.identity_url,
                                                         describe(err)),
                request_may_have_run=False, method="POST", path=TOKEN_PATH) from err
        self.fetches += 1
        log.debug("POST %s -> %d", TOKEN_PATH, response.status_code)
        return _read_token(response)


def _read_token(response: httpx2.Response) -> tuple[str, float]:
    """The token and its lifetime from the identity server's answer, or the error."""
    status = response.status_code
    where: dict[str, str] = {"method": "POST", "path": TOKEN_PATH}
    body = _json_or_none(response)
    if status == 429:
        raise errors.KsRateLimited(retry_after_s(response.headers.get("Retry-After")), **where)
    if status >= 500 or status == 404:  # 404: accept's identity server has had whole days of it
        raise errors.KsUnavailable("identity server answered %d" % status,
                                   request_may_have_run=False, status=status, **where)
    if status >= 400:
        error = body.get("error") if isinstance(body, dict) else None
        detail = body.get("error_description") if isinstance(body, dict) else None
        message = "identity server refused the login with %d" % status
        if isinstance(detail, str) and detail:
            message += ": %s" % detail
        raise errors.KsAuthError(message, error=error if isinstance(error, str) else "",
                                 **where)
    if status != 200 or not isinstance(body, dict):
        raise errors.KsProtocolError("identity server answered %d without a token" % status,
                                     **where)
    return _token_fields(body, where)


def _token_fields(body: dict[str, Any], where: dict[str, str]) -> tuple[str, float]:
    token = body.get("access_token")
    expires_in = body.get("expires_in", DEFAULT_EXPIRES_IN_S)
    if not isinstance(token, str) or not token:
        raise errors.KsProtocolError("identity server answer has no access_token", **where)
    # 0 is a token dead on arrival: used once, then fetched again (never cached).
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) \
            or not 0 <= expires_in < math.inf:
        raise errors.KsProtocolError("identity server answer has an invalid expires_in",
                                     **where)
    return token, float(expires_in)


def _json_or_none(response: httpx2.Response) -> object:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def describe(err: httpx2.HTTPError) -> str:
    """The exception's class and text; httpx2 messages carry no credentials."""
    text = str(err)
    return "%s: %s" % (type(err).__name__, text) if text else type(err).__name__
