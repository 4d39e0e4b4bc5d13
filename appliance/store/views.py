"""What the technician's read-only commands show of the store, as plain JSON-able data.

One function per view, the same whether the command line reads the store itself (the
service is stopped) or the running service reads it for a member of the ``keybridge`` group,
who may not read ``/var/lib/keybridge`` (0700) or the key file: ``keybridge status``,
``jobs``, ``keys``, ``audit`` and ``integration-log`` go through the control channel when
the service runs. No view decrypts a secret: ``keys --reveal`` reads the store itself.
"""

import json
from collections.abc import Callable, Mapping
from typing import Any

from appliance.store.keys import KeyRow
from appliance.store.tx import Tx

View = Callable[[Tx, Mapping[str, Any]], Any]
HIDDEN = "(hidden; --reveal)"


def summary(read: Tx, args: Mapping[str, Any]) -> dict[str, Any]:
    """What ``status`` shows beside the live view: queues, last errors, the last record."""
    service = read.meta.get("status")
    last = read.meta.get("last_reconciliation")
    return {"service": None if service is None else json.loads(service),
            "recorded_at": read.meta.get("status_at"),
            "jobs": read.jobs.depths(), "outbox": read.outbox.depth(),
            "last_errors": read.jobs.last_errors(),
            "last_reconciliation": None if last is None else json.loads(last)}


def jobs(read: Tx, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    return read.jobs.listing(bool(args.get("all")))


def keys(read: Tx, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [key_entry(key, HIDDEN if key.has_secret else None)
            for key in read.keys.listing(_text(args, "booking"), bool(args.get("all")))]


def key_entry(key: KeyRow, secret: str | None) -> dict[str, Any]:
    kind = key.key_type or str(key.plan.get("key_type") or "") or "-"
    return {"id": key.id, "backend": key.backend, "key_type": kind, "state": key.state,
            "holder": key.booking_id or "owner:%s" % key.owner_key_id,
            "units": ",".join(key.units), "valid_from": key.valid_from.isoformat(),
            "valid_until": key.valid_until.isoformat(), "external_ids": key.external_ids,
            "secret": secret or "-"}


def audit(read: Tx, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    return read.audit.newest(_text(args, "booking"), int(args.get("limit") or 50))


def integration_log(read: Tx, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    return read.integration.newest(_text(args, "backend"), int(args.get("limit") or 50))


def _text(args: Mapping[str, Any], name: str) -> str | None:
    value = args.get(name)
    return None if value is None else str(value)


VIEWS: dict[str, View] = {"summary": summary, "jobs": jobs, "keys": keys, "audit": audit,
                          "integration_log": integration_log}
