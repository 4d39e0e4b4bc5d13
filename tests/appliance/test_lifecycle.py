"""The life cycles of keys and jobs: the tables in appliance/lifecycle.py are the only place
a state is decided, and what they allow keeps the promises the PMS relies on."""

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance import lifecycle
from appliance.lifecycle import (
    BACKEND_KEY_EVENTS,
    ISSUED,
    ISSUING,
    JOB_TRANSITIONS,
    KEY_TRANSITIONS,
    LIVE,
    NEW,
    PLANNED,
    REVOKE,
    REVOKED,
    REVOKED_EVENT,
    REVOKING,
    LifecycleError,
)

APPLIANCE = Path(__file__).resolve().parents[2] / "appliance"
KEY_EVENTS = sorted({event for _state, event in KEY_TRANSITIONS})
STATES = (*lifecycle.KEY_STATES, *lifecycle.JOB_STATES)


def test_a_transition_the_table_lacks_is_an_error_naming_the_table() -> None:
    with pytest.raises(LifecycleError, match=r"'revoked'.*'planned'.*lifecycle\.py"):
        lifecycle.key_next(REVOKED, PLANNED)
    with pytest.raises(LifecycleError, match=r"'done'.*'retry'"):
        lifecycle.job_next(lifecycle.DONE, lifecycle.RETRY)


def test_a_new_key_is_issuing_and_a_new_job_pending() -> None:
    assert lifecycle.key_next(NEW, PLANNED) == ISSUING
    assert lifecycle.job_next(lifecycle.QUEUED_NEW, lifecycle.QUEUED) == lifecycle.PENDING


def test_every_outcome_a_backend_reports_is_defined_where_it_can_arrive() -> None:
    """A job for a live key may end issued or updated; a revocation ends revoked. A key
    revoked meanwhile takes the outcome too (the job could not be stopped)."""
    for state in (*LIVE, REVOKING, REVOKED):
        for event in (ISSUED, lifecycle.UPDATED):
            lifecycle.key_next(state, event)
    assert lifecycle.key_next(REVOKING, REVOKED_EVENT) == REVOKED
    assert set(BACKEND_KEY_EVENTS) <= set(KEY_EVENTS)


def test_finished_jobs_stay_finished_unless_a_technician_asks() -> None:
    """Done is done; a failed job runs again only on a technician's word (keybridge jobs)."""
    assert not [pair for pair in JOB_TRANSITIONS if pair[0] == lifecycle.DONE]
    assert [pair for pair in JOB_TRANSITIONS if pair[0] == lifecycle.FAILED] == [
        (lifecycle.FAILED, lifecycle.RETRY_ASKED)]


@given(st.lists(st.sampled_from(KEY_EVENTS), max_size=30))
def test_a_key_asked_to_be_revoked_never_opens_a_door_again(events: list[str]) -> None:
    """Whatever jobs report after a revocation was asked for (a card cut, a PIN updated at
    the same moment), the key never comes back to life, and revoked follows revoking only."""
    state, revoke_asked = lifecycle.key_next(NEW, PLANNED), False
    for event in events:
        try:
            after = lifecycle.key_next(state, event)
        except LifecycleError:
            continue  # the engine records that job as crashed; the state stays
        if after == REVOKED:
            assert state == REVOKING
        revoke_asked = revoke_asked or event == REVOKE
        if revoke_asked:
            assert after not in LIVE
        state = after
    assert state in lifecycle.KEY_STATES


def _state_literals(path: Path) -> list[str]:
    """Comparisons of ``.state`` with a literal, and SQL that names a state in quotes."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare) and any(
                isinstance(side, ast.Attribute) and side.attr == "state"
                for side in (node.left, *node.comparators)) and any(
                isinstance(side, ast.Constant) and side.value in STATES
                for side in (node.left, *node.comparators)):
            found.append("%s:%d" % (path.name, node.lineno))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.search(
                r"state\s*(=|IN)\s*\(?\s*'", node.value, re.IGNORECASE):
            found.append("%s:%d" % (path.name, node.lineno))
    return found


def test_no_state_is_written_outside_the_tables() -> None:
    """A literal state in the code is a transition the tables do not know about."""
    found = [where for path in sorted(APPLIANCE.rglob("*.py"))
             if path.name != "lifecycle.py" for where in _state_literals(path)]
    assert found == []
