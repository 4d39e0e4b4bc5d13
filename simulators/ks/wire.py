"""Requests and responses as plain values, between the HTTP server and the handlers.

``server.py`` turns a socket exchange into a ``Request`` and writes back a ``Response``;
everything between (identity, Connect routes, ``/_sim``) is a function from one to the
other, testable without sockets. ``Call`` is what a Connect handler receives: the request,
the path parameters and the cloud, plus the list helpers every list endpoint shares.
"""

import dataclasses
import json
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from simulators.ks import odata
from simulators.ks.errors import KsError, invalid_odata, invalid_request

if TYPE_CHECKING:
    from simulators.ks.cloud import KsCloud

JSON = "application/json; charset=utf-8"


@dataclasses.dataclass
class Request:
    method: str
    path: str  # without the query
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    host: str = "127.0.0.1"

    @classmethod
    def build(cls, method: str, target: str, headers: Iterable[tuple[str, str]] = (),
              body: bytes = b"", host: str = "127.0.0.1") -> "Request":
        """From a request line's target (path and query) and raw headers."""
        path, _, query = target.partition("?")
        lowered = {name.lower(): value for name, value in headers}
        return cls(method.upper(), urllib.parse.unquote(path),
                   dict(urllib.parse.parse_qsl(query, keep_blank_values=True)), lowered, body,
                   lowered.get("host", host))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def base_url(self) -> str:
        return "http://" + self.host

    def link(self, query: Mapping[str, str]) -> str:
        """The absolute URL of this path with ``query``."""
        return "%s%s?%s" % (self.base_url, urllib.parse.quote(self.path), urllib.parse.urlencode(
            query, quote_via=urllib.parse.quote, safe="$'"))

    def json(self) -> Any:
        """The JSON body (None when empty); 400/1100 when it is not JSON."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise invalid_request("The request body is not valid JSON.") from None


@dataclasses.dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def json_response(status: int, data: Any, headers: Iterable[tuple[str, str]] = ()
                  ) -> Response:
    return Response(status, json.dumps(data).encode(), [("Content-Type", JSON), *headers])


def error_response(error: KsError) -> Response:
    return json_response(error.status, error.body())


@dataclasses.dataclass
class Call:
    """One Connect request on its way through a handler."""

    cloud: "KsCloud"
    request: Request
    params: dict[str, str]

    def body(self) -> dict[str, Any]:
        """The JSON object body ({} when empty); 400/1100 for anything else."""
        data = self.request.json()
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise invalid_request("The request body must be a JSON object.")
        return data

    def ok(self, data: Any, status: int = 200) -> Response:
        return json_response(status, data)

    def page(self, rows: Sequence[Any], allowed: odata.Allowed | None = None,
             render: Callable[[Any], dict[str, Any]] | None = None, *,
             expands: bool = False) -> Response:
        """A ``{items, next_page_link, count}`` list, filtered by ``$filter`` if allowed.

        Args:
            render: turns a row into what the API shows; only the rows of the page are
                rendered unless a ``$filter`` must see them all (a site has thousands).
            expands: the handler took ``$expand``; anywhere else it is 400/1102.
        """
        query = self.request.query
        clauses = odata.parse_filter(query.get("$filter"), allowed or {})
        odata.check_orderby(query)
        if "$expand" in query and not expands:
            raise invalid_odata("The query option $expand is not allowed")
        if render is not None and clauses:
            rows, render = [render(row) for row in rows], None
        if clauses:
            rows = [row for row in rows if odata.matches(row, clauses, allowed or {})]
        data = odata.page(rows, query, self.cloud.knobs.page_size, self.request.link)
        if render is not None:
            data["items"] = [render(row) for row in data["items"]]
        return json_response(200, data)
