"""Errors of the Salto KS client, split by who is at fault and what fixes it.

::

    KsError                  root of everything the KS client raises
    ├── KsUnavailable        network error, timeout, 5xx, identity server down: retry later;
    │   │                    ``request_may_have_run`` is True when the request went out
    │   │                    and no answer came (check before repeating a write)
    │   └── KsRateLimited    429: ``retry_after_s``; the client's bucket is paused that long
    ├── KsAuthError          the identity server refused (invalid_client, invalid_grant,
    │                        invalid_scope ...) or a 401 persisted after one
    │                        re-authentication: the technician fixes the credentials;
    │                        ``error`` is the OAuth error string
    ├── KsRefused            the API answered a 4xx, usually ``{ErrorCode, Message}``:
    │   │                    ``status``, ``error_code``, ``message`` and ``hint``
    │   ├── KsNotFound       404 (ErrorCode 2202 ...)
    │   ├── KsForbidden      403 (2203, 2212 ...)
    │   └── KsInvalid        400 / 422 (1100, 1101, 1102 ...)
    └── KsProtocolError      an answer we cannot read (not JSON, wrong shape)

Every error names the method and the path (ids only: no query, no secret, no
PIN), and the status and ErrorCode where there is one. httpx2 exceptions are
translated in ``appliance.ks.connection`` and ``appliance.ks.auth`` with
``raise ... from``, so the cause stays in the traceback.
"""

# What a person can do about a KS ErrorCode (salto-ks-connect.md §4.2, §2).
HINTS: dict[str, str] = {
    "1100": "the request was invalid; a site_uid where the site UUID belongs gives this",
    "1101": "a field value was refused; see the message",
    "1102": "the OData $filter or $orderby was refused",
    "2201": "KS failed internally; try again later",
    "2202": "not found: already deleted, a site-user id where the platform user id belongs "
            "(or the other way round), or created less than a minute ago (retry then)",
    "2203": "not allowed: the system user lacks a role on the site, or the guest was "
            "created less than a minute ago (retry then)",
    "2210": "the site is not released yet; finish commissioning it in the KS app",
    "2212": "the site's subscription does not include this feature",
    "3102": "the OTP was refused or is blocked; do not retry automatically",
}
STATUS_HINTS: dict[int, str] = {
    400: "KS refused the request as invalid; see the message",
    403: "the system user may not do this on the site; check its role in the KS app",
    404: "KS does not know this object",
    405: "this endpoint does not exist in this API version",
    409: "KS reports a conflict; look the object up before trying again",
    415: "KS refused the content type",
    422: "KS refused a field value; see the message",
}


class KsError(Exception):
    """Root of every error raised by ``appliance.ks``.

    Attributes:
        method, path: the request it is about ("" when none).
    """

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        self.method = method
        self.path = path
        where = " ".join(part for part in (method, path) if part)
        super().__init__("%s: %s" % (where, message) if where else message)


class KsUnavailable(KsError):
    """KS could not be reached or did not answer usefully; retry later.

    Attributes:
        request_may_have_run: the request was sent and no answer came back (a
            timeout or broken connection after sending, a 5xx): KS may have
            carried it out. False when it certainly never left (connect error).
        status: the HTTP status, when there was one (5xx, 429).
    """

    def __init__(self, message: str, *, request_may_have_run: bool,
                 status: int | None = None, method: str = "", path: str = "") -> None:
        super().__init__(message, method=method, path=path)
        self.request_may_have_run = request_may_have_run
        self.status = status


class KsRateLimited(KsUnavailable):
    """KS answered 429; nothing ran. ``retry_after_s`` says when to try again."""

    def __init__(self, retry_after_s: float, *, method: str = "", path: str = "") -> None:
        super().__init__("429 rate limited; retry after %.1f s" % retry_after_s,
                         request_may_have_run=False, status=429, method=method, path=path)
        self.retry_after_s = retry_after_s


class KsAuthError(KsError):
    """KS refused the credentials; a person must fix client id, secret, user or scope.

    Attributes:
        error: the OAuth error string (``invalid_grant`` ...), "" when KS gave none.
    """

    def __init__(self, message: str, *, error: str = "", method: str = "",
                 path: str = "") -> None:
        text = "%s (%s)" % (message, error) if error else message
        super().__init__(text, method=method, path=path)
        self.error = error


class KsRefused(KsError):
    """KS understood the request and refused it (a 4xx with ``{ErrorCode, Message}``).

    Attributes:
        status: the HTTP status (None when the client itself decided, e.g. no
            site matches the settings).
        error_code: KS's ErrorCode (int or str), None when the body had none.
        message: KS's Message, or the HTTP reason.
    """

    def __init__(self, status: int | None, error_code: int | str | None, message: str,
                 *, method: str = "", path: str = "", hint: str = "") -> None:
        self.status = status
        self.error_code = error_code
        self.message = message
        self._hint = hint
        parts = [str(status) if status is not None else "", _code_text(error_code), message]
        text = " ".join(part for part in parts if part)
        super().__init__("%s; %s" % (text, self.hint), method=method, path=path)

    @property
    def hint(self) -> str:
        """What a person can do about it."""
        if self._hint:
            return self._hint
        if self.error_code is not None and str(self.error_code) in HINTS:
            return HINTS[str(self.error_code)]
        return STATUS_HINTS.get(self.status or 0, "see the message from KS")


class KsNotFound(KsRefused):
    """404: the object does not exist (ErrorCode 2202)."""


class KsForbidden(KsRefused):
    """403: not allowed for the system user, or not yet (ErrorCode 2203, 2212)."""


class KsInvalid(KsRefused):
    """400 / 422: the request was malformed or a value refused (ErrorCode 11xx)."""


class KsProtocolError(KsError):
    """KS answered something we cannot read: not JSON, or not the expected shape."""


REFUSALS: dict[int, type[KsRefused]] = {
    400: KsInvalid, 403: KsForbidden, 404: KsNotFound, 422: KsInvalid,
}


def refusal(status: int, error_code: int | str | None, message: str, *,
            method: str, path: str) -> KsRefused:
    """The typed refusal for a 4xx answer."""
    cls = REFUSALS.get(status, KsRefused)
    return cls(status, error_code, message, method=method, path=path)


def _code_text(error_code: int | str | None) -> str:
    return "" if error_code is None else "ErrorCode %s:" % error_code
