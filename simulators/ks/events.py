"""Entries and incidents: append-only logs read newest first, page by continuation token.

Entries (notes §3.2: the measured entry shape, ``ttl_in_seconds`` 7 776 000) are what the
keypad emulator writes; incidents are injected through ``/_sim/incident``. Both are read
like Cosmos-backed lists (§3.3): ``{items, continuation_token}``, ``$top`` for the page
size, the next page asked for with the same query plus ``CLP-Continuation-Token`` (or a
``continuation_token`` query parameter), ``continuation_token: null`` on the last page.

The token is a cursor (time, sequence) rather than an offset, so entries written between
two page reads neither repeat nor go missing on the pages that follow.
"""

import datetime
import json
import uuid
import zoneinfo
from collections.abc import Callable, Mapping
from typing import Any

from simulators.ks import defaults, odata
from simulators.ks.clock import iso_utc
from simulators.ks.errors import invalid_request
from simulators.ks.identity import b64url, b64url_decode
from simulators.ks.model import Iq, Lock
from simulators.ks.schedules import LOCAL_FORMAT

ENTRY_FILTER: odata.Allowed = {"utc_date_time": ("instant", odata.RANGE),
                               "lock_id": ("id", odata.EQ), "user_id": ("id", odata.EQ)}
INCIDENT_FILTER: odata.Allowed = {"utc_date_time": ("instant", odata.RANGE),
                                  "lock_id": ("id", odata.EQ), "type": ("text", odata.EQ)}
INCIDENT_TYPES = frozenset({
    "intrusion_alarm", "end_of_intrusion_alarm", "tamper_alarm", "end_of_tamper_alarm",
    "door_left_open_alarm", "end_of_door_left_open_alarm", "low_battery_warning",
    "lock_connection_lost", "lock_connection_restored", "iq_connection_lost",
    "iq_connection_restored", "lock_time_set", "easyofficemode_finish_failed", "unknown"})

_Key = tuple[datetime.datetime, int]


class EventLog:
    """Records with a time, newest first on reading."""

    def __init__(self, flat: Callable[[dict[str, Any]], Mapping[str, Any]] = dict) -> None:
        self._records: list[tuple[_Key, dict[str, Any]]] = []
        self._flat = flat  # the fields a $filter sees

    def __len__(self) -> int:
        return len(self._records)

    def append(self, when: datetime.datetime, record: dict[str, Any]) -> None:
        self._records.append(((when, len(self._records)), record))

    def clear(self) -> None:
        self._records.clear()

    def all(self) -> list[dict[str, Any]]:
        return [record for _, record in sorted(self._records, key=lambda r: r[0],
                                               reverse=True)]

    def read(self, query: Mapping[str, str], token: str | None, default_size: int,
             allowed: odata.Allowed) -> dict[str, Any]:
        """One page for ``query``, after the cursor ``token`` if given."""
        clauses = odata.parse_filter(query.get("$filter"), allowed)
        odata.check_orderby(query, ["utc_date_time desc"])
        top = odata.page_size(query, default_size)
        after = _decode(token) if token else None
        chosen = [(key, record) for key, record in sorted(self._records, key=lambda r: r[0],
                                                          reverse=True)
                  if (after is None or key < after)
                  and odata.matches(self._flat(record), clauses, allowed)]
        items = chosen[:top]
        more = len(chosen) > top
        return {"items": [record for _, record in items],
                "continuation_token": _encode(items[-1][0]) if more else None}


def _encode(key: _Key) -> str:
    return b64url(json.dumps([key[0].isoformat(), key[1]]).encode())


def _decode(token: str) -> _Key:
    try:
        when, sequence = json.loads(b64url_decode(token.strip()))
        return datetime.datetime.fromisoformat(when), int(sequence)
    except (ValueError, TypeError):
        raise invalid_request("The continuation token is invalid.") from None


def local_text(when: datetime.datetime, time_zone: str) -> str:
    return when.astimezone(zoneinfo.ZoneInfo(time_zone)).strftime(LOCAL_FORMAT)


def expiration_text(when: datetime.datetime) -> str:
    """When the record leaves the store: 90 days on, with milliseconds as measured."""
    until = (when + datetime.timedelta(seconds=defaults.ENTRY_TTL_S)).astimezone(datetime.UTC)
    return until.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (until.microsecond // 1000)


def make_entry(category: str, detail: str | None, lock: Lock, iq: Iq,
               when: datetime.datetime, time_zone: str, user_id: str,
               person: tuple[str | None, str | None, str | None] = (None, None, None)
               ) -> dict[str, Any]:
    """An entry in the measured field order; ``person`` is (first, last, alias)."""
    first_name, last_name, alias = person
    return {"id": str(uuid.uuid4()), "event_category": category, "event_detail": detail,
            "utc_date_time": iso_utc(when), "local_date_time": local_text(when, time_zone),
            "lock_id": lock.id, "lock_mac_address": lock.mac,
            "lock_customer_reference": lock.name, "user_id": user_id,
            "user_first_name": first_name, "user_last_name": last_name,
            "user_image_url": None, "user_alias": alias, "iq_id": iq.id,
            "iq_customer_reference": iq.name, "iq_mac_address": iq.mac, "iq_revision": "2.0",
            "exit_requested": False, "access_by": "pin_code", "access_detail": None,
            "ttl_in_seconds": defaults.ENTRY_TTL_S,
            "expiration_date_time": expiration_text(when)}


def make_incident(kind: str, lock: Lock, iq: Iq, when: datetime.datetime, time_zone: str
                  ) -> dict[str, Any]:
    """An incident record ([U]: field names follow the Core API's incidents)."""
    return {"id": str(uuid.uuid4()), "type": kind, "utc_date_time": iso_utc(when),
            "local_date_time": local_text(when, time_zone),
            "lock": {"id": lock.id, "customer_reference": lock.name, "mac_address": lock.mac,
                     "is_online": lock.online, "battery_level": lock.battery_level},
            "iq": {"id": iq.id, "customer_reference": iq.name, "mac_address": iq.mac,
                   "is_online": iq.online},
            "ttl_in_seconds": defaults.ENTRY_TTL_S,
            "expiration_date_time": expiration_text(when)}


def incident_flat(record: dict[str, Any]) -> dict[str, Any]:
    return {"utc_date_time": record["utc_date_time"], "lock_id": record["lock"]["id"],
            "type": record["type"]}
