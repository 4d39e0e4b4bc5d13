"""The life cycles of a key and of a job, as data.

Every state change the appliance makes is a ``(state, event)`` lookup in one of the two
tables below; code never writes a state of its own choosing. A pair missing from a table is a
bug (a backend reporting an outcome that cannot follow the key's state), raised as
``LifecycleError``, which the job runner records as a crashed job.

Keys::

    (new) ─planned→ ISSUING ─issued/updated→ ACTIVE ─issued/updated→ ACTIVE
    ISSUING/ACTIVE ─reissue→ ISSUING          (reconcile: a new PIN must be minted)
    ISSUING/ACTIVE/REVOKING ─revoke→ REVOKING ─revoked→ REVOKED
    REVOKING/REVOKED ─issued/updated→ REVOKING (a card or PIN made after the revocation was
                                                asked for: it must be revoked again)

Jobs::

    (new) ─queued→ PENDING ─claimed→ RUNNING ─succeeded/skipped→ DONE
    RUNNING ─retry/interrupted→ PENDING       RUNNING ─gave_up→ FAILED
    PENDING ─superseded→ (deleted)            (an automatic delivery planned again)
    PENDING/FAILED ─retry_asked→ PENDING      PENDING ─cancelled→ FAILED   (keybridge jobs)

Backends report outcomes as key events (``ISSUED``, ``UPDATED``, ``REVOKED``), never states.
"""

from appliance.errors import KeybridgeError

# Key states. LIVE keys give (or are about to give) access.
NEW = "new"
ISSUING = "issuing"
ACTIVE = "active"
REVOKING = "revoking"
REVOKED = "revoked"
KEY_STATES = (ISSUING, ACTIVE, REVOKING, REVOKED)
LIVE = (ISSUING, ACTIVE)

# Key events: from the engine (PLANNED, REISSUE, REVOKE) and from backends (the rest).
PLANNED = "planned"
ISSUED = "issued"
UPDATED = "updated"
REISSUE = "reissue"
REVOKE = "revoke"
REVOKED_EVENT = "revoked"
BACKEND_KEY_EVENTS = (ISSUED, UPDATED, REVOKED_EVENT)

KEY_TRANSITIONS: dict[tuple[str, str], str] = {
    (NEW, PLANNED): ISSUING,
    (ISSUING, ISSUED): ACTIVE,
    (ACTIVE, ISSUED): ACTIVE,
    (ISSUING, UPDATED): ACTIVE,
    (ACTIVE, UPDATED): ACTIVE,
    (ISSUING, REISSUE): ISSUING,
    (ACTIVE, REISSUE): ISSUING,
    (ISSUING, REVOKE): REVOKING,
    (ACTIVE, REVOKE): REVOKING,
    (REVOKING, REVOKE): REVOKING,
    (REVOKING, REVOKED_EVENT): REVOKED,
    # A revocation is on its way (or done): what a job made meanwhile must not resurrect
    # the key; REVOKING makes the revocation (or reconcile) take it away again.
    (REVOKING, ISSUED): REVOKING,
    (REVOKING, UPDATED): REVOKING,
    (REVOKED, ISSUED): REVOKING,
    (REVOKED, UPDATED): REVOKING,
}

# Job states.
QUEUED_NEW = "new"
PENDING = "pending"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
DELETED = "deleted"
JOB_STATES = (PENDING, RUNNING, DONE, FAILED)
WAITING = (PENDING, RUNNING)
FINISHED = (DONE, FAILED)
"""Nothing runs these again unless a technician asks; the store prunes them past retention."""

# Job events.
QUEUED = "queued"
CLAIMED = "claimed"
SUCCEEDED = "succeeded"
SKIPPED = "skipped"
RETRY = "retry"
INTERRUPTED = "interrupted"
GAVE_UP = "gave_up"
SUPERSEDED = "superseded"
RETRY_ASKED = "retry_asked"
CANCELLED = "cancelled"

JOB_TRANSITIONS: dict[tuple[str, str], str] = {
    (QUEUED_NEW, QUEUED): PENDING,
    (PENDING, CLAIMED): RUNNING,
    (RUNNING, SUCCEEDED): DONE,
    (RUNNING, SKIPPED): DONE,
    (RUNNING, RETRY): PENDING,
    (RUNNING, INTERRUPTED): PENDING,
    (RUNNING, GAVE_UP): FAILED,
    (PENDING, SUPERSEDED): DELETED,
    # A technician's word (keybridge jobs): try now, try again, or stop trying.
    (PENDING, RETRY_ASKED): PENDING,
    (FAILED, RETRY_ASKED): PENDING,
    (PENDING, CANCELLED): FAILED,
}


class LifecycleError(KeybridgeError):
    """A transition no table allows: a bug in the engine or a backend, never the PMS's."""


def key_next(state: str, event: str) -> str:
    """The key's state after ``event``; raises LifecycleError for a pair not in the table."""
    return _next(KEY_TRANSITIONS, "key", state, event)


def job_next(state: str, event: str) -> str:
    """The job's state after ``event``; raises LifecycleError for a pair not in the table."""
    return _next(JOB_TRANSITIONS, "job", state, event)


def _next(table: dict[tuple[str, str], str], what: str, state: str, event: str) -> str:
    try:
        return table[state, event]
    except KeyError:
        raise LifecycleError("a %s in state %r cannot take the event %r; the allowed "
                             "transitions are in appliance/lifecycle.py"
                             % (what, state, event)) from None
