"""The seam where the Salto backends plug into the engine.

A backend says which keys a booking or owner key should have (``plan``) and carries out jobs
(``run``). The engine owns everything durable around it: the job rows, retries, the outbox,
the audit log. A backend reports failure with ``BackendFailure``, saying whether a retry can
help and whether the external effect may already have happened.
"""

import dataclasses
import datetime
from collections.abc import Callable
from typing import Any

from appliance.store import Job, Tx
from appliance.store import KeyRow as KeyRow  # the seam names it for the backends

# Job kinds every backend understands. ISSUE/UPDATE/REVOKE converge keys on desired state;
# the others are desk requests a person is waiting for, so they are never retried.
ISSUE = "issue_key"
UPDATE = "update_key"
REVOKE = "revoke_key"
ENCODE = "encode_card"
READ = "read_card"
MOBILE = "send_mobile_key"
DELIVER = "deliver_mobile_key"
"""A product's automatic mobile key, due N days before arrival or at check-in."""
TEST = "test_connection"
RECONCILE = "reconcile"
REMOVE_REMOTE = "remove_remote"
"""Delete what a backend holds under our reference but no live key explains (reconcile)."""
DESK_KINDS = (ENCODE, READ, MOBILE, TEST)

# How reconciliation repairs a discrepancy: mint the key again, converge it, or remove the
# backend's copy nobody should have.
FIX_REISSUE = "reissue"
FIX_UPDATE = "update"
FIX_REMOVE = "remove"


@dataclasses.dataclass(frozen=True)
class Holder:
    """Whom keys are for, a booking or an owner key, with everything rules may look at."""

    units: tuple[str, ...]
    valid_from: datetime.datetime
    valid_until: datetime.datetime
    booking_id: str | None = None
    owner_key_id: str | None = None
    status: str = ""
    labels: tuple[str, ...] = ()
    type: str = ""
    extras: tuple[str, ...] = ()
    costs: tuple[str, ...] = ()
    key_type: str = ""  # an owner key names its own
    print_info: tuple[str, ...] = ()  # an owner key's own card lines
    name: str = ""  # the guest, or the owner key's holder
    phone: str = ""
    license_plate: str = ""


@dataclasses.dataclass(frozen=True)
class PlannedKey:
    """A key that should exist: its units and validity, for one backend.

    ``key_type`` tells apart several keys of one holder on one backend (a pitch PIN and a
    shower-block PIN); "" where a backend has one key per holder. ``plan`` is the key data
    a backend prepares in advance (Space: rooms, authorizations, local times); a change of
    it is a change of the key. ``deliver_at``: when a follow-up DELIVER job falls due
    (epoch seconds; 0: at once), for keys sent to the holder automatically.
    """

    backend: str
    units: tuple[str, ...]
    valid_from: datetime.datetime
    valid_until: datetime.datetime
    key_type: str = ""
    plan: dict[str, Any] = dataclasses.field(default_factory=dict)
    deliver_at: float | None = None


def holder_fields(key: KeyRow) -> dict[str, Any]:
    """``booking_id`` or ``owner_key_id``: whose key it is, as events name it."""
    return key.holder()


@dataclasses.dataclass
class Outcome:
    """What a finished job changes, committed together with the job's end.

    ``data``: the desk reply's data; ``events``: (type, fields) to publish; ``key_event``:
    what happened to the key (``lifecycle.ISSUED``, ``UPDATED``, ``REVOKED_EVENT``; the
    engine looks its new state up in the life-cycle table); ``external_ids``: its new
    backend ids; ``audit``: (action, external id, detail) rows; ``secret``: a PIN or card
    data to store encrypted.
    """

    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    key_event: str | None = None
    external_ids: dict[str, Any] | None = None
    audit: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    secret: bytes | None = None


class BackendFailure(Exception):
    """A job did not succeed.

    ``code``: the contract's or the vendor's code; ``hint``: what a person can do;
    ``retry``: trying again later can help; ``may_have_run``: the external effect may have
    happened although we have no answer.
    """

    def __init__(self, code: str, message: str, *, hint: str = "", retry: bool = False,
                 may_have_run: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.retry = retry
        self.may_have_run = may_have_run


@dataclasses.dataclass(frozen=True)
class Health:
    up: bool
    since: str
    last_error: str | None


Checkpoint = Callable[[dict[str, Any]], None]
"""Commits a key's backend ids at once, before the job ends, so a crash in the middle of a
multi-step job finds them (a KS guest created is never created twice)."""


def no_checkpoint(ids: dict[str, Any]) -> None:
    """For jobs without a key."""


class Backend:
    """What every backend does; the hooks have the defaults a backend without desk work,
    encoders or read-backs needs (``appliance/engine/plugin.py`` says how one plugs in)."""

    name: str
    family: str
    """The backend as the contract names it (``space`` for every Space administration)."""
    desk_kinds: tuple[str, ...] = ()
    """Desk commands it carries out (cut a card, read one, send a mobile key)."""
    concurrency: int = 1
    """Jobs its worker runs at once, never two for one key (Space has one link)."""

    def plan(self, holder: Holder) -> list[PlannedKey]:
        """The keys ``holder`` should have here; raises CommandError for a holder that
        names what the configuration lacks (an owner key's unknown key type)."""
        raise NotImplementedError

    def knows_unit(self, unit: str) -> bool:
        """Whether ``unit`` is in this backend's unit map; a backend without one takes any.
        A booking on a unit no backend knows gets ``key_failed`` with ``unknown_unit``."""
        return True

    def check_encoder(self, encoder: str) -> str | None:
        """The problem with addressing ``encoder``, or None."""
        return "%s has no encoders" % self.name

    def idempotent(self, kind: str) -> bool:
        """Whether a ``kind`` job may be repeated after a crash left its outcome unknown."""
        return True

    def outcome_unknown_hint(self, kind: str) -> str:
        """What a person does when a ``kind`` job may or may not have happened."""
        return "check in %s whether it happened, then ask again if needed" % self.family

    def failure_fields(self, job: Job) -> dict[str, Any]:
        """What key_failed says about where the job ran."""
        return {"backend": self.family}

    def prepare(self, job: Job, key: KeyRow | None, store: Tx) -> Job:
        """The job as it should run, with what only the store knows added (read only)."""
        return job

    def describe(self, job: Job, outcome: Outcome, store: Tx) -> None:
        """Complete a finished job's outcome with what only the store knows (read only)."""

    async def start(self) -> None:
        """Open links; called once before the workers start."""

    async def close(self) -> None:
        """Close links; called once at the end."""

    def health(self) -> Health:
        raise NotImplementedError

    async def run(self, job: Job, key: KeyRow | None,
                  checkpoint: Checkpoint = no_checkpoint) -> Outcome:
        """Carry out ``job``; raises BackendFailure."""
        raise NotImplementedError

    async def reconcile(self, keys: list[KeyRow]) -> list[dict[str, Any]]:
        """What the backend holds that differs from ``keys`` (every key of the backend that
        is not revoked long ago): dicts with ``kind``, ``fix`` (FIX_* or None), ``key_id``
        when one of ours is concerned, and what the technician needs to find it."""
        return []

    async def tool(self, verb: str, args: dict[str, Any]) -> Any:
        """A technician's request (``keybridge space ping``...) carried out on the running
        service's own link, queued like any other; raises BackendFailure."""
        raise BackendFailure("not_supported", "%s takes no technician's requests" % self.name)
