"""Desk commands' arguments: typed from the PMS's JSON to the job, JSON only in the store."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.bridge import contract
from appliance.errors import CommandError

IDS = st.text("AB0123456789-", min_size=1, max_size=8)
ARGS = st.one_of(
    st.builds(contract.EncodeCardArgs, booking_id=IDS, encoder=IDS,
              count=st.integers(1, 10), copy=st.booleans()),
    st.builds(contract.ReadCardArgs, encoder=IDS),
    st.builds(contract.MobileKeyArgs, owner_key_id=IDS, phone=st.just("+31612345678")),
    st.builds(contract.ReconcileArgs, repair=st.booleans()),
    st.builds(contract.ConnectionTestArgs, backend=st.sampled_from(contract.BACKENDS)))


@given(ARGS)
def test_a_jobs_arguments_read_back_as_they_were_queued(args: contract.DeskArgs) -> None:
    assert contract.from_payload(type(args), contract.as_payload(args)) == args


def test_arguments_an_earlier_version_queued_still_read() -> None:
    """A send_mobile_key job stored before owner keys could ask for one; the engine's own
    additions to a payload are left aside."""
    stored = {"booking_id": "B1", "phone": "+31612345678", "rooms_taken": ["Pitch 12"]}
    args = contract.from_payload(contract.MobileKeyArgs, stored)
    assert args == contract.MobileKeyArgs(booking_id="B1", phone="+31612345678")


def test_the_pms_json_becomes_typed_arguments_with_defaults() -> None:
    args = contract.DESK_COMMANDS["encode_card"]({"request_id": "r", "booking_id": "B1",
                                                  "encoder": "desk-1"})
    assert args == contract.EncodeCardArgs("B1", None, "desk-1", 1, False)
    with pytest.raises(CommandError) as caught:
        contract.DESK_COMMANDS["encode_card"]({"request_id": "r", "encoder": "desk-1"})
    assert caught.value.field == "booking_id"
