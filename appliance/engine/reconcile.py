"""Reconciliation: what the store believes, against what should be and what the backends hold.

It runs nightly (the systemd timer calls ``keybridge reconcile``), on ``cmd/reconcile`` and
from the command line. Two comparisons:

- the store alone: a revocation that gave up (``revocation_failed``), a key past its validity
  still live (``expired_but_live``);
- each backend against the store's keys (``Backend.reconcile``): for KS, ours-not-theirs,
  theirs-not-ours, suspended guests, wrong schedules, locks or memberships.

Every discrepancy goes to the integration log and the backend's ``reconcile_report`` event.
With ``repair`` each one becomes durable work in the same transaction: a revocation, a key
minted again, a key converged, or the backend's stray copy removed. Nothing is repaired
behind the workers' backs, so a repair survives a crash like any other job.
"""

import datetime
import json
import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

from appliance import lifecycle
from appliance.engine import keys as keyset
from appliance.engine.backend import (
    FIX_REISSUE,
    FIX_REMOVE,
    FIX_UPDATE,
    ISSUE,
    REMOVE_REMOTE,
    REVOKE,
    UPDATE,
    Backend,
    BackendFailure,
    KeyRow,
    holder_fields,
)
from appliance.lifecycle import PENDING, RUNNING
from appliance.store.db import Store, now_iso
from appliance.store.records import event, integration, job_add

log = logging.getLogger("keybridge.reconcile")
STRANDED_REVOCATIONS = ("SELECT * FROM keys WHERE state = ? AND NOT EXISTS (SELECT 1 FROM jobs "
                        "WHERE jobs.key_id = keys.id AND jobs.kind = 'revoke_key' AND "
                        "jobs.state IN (?, ?))")
"""Keys stuck revoking: their revocation job failed for good."""
STRANDED_ISSUES = ("SELECT * FROM keys WHERE state = ? AND NOT EXISTS (SELECT 1 FROM jobs "
                   "WHERE jobs.key_id = keys.id AND jobs.kind IN ('issue_key', 'update_key') "
                   "AND jobs.state IN (?, ?))")
"""Keys stuck issuing: their issue job failed for good (Space keys are made on the spot)."""


async def reconcile(store: Store, root: str, backends: Mapping[str, Backend], repair: bool,
                    trigger: str) -> dict[str, Any]:
    """Compare, record, report and (with ``repair``) queue the fixes; returns the summary."""
    started = now_iso()
    remote, errors = await _ask_backends(store, backends)
    with store.transaction() as db:
        found = _store_only(db, backends, repair, trigger)
        for name, items in remote.items():
            for item in items:
                _record(db, name, item)
                if repair:
                    _repair(db, name, item, trigger)
            found.setdefault(name, []).extend(items)
        for name, items in found.items():
            event(store, db, root, "reconcile_report", {
                "backend": name, "started_at": started, "finished_at": now_iso(),
                "discrepancies": items, "repaired": repair and bool(items),
                "error": errors.get(name)})
        total = sum(map(len, found.values()))
        store.set_meta(db, "last_reconciliation", json.dumps(
            {"at": now_iso(), "discrepancies": total, "repaired": repair,
             "errors": errors}))
    log.info("reconciliation: %d discrepancies%s", total, ", repair queued" if repair else "",
             extra={"ctx": {"trigger": trigger}})
    return {"discrepancies": total, "repaired": repair, "errors": errors,
            "by_backend": {name: len(items) for name, items in found.items()}}


async def _ask_backends(store: Store, backends: Mapping[str, Backend]
                        ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    remote: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    for name, backend in backends.items():
        keys = [keyset.key_from_row(row) for row in store.query(
            "SELECT * FROM keys WHERE backend = ? ORDER BY created_at", name)]
        try:
            remote[name] = await backend.reconcile(keys)
        except BackendFailure as failure:
            # Reported, not raised: the store-only part and the other backends still count.
            errors[name] = "%s: %s" % (failure.code, failure.message)
            log.warning("reconciliation could not ask %s: %s", name, failure.message)
        except Exception as err:
            errors[name] = "internal_error: %s: %s" % (type(err).__name__, err)
            log.exception("reconciliation could not ask %s", name)
    return remote, errors


def _store_only(db: sqlite3.Connection, backends: Mapping[str, Backend], repair: bool,
                trigger: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in backends}
    now = datetime.datetime.now(datetime.UTC)
    for row in db.execute(STRANDED_REVOCATIONS, (lifecycle.REVOKING, PENDING, RUNNING)):
        key = keyset.key_from_row(row)
        found.setdefault(key.backend, []).append({
            "kind": "revocation_failed", "key_id": key.id, **holder_fields(key)})
        integration(db, key.backend, "discrepancy", "revocation gave up; the key may still "
                    "open doors", key_id=key.id)
        if repair:
            keyset.revoke(db, key, trigger, "reconcile")
    for row in db.execute(STRANDED_ISSUES, (lifecycle.ISSUING, PENDING, RUNNING)):
        key = keyset.key_from_row(row)
        found.setdefault(key.backend, []).append({
            "kind": "issue_failed", "fix": FIX_REISSUE, "key_id": key.id, **holder_fields(key),
            "message": "issuing gave up; the guest has no working key"})
        integration(db, key.backend, "discrepancy", "issuing gave up", key_id=key.id)
        if repair:
            job_add(db, key.backend, ISSUE, {"trigger": trigger, "reason": "reconcile"},
                    key_id=key.id)
    for row in db.execute("SELECT * FROM keys WHERE state IN (?, ?)", lifecycle.LIVE):
        key = keyset.key_from_row(row)
        if datetime.datetime.fromisoformat(key.valid_until) >= now:
            continue
        found.setdefault(key.backend, []).append({
            "kind": "expired_but_live", "key_id": key.id, **holder_fields(key),
            "valid_until": key.valid_until})
        integration(db, key.backend, "discrepancy", "key past its validity still live",
                    key_id=key.id)
        if repair:
            keyset.revoke(db, key, trigger, "expired")
    return found


def _record(db: sqlite3.Connection, backend: str, item: dict[str, Any]) -> None:
    integration(db, backend, "discrepancy", item.get("message") or item["kind"],
                key_id=item.get("key_id"), detail=item)


def _repair(db: sqlite3.Connection, backend: str, item: dict[str, Any], trigger: str) -> None:
    fix = item.get("fix")
    key = keyset.load_key(db, item.get("key_id"))
    payload = {"trigger": trigger, "reason": "reconcile: %s" % item["kind"]}
    if fix == FIX_REMOVE:
        if key is not None and key.state != lifecycle.REVOKED:
            return  # issued (or being revoked) since the backend was listed: not a stray
        job_add(db, backend, REMOVE_REMOTE, payload | {"remote": item.get("remote", {})},
                key_id=None if key is None else key.id)
    elif key is None or key.state not in lifecycle.LIVE or _queued(db, key):
        return
    elif fix == FIX_REISSUE:
        # A new PIN: the old one no longer opens anything, the guest must get the new one.
        keyset.move(db, key.id, lifecycle.REISSUE)
        db.execute("UPDATE keys SET secret = NULL, external_ids = json_remove("
                   "external_ids, '$.pin_stored'), updated_at = ? WHERE id = ?",
                   (now_iso(), key.id))
        job_add(db, backend, ISSUE, payload, key_id=key.id)
    elif fix == FIX_UPDATE:
        job_add(db, backend, UPDATE, payload, key_id=key.id)


def _queued(db: sqlite3.Connection, key: KeyRow) -> bool:
    """Work already waiting for the key fixes it on its own; do not stack another job."""
    row = db.execute("SELECT 1 FROM jobs WHERE key_id = ? AND kind IN (?, ?, ?) AND state "
                     "IN (?, ?)", (key.id, ISSUE, UPDATE, REVOKE, PENDING, RUNNING)).fetchone()
    return row is not None
