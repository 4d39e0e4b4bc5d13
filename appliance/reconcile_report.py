"""``keybridge reconcile`` for a person: every discrepancy on a line of its own, what the
store says and what the backend says, and the repair that would fix it.

A backend that could not be asked makes the run incomplete, and that comes first: "0
discrepancies" from a backend nobody heard from would be a lie.
"""

from typing import Any

from appliance.engine.reconcile import Reconciliation

REPAIRS = {"reissue": "mint the key again (a new PIN)", "update": "converge the key",
           "remove": "remove the backend's copy"}
"""What ``--repair`` does about a discrepancy, by its ``fix``."""
REVOKED_BY_REPAIR = ("revocation_failed", "expired_but_live")
"""Store-only discrepancies whose repair is the revocation itself."""


def show(result: Reconciliation, repair: bool) -> None:
    errors: dict[str, str] = result.summary["errors"]
    for backend, error in errors.items():
        print("INCOMPLETE: %s could not be asked: %s" % (backend, error))
    total = result.summary["discrepancies"]
    asked = [name for name in result.found if name not in errors] or ["none"]
    print("reconciliation%s: %d discrepanc%s%s" % (
        " of %s" % ", ".join(asked) if errors else "", total, "y" if total == 1 else "ies",
        ", repair queued" if repair and total else
        "" if repair or not total else "; keybridge reconcile --repair queues the fixes"))
    for backend, items in result.found.items():
        for item in items:
            print("  " + line(backend, item))


def line(backend: str, item: dict[str, Any]) -> str:
    """``ks  missing_in_ks  key=… booking=B1 (stay): what is wrong → the repair``"""
    whose = (item.get("booking_id") and "booking=%s" % item["booking_id"]) or (
        item.get("owner_key_id") and "owner_key=%s" % item["owner_key_id"]) or "no key of ours"
    parts = ["%-6s %-18s" % (backend, item["kind"]), "key=%s" % item.get("key_id"), whose]
    if item.get("key_type"):
        parts.append("(%s)" % item["key_type"])
    text = " ".join(parts)
    if item.get("message"):
        text += ": " + str(item["message"])
    for name in ("valid_until", "site_user_id", "found"):
        if item.get(name):
            text += " %s=%s" % (name, item[name])
    fix = item.get("fix")
    if fix is None:
        return text + (" → revoke the key" if item["kind"] in REVOKED_BY_REPAIR
                       else " → no repair by keybridge: look at it in %s" % backend)
    return text + " → " + REPAIRS.get(fix, str(fix))
