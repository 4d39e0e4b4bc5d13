"""A finished job's record: the key's new state, audit rows, events and the desk's reply,
all in the transaction that ends the job.

The key's state is looked up in ``appliance.lifecycle`` from the event the backend reported,
applied to the key as stored now (not the copy read when the job began: a revocation may
have come in meanwhile).
"""

from collections.abc import Mapping
from typing import Any

from appliance import lifecycle
from appliance.engine import replies
from appliance.engine.backend import (
    DELIVER,
    DESK_KINDS,
    ENCODE,
    ISSUE,
    MOBILE,
    READ,
    RECONCILE,
    REVOKE,
    UPDATE,
    Backend,
    BackendFailure,
    KeyRow,
    Outcome,
)
from appliance.store import Job, Store, Tx, job_event_id

REPLIED_KINDS = (*DESK_KINDS, RECONCILE)
"""Jobs that end with a second reply to the command that asked for them."""
KEY_FAILED_KINDS = (ISSUE, UPDATE, REVOKE, DELIVER, ENCODE, MOBILE, READ)
"""Jobs whose failure the PMS hears of as key_failed (the desk's besides its reply)."""
ANNOUNCING = ("key_issued", "key_updated", "card_encoded")
"""Events after which the PMS knows the key: its key_revoked then says announced: true."""


class Recorder:
    def __init__(self, store: Store, root: str, backends: Mapping[str, Backend]) -> None:
        self.store = store
        self.root = root
        self.backends = backends

    def succeeded(self, job: Job, key: KeyRow | None, outcome: Outcome) -> None:
        trigger = job.request_id or str(job.payload.get("trigger", "engine"))
        with self.store.transaction() as tx:
            events = outcome.events
            if key is not None:
                state, key = _update_key(tx, key, outcome)  # the key as stored, not as read
                if job.kind in (ISSUE, UPDATE) and state not in lifecycle.LIVE:
                    # Revoked while this job ran: a PIN about to die is no news for the PMS.
                    events = []
            for action, external_id, detail in outcome.audit:
                tx.audit.add(action, job.backend, trigger, key_id=job.key_id,
                             external_id=external_id, detail=detail,
                             booking_id=None if key is None else key.booking_id,
                             owner_key_id=None if key is None else key.owner_key_id)
            for kind, fields in events:
                tx.outbox.event(self.root, kind, _announce(tx, key, kind, fields),
                                job_event_id(self.store.id, job.id, kind))
            if job.kind in REPLIED_KINDS:
                self._final_reply(tx, job, replies.body(job.request_id, job.kind, "ok",
                                                        outcome.data))
            tx.jobs.done(job)

    def failed(self, job: Job, key: KeyRow | None, failure: BackendFailure,
               retry_at: float | None) -> None:
        """Record ``failure``; ``retry_at``: when to try again, None to give up."""
        retry = retry_at is not None
        with self.store.transaction() as tx:
            tx.integration.add(job.backend, "failure", failure.message, key_id=job.key_id,
                               detail={"job": job.kind, "code": failure.code,
                                       "attempt": job.attempts})
            if job.kind in REPLIED_KINDS:
                self._final_reply(tx, job, replies.failure(
                    job.request_id, job.kind, failure.code, failure.message, failure.hint))
            # A retried failure is news once; its end is news again. A key revoked before
            # its card was cut has failed nothing: key_revoked said it all.
            if job.kind in KEY_FAILED_KINDS and (job.attempts == 1 or not retry) and (
                    failure.code != "no_key"):
                tx.outbox.event(self.root, "key_failed",
                                self._failure_fields(job, key, failure, retry),
                                job_event_id(self.store.id, job.id, "key_failed",
                                             job.attempts))
            # What `keybridge jobs` and `status` show: the error and what to do about it.
            error = "%s (%s)" % (failure.message, failure.hint) if failure.hint else (
                failure.message)
            if retry_at is not None:
                tx.jobs.retry(job, retry_at, error)
            else:
                tx.jobs.failed(job, error)

    def _final_reply(self, tx: Tx, job: Job, reply: dict[str, Any]) -> None:
        route = job.reply or replies.route(self.root, job.kind)
        if job.request_id is not None:
            tx.inbox.set_reply(job.request_id, reply)
        tx.outbox.add(route, reply)

    def _failure_fields(self, job: Job, key: KeyRow | None, failure: BackendFailure,
                        retry: bool) -> dict[str, Any]:
        """key_failed: whose key, which operation, the (vendor) code and what to do."""
        backend = self.backends.get(job.backend)
        fields: dict[str, Any] = ({"backend": job.backend} if backend is None
                                  else backend.failure_fields(job))
        fields["operation"] = job.kind
        if key is not None:
            fields |= key.holder() | {"key_id": key.id}
            kind = key.key_type or key.plan.get("key_type")
            if kind:  # only keys of backends with key types name theirs
                fields["key_type"] = kind
        if "encoder" in job.payload:
            fields["encoder"] = job.payload["encoder"]
        return fields | {"code": failure.code, "message": failure.message,
                         "hint": failure.hint, "will_retry": retry}


def _announce(tx: Tx, key: KeyRow | None, kind: str,
              fields: dict[str, Any]) -> dict[str, Any]:
    """One rule for keys the PMS never heard of: every key_revoked says whether the key was
    announced. A PIN minted while its booking's check-out arrived is revoked unannounced (its
    key_issued is dropped: a PIN about to die is no news), as is a Space key no card was cut
    for; a PMS with no record of the key_id may drop such a key_revoked."""
    if key is None:
        return fields
    if kind in ANNOUNCING:
        tx.keys.announce(key.id)
    elif kind == "key_revoked":
        return fields | {"announced": key.announced}
    return fields


def _update_key(tx: Tx, key: KeyRow, outcome: Outcome) -> tuple[str, KeyRow]:
    """Record the outcome on the key; returns the state it now has, and the key as stored
    when the job ended (a revocation may have come in while it ran)."""
    current = tx.keys.get(key.id) or key
    state = current.state
    if outcome.key_event is not None:
        state = tx.keys.move(key.id, outcome.key_event)
    # Written even when unchanged: updated_at says which key of a room is the newest.
    tx.keys.set_ids(key.id, current.external_ids if outcome.external_ids is None
                    else outcome.external_ids)
    if outcome.secret is not None:
        tx.keys.set_secret(key.id, outcome.secret)
    return state, current


def ctx(job: Job, key: KeyRow | None) -> dict[str, Any]:
    """The journal's context for a job's lines."""
    found: dict[str, Any] = {"job": job.id, "backend": job.backend}
    if job.request_id:
        found["request_id"] = job.request_id
    if key is not None:
        found.update(key.holder(), key_id=key.id)
    return found
