"""Desired keys versus known keys: the convergence step every state change goes through.

A holder (a booking or an owner key) that should have access gets, per backend, one live key
with its units and validity; one that should not has its live keys revoked. The difference is
written as jobs in the caller's transaction, so the state change and its work commit together.
"""

import logging
import time
from collections.abc import Mapping
from typing import Any

from appliance import lifecycle
from appliance.engine.backend import (
    DELIVER,
    ISSUE,
    REVOKE,
    UPDATE,
    Backend,
    Holder,
    KeyRow,
    PlannedKey,
)
from appliance.store import Tx

log = logging.getLogger("keybridge.engine")


def converge(tx: Tx, backends: Mapping[str, Backend], trigger: str, holder: Holder,
             active: bool, reason: str = "") -> int:
    """Write the jobs that bring the holder's keys to what they should be; returns how many.

    ``active``: the holder should have access now (a confirmed booking, a live owner key).
    """
    planned: dict[tuple[str, str], PlannedKey] = {}
    if active:
        for backend in backends.values():
            for key in backend.plan(holder):
                planned[key.backend, key.key_type] = key
    jobs = 0
    booking_id, owner_key_id = holder.booking_id, holder.owner_key_id
    live = [key for key in tx.keys.of_holder(booking_id, owner_key_id)
            if key.state in lifecycle.LIVE]
    for known in live:
        wanted = planned.pop((known.backend, known.key_type), None)
        if wanted is None:
            # An owner key changed to units without this backend has no booking status.
            jobs += revoke(tx, known, trigger, reason or "no_longer_needed")
        elif _differs(known, wanted):
            _update(tx, known, wanted, trigger)
            jobs += 1
    for wanted in planned.values():
        key_id = tx.keys.add(wanted.backend, wanted.key_type, booking_id, owner_key_id,
                             wanted.units, wanted.valid_from, wanted.valid_until, _plan(wanted))
        tx.jobs.add(wanted.backend, ISSUE, {"trigger": trigger}, key_id=key_id)
        _schedule(tx, key_id, wanted)
        jobs += 1
    return jobs


def revoke(tx: Tx, key: KeyRow, trigger: str, reason: str) -> int:
    tx.keys.move(key.id, lifecycle.REVOKE)
    tx.jobs.add(key.backend, REVOKE, {"reason": reason, "trigger": trigger}, key_id=key.id)
    return 1


def _differs(key: KeyRow, want: PlannedKey) -> bool:
    return (key.units != want.units or key.valid_from != want.valid_from
            or key.valid_until != want.valid_until or key.plan != _plan(want))


def _plan(want: PlannedKey) -> dict[str, Any]:
    """The key data as stored: with the delivery time, so a new one is a change."""
    if want.deliver_at is None:
        return want.plan
    return want.plan | {"deliver_at": want.deliver_at}


def _update(tx: Tx, key: KeyRow, want: PlannedKey, trigger: str) -> None:
    tx.keys.replan(key.id, want.units, want.valid_from, want.valid_until, _plan(want))
    # What the key was, so the backend can tell the PMS what changed (dates, rooms...).
    before = {"units": list(key.units), "valid_from": key.valid_from.isoformat(),
              "valid_until": key.valid_until.isoformat(), "plan": key.plan}
    tx.jobs.add(key.backend, UPDATE, {"trigger": trigger, "before": before}, key_id=key.id)
    _schedule(tx, key.id, want)


def _schedule(tx: Tx, key_id: str, want: PlannedKey) -> None:
    """(Re)plan the key's automatic delivery; a delivery already made is the job's to judge."""
    tx.jobs.supersede(key_id, DELIVER)
    if want.deliver_at is not None:
        tx.jobs.add(want.backend, DELIVER, {}, key_id=key_id,
                    at=max(time.time(), want.deliver_at))


def unknown_units(tx: Tx, root: str, source: str, booking_id: str, units: list[str]) -> None:
    """Units no backend maps get no key: said to the PMS (``key_failed``, ``unknown_unit``)
    and in the journal, once per revision, rather than nothing following at all."""
    message = "no backend knows unit %s, so it gets no key" % ", ".join(units)
    hint = ("map it in %s: [units] for ProAccess Space (unit = \"Space room\"), [ks.units] "
            "for Salto KS (unit = [\"KS lock\"]), then send the booking again" % source)
    log.warning("%s; %s", message, hint, extra={"ctx": {"booking_id": booking_id}})
    tx.outbox.event(root, "key_failed", {
        "booking_id": booking_id, "key_id": None, "backend": None, "operation": ISSUE,
        "code": "unknown_unit", "message": message, "hint": hint, "will_retry": False,
        "units": units})
