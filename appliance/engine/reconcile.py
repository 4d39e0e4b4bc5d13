"""Reconciliation: what the store believes, against what should be and what the backends hold.

It runs nightly (the systemd timer calls ``keybridge reconcile``), on ``cmd/reconcile`` and
from the command line. Two comparisons:

- the store alone: a revocation that gave up (``revocation_failed``), a key past its validity
  still live (``expired_but_live``);
- each backend against the store's keys (``Backend.reconcile``): for KS, ours-not-theirs,
  theirs-not-ours, suspended guests, wrong schedules, locks or memberships; for Space, which
  cannot list its keys, whether it answers and its doors' refusals of live keys' cards.

Every discrepancy goes to the integration log and the backend's ``reconcile_report`` event.
With ``repair`` each one becomes durable work in the same transaction: a revocation, a key
minted again, a key converged, or the backend's stray copy removed. Nothing is repaired
behind the workers' backs, so a repair survives a crash like any other job.
"""

import dataclasses
import datetime
import functools
import json
import logging
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
)
from appliance.store import Store, Tx, now_iso
from appliance.store.retry import persist

log = logging.getLogger("keybridge.reconcile")
Found = dict[str, list[dict[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Reconciliation:
    summary: dict[str, Any]
    """What the PMS's reply says: counts, whether repairs were queued, who could not be asked."""
    found: Found
    """Every discrepancy, by backend, for a technician's list."""


async def reconcile(store: Store, root: str, backends: Mapping[str, Backend], repair: bool,
                    trigger: str) -> Reconciliation:
    """Compare, record, report and (with ``repair``) queue the fixes."""
    started = now_iso()
    remote, errors = await _ask_backends(store, backends)
    found = await persist(functools.partial(_record_all, store, root, backends, remote,
                                            errors, repair, trigger, started),
                          "recording a reconciliation", store.health)
    total = sum(map(len, found.values()))
    log.info("reconciliation: %d discrepancies%s", total, ", repair queued" if repair else "",
             extra={"ctx": {"trigger": trigger}})
    return Reconciliation({"discrepancies": total, "repaired": repair, "errors": errors,
                           "by_backend": {name: len(items) for name, items in found.items()}},
                          found)


def _record_all(store: Store, root: str, backends: Mapping[str, Backend], remote: Found,
                errors: dict[str, str], repair: bool, trigger: str, started: str) -> Found:
    with store.transaction() as tx:
        found = _store_only(tx, backends, repair, trigger)
        for name, error in errors.items():
            tx.integration.add(name, "failure", "reconciliation could not ask it: %s" % error)
        for name, items in remote.items():
            for item in items:
                tx.integration.add(name, "discrepancy", item.get("message") or item["kind"],
                                   key_id=item.get("key_id"), detail=item)
                if repair:
                    _repair(tx, name, item, trigger)
            found.setdefault(name, []).extend(items)
        for name, items in found.items():
            tx.outbox.event(root, "reconcile_report", {
                "backend": name, "started_at": started, "finished_at": now_iso(),
                "discrepancies": items, "repaired": repair and bool(items),
                "error": errors.get(name)})
        tx.meta.set("last_reconciliation", json.dumps(
            {"at": now_iso(), "discrepancies": sum(map(len, found.values())),
             "repaired": repair, "errors": errors}))
    return found


async def _ask_backends(store: Store, backends: Mapping[str, Backend]
                        ) -> tuple[Found, dict[str, str]]:
    remote: Found = {}
    errors: dict[str, str] = {}
    for name, backend in backends.items():
        keys = store.read.keys.of_backend(name)
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


def _store_only(tx: Tx, backends: Mapping[str, Backend], repair: bool, trigger: str) -> Found:
    found: Found = {name: [] for name in backends}
    now = datetime.datetime.now(datetime.UTC)
    for key in tx.keys.stranded(lifecycle.REVOKING, (REVOKE,)):
        found.setdefault(key.backend, []).append({
            "kind": "revocation_failed", "key_id": key.id, **key.holder()})
        tx.integration.add(key.backend, "discrepancy", "revocation gave up; the key may "
                           "still open doors", key_id=key.id)
        if repair:
            keyset.revoke(tx, key, trigger, "reconcile")
    for key in tx.keys.stranded(lifecycle.ISSUING, (ISSUE, UPDATE)):
        found.setdefault(key.backend, []).append({
            "kind": "issue_failed", "fix": FIX_REISSUE, "key_id": key.id, **key.holder(),
            "message": "issuing gave up; the guest has no working key"})
        tx.integration.add(key.backend, "discrepancy", "issuing gave up", key_id=key.id)
        if repair:
            tx.jobs.add(key.backend, ISSUE, {"trigger": trigger, "reason": "reconcile"},
                        key_id=key.id)
    for key in tx.keys.live():
        if key.valid_until >= now:
            continue
        found.setdefault(key.backend, []).append({
            "kind": "expired_but_live", "key_id": key.id, **key.holder(),
            "valid_until": key.valid_until.isoformat()})
        tx.integration.add(key.backend, "discrepancy", "key past its validity still live",
                           key_id=key.id)
        if repair:
            keyset.revoke(tx, key, trigger, "expired")
    return found


def _repair(tx: Tx, backend: str, item: dict[str, Any], trigger: str) -> None:
    fix = item.get("fix")
    key = tx.keys.get(item.get("key_id"))
    payload = {"trigger": trigger, "reason": "reconcile: %s" % item["kind"]}
    if fix == FIX_REMOVE:
        if key is not None and key.state != lifecycle.REVOKED:
            return  # issued (or being revoked) since the backend was listed: not a stray
        tx.jobs.add(backend, REMOVE_REMOTE, payload | {"remote": item.get("remote", {})},
                    key_id=None if key is None else key.id)
    elif key is None or key.state not in lifecycle.LIVE or tx.jobs.queued(
            key.id, (ISSUE, UPDATE, REVOKE)):
        return  # work already waiting for the key fixes it on its own
    elif fix == FIX_REISSUE:
        # A new PIN: the old one no longer opens anything, the guest must get the new one.
        tx.keys.reissue(key.id)
        tx.jobs.add(backend, ISSUE, payload, key_id=key.id)
    elif fix == FIX_UPDATE:
        tx.jobs.add(backend, UPDATE, payload, key_id=key.id)
