"""The small OData subset the Connect API is known to take, and list paging.

Filters (notes §3.3): ``field eq 'text'``, ``utc_date_time ge DateTime'2026-11-21T10:00:00Z'``
(the OData v3 literal; a bare v4 instant is accepted too) and ``le``, clauses joined with
``and``. Each endpoint names the fields and operators it takes; anything else is
400/1102 "The OData filter format is invalid", as is an ``$orderby`` outside the allowed
ones. Lists are ``{items, next_page_link, count}``: ``$top`` (default: the ``page_size``
knob) and ``$skip`` slice, ``next_page_link`` is an absolute URL or null, ``count`` is null
unless ``$inlinecount=allpages`` / ``$count=true`` asks for it (as measured: null).
"""

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from simulators.ks.clock import parse_instant
from simulators.ks.errors import invalid_odata

# Field kinds: "text" compares exactly, "id" ignores case, "instant" compares as time.
Allowed = Mapping[str, tuple[str, frozenset[str]]]
Clause = tuple[str, str, Any]

EQ = frozenset({"eq"})
RANGE = frozenset({"ge", "le"})

_CLAUSE = re.compile(r"\s*([A-Za-z_]\w*)\s+(eq|ne|gt|ge|lt|le)\s+"
                     r"(datetime'[^']*'|'(?:[^']|'')*'|[^\s']+)\s*", re.IGNORECASE)
_AND = re.compile(r"and\b", re.IGNORECASE)


def parse_filter(text: str | None, allowed: Allowed) -> list[Clause]:
    """The clauses of a ``$filter``; raises KsError 400/1102 outside ``allowed``."""
    if text is None:
        return []
    clauses, position = [], 0
    while True:
        match = _CLAUSE.match(text, position)
        if match is None:
            raise invalid_odata()
        clauses.append(_clause(match[1], match[2].lower(), match[3], allowed))
        position = match.end()
        if position == len(text):
            return clauses
        joiner = _AND.match(text, position)
        if joiner is None:
            raise invalid_odata()
        position = joiner.end()


def _clause(field: str, op: str, literal: str, allowed: Allowed) -> Clause:
    kind, ops = allowed.get(field, ("", frozenset()))
    if op not in ops:
        raise invalid_odata()
    if kind == "instant":
        text = literal[9:-1] if literal.lower().startswith("datetime'") else literal
        try:
            return field, op, parse_instant(text)
        except ValueError:
            raise invalid_odata() from None
    if not (len(literal) >= 2 and literal[0] == literal[-1] == "'"):
        raise invalid_odata()
    value = literal[1:-1].replace("''", "'")
    return field, op, value.lower() if kind == "id" else value


def matches(row: Mapping[str, Any], clauses: Sequence[Clause], allowed: Allowed) -> bool:
    """Whether a rendered object passes every clause."""
    for field, op, wanted in clauses:
        value = row.get(field)
        if allowed[field][0] == "instant":
            if value is None:
                return False
            when = parse_instant(value) if isinstance(value, str) else value
            if not (when >= wanted if op == "ge" else when <= wanted):
                return False
        elif allowed[field][0] == "id":
            if not isinstance(value, str) or value.lower() != wanted:
                return False
        elif value != wanted:
            return False
    return True


def check_orderby(query: Mapping[str, str], allowed: Sequence[str] = ()) -> None:
    """400/1102 for an ``$orderby`` that is not one of ``allowed`` ("field dir")."""
    if "$orderby" in query and " ".join(query["$orderby"].split()) not in allowed:
        raise invalid_odata("The OData orderby format is invalid")


def _whole(query: Mapping[str, str], key: str, default: int) -> int:
    text = query.get(key)
    if text is None:
        return default
    if not text.isdigit():
        raise invalid_odata("The value of %s is not valid" % key)
    return int(text)


def page_size(query: Mapping[str, str], default: int) -> int:
    return max(1, _whole(query, "$top", default))


def page(items: Sequence[Any], query: Mapping[str, str], default_size: int,
         link: Callable[[dict[str, str]], str]) -> dict[str, Any]:
    """One page of ``items`` as ``{items, next_page_link, count}``.

    Args:
        link: builds the absolute URL of this request with the query replaced.
    """
    top = page_size(query, default_size)
    skip = _whole(query, "$skip", 0)
    next_link = None
    if skip + top < len(items):
        next_link = link({**query, "$top": str(top), "$skip": str(skip + top)})
    counted = query.get("$inlinecount") == "allpages" or query.get("$count") == "true"
    return {"items": list(items[skip:skip + top]), "next_page_link": next_link,
            "count": len(items) if counted else None}
