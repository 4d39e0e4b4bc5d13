"""Binary mobile keys (CNMB/CCMB) end to end: a real Mosquitto, the appliance process and the
Space simulator process. The key data Space hands back reaches the PMS once, in key_issued,
and nowhere else: not in the reply, not in clear in the store, not in the journal; a repeated
request_id makes no second key, a kill -9 mid-way loses the command to no one, and the
technician's ``keybridge space mobile --binary`` goes through the running service.

What the simulator generated (its control channel's state) is the ground truth.
"""

import contextlib
import datetime
import json
import re
import sqlite3
import subprocess
import sys

import pytest

from appliance.errors import SecretKeyError
from appliance.store.secrets import Keyring

from _appliance import ROOT, eventually
from test_appliance_contract import event, send
from test_space_appliance import GUEST_PHONE, accepted, booking, final, now, running

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def site(tmp_path, broker, space, peer_factory):
    with running(tmp_path, broker, peer_factory, [space]) as both:
        yield both


def pitch(request_id, booking_id):
    """A pitch booking five days ahead, without a guest phone: no automatic key goes out."""
    return booking(request_id, booking_id, labels=["pitch"],
                   arrival=now() + datetime.timedelta(days=5))


def binary(request_id, booking_id="B1", **extra):
    return {"request_id": request_id, "booking_id": booking_id, "phone": GUEST_PHONE,
            "binary": True, **extra}


def handed_back(space):
    """The binary keys the simulator made, oldest first: key data and installation id."""
    keys = space.control({"op": "state"})["state"]["mobile_keys"]
    return [(key["binary"], key["installation_id"]) for key in keys if "binary" in key]


def stored_bytes(appliance):
    """Every byte of the store as it is on disk, write-ahead log included."""
    return b"".join(path.read_bytes() for path in appliance.db_file.parent.glob(
        appliance.db_file.name + "*") if path.is_file())


def replies(pms, request_id):
    return [m.json() for m in pms.messages
            if "/reply/" in m.topic and m.json()["request_id"] == request_id]


def keybridge(appliance, *args):
    return subprocess.run([sys.executable, "-m", "appliance", *args, "--config",
                           str(appliance.config_file)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_a_binary_key_reaches_the_pms_once_and_is_kept_nowhere_in_clear(site, space):
    appliance, pms = site
    accepted(pms, appliance, "booking", pitch("b1", "B1"))
    accepted(pms, appliance, "send_mobile_key", binary("bin-1"))
    done = final(pms, "bin-1")
    issued = event(pms, "key_issued", booking_id="B1", timeout=20)
    [(key_data, installation)] = handed_back(space)
    assert (issued["binary_key"], issued["installation_id"]) == (key_data, installation)
    assert (issued["binary"], issued["copy"], issued["phone"]) == (True, False, GUEST_PHONE)
    assert [frame.split("|")[1:3] for frame in space.requests("CNMB")] == [
        ["CNMB", GUEST_PHONE]]
    assert done["status"] == "ok" and done["data"]["binary"] is True
    assert "binary_key" not in done["data"] and "installation_id" not in done["data"]
    # The key data is nowhere in clear: not in the store's bytes, not in the journal.
    secrets = [key_data.encode(), key_data.lower().encode(), bytes.fromhex(key_data),
               installation.encode()]
    store = stored_bytes(appliance)
    assert not [secret for secret in secrets if secret in store]
    assert key_data not in appliance.log_text() and installation not in appliance.log_text()

    # The same request_id again: the stored reply, and no second key.
    send(pms, appliance, "send_mobile_key", binary("bin-1"))
    eventually(lambda: len(replies(pms, "bin-1")) == 3, what="the repeated reply")
    assert replies(pms, "bin-1")[2] == done
    # A second binary key for the same booking is a copy (CCMB): the first keeps working.
    # Space runs one job at a time, so a key the repeat had made would have come first.
    accepted(pms, appliance, "send_mobile_key", binary("bin-2"))
    second = event(pms, "key_issued", booking_id="B1", copy=True, timeout=20)
    assert second["binary_key"] == handed_back(space)[1][0] != key_data
    assert len(space.requests("CNMB")) == 1 and len(space.requests("CCMB")) == 1
    assert len([m for m in pms.messages if m.topic.endswith("/event/key_issued")]) == 2


def test_a_binary_key_the_broker_confirmed_leaves_the_store(site, space):
    """Its encrypted copy in the outbox goes at the PUBACK: even the key file's holder finds
    it nowhere in the store's bytes afterwards."""
    appliance, pms = site
    accepted(pms, appliance, "booking", pitch("b1", "B1"))
    accepted(pms, appliance, "send_mobile_key", binary("bin-1"))
    key_data = event(pms, "key_issued", booking_id="B1", timeout=20)["binary_key"]
    final(pms, "bin-1")
    eventually(lambda: unconfirmed(appliance) == 0, what="every PUBACK recorded")
    assert appliance.stop() == 0
    assert [text for text in readable(appliance) if key_data in text] == []


def test_a_binary_key_the_broker_never_confirmed_goes_out_after_a_kill(site, space, broker):
    appliance, pms = site
    accepted(pms, appliance, "booking", pitch("b1", "B1"))
    space.control({"op": "faults", "set": {"reply_delay_s": 1.5}})
    accepted(pms, appliance, "send_mobile_key", binary("bin-1"))
    eventually(lambda: space.requests("CNMB"), what="the CNMB on its way to Space")
    broker.stop()  # Space makes the key while the broker is away: nobody confirms key_issued
    eventually(lambda: unconfirmed(appliance, "event/key_issued") == 1,
               what="key_issued waiting in the outbox")
    appliance.kill()
    broker.start()
    pms.connect()
    appliance.start()
    issued = event(pms, "key_issued", booking_id="B1", timeout=20)
    assert issued["binary_key"] == handed_back(space)[0][0]
    assert len(space.requests("CNMB")) == 1  # sent again, not made again


def unconfirmed(appliance, topic=""):
    """Outbox rows whose PUBACK is not recorded, of topics ending in ``topic``."""
    with sqlite3.connect(appliance.db_file) as db:
        return db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL AND "
                          "topic LIKE ?", ("%" + topic,)).fetchone()[0]


def readable(appliance):
    """What every whole Fernet token in the store's bytes says, read with its key file."""
    keyring = Keyring(str(appliance.directory / "secret.keys"))
    found = []
    for token in set(re.findall(rb"gAAAAA[A-Za-z0-9_=-]{40,}", stored_bytes(appliance))):
        # A token cut short is no whole copy (the store's own tests look for its pieces).
        with contextlib.suppress(SecretKeyError):
            found.append(keyring.decrypt(token).decode())
    return found


def test_binary_keys_refuse_bad_input_naming_the_field(site, space):
    appliance, pms = site
    accepted(pms, appliance, "booking", pitch("b1", "B1"))
    accepted(pms, appliance, "booking", booking(
        "b2", "B2", units=("C3",), type="chalet"))  # a chalet's key waits for check-in
    refused = {
        "r1": binary("r1", binary="yes"),
        "r2": binary("r2", phone=None),
        "r3": binary("r3", booking_id="nobody"),
        "r4": binary("r4", booking_id="B2"),
    }
    for payload in refused.values():
        send(pms, appliance, "send_mobile_key", payload)
    errors = {request_id: final(pms, request_id)["error"] for request_id in refused}
    assert {name: (error["code"], error["field"]) for name, error in errors.items()} == {
        "r1": ("bad_request", "binary"), "r2": ("bad_request", "phone"),
        "r3": ("unknown_booking", "booking_id"), "r4": ("no_key", "booking_id")}
    assert "binary must be true or false" in errors["r1"]["message"]
    assert space.requests("CNMB") == []


def test_a_kill_while_space_makes_the_key_loses_the_command_to_no_one(site, space):
    """Killed while Space makes the key: after the restart the PMS hears outcome_unknown with
    what to do, no second key is made behind its back, and asking again makes a copy."""
    appliance, pms = site
    accepted(pms, appliance, "booking", pitch("b1", "B1"))
    space.control({"op": "faults", "set": {"reply_delay_s": 3.0}})
    accepted(pms, appliance, "send_mobile_key", binary("bin-1"))
    eventually(lambda: space.requests("CNMB"), what="the CNMB on its way to Space")
    appliance.kill()
    space.control({"op": "faults", "clear": True})
    appliance.start()
    unknown = final(pms, "bin-1")
    assert unknown["error"]["code"] == "outcome_unknown", unknown
    assert "send_mobile_key again" in unknown["data"]["hint"]  # not "read the card"
    accepted(pms, appliance, "send_mobile_key", binary("bin-2"))
    issued = event(pms, "key_issued", booking_id="B1", timeout=20)
    assert issued["copy"] is True and issued["binary_key"] == handed_back(space)[-1][0]
    assert len(space.requests("CNMB")) == 1 and len(space.requests("CCMB")) == 1


def test_the_technician_asks_for_a_binary_key_through_the_running_service(site, space):
    appliance, _pms = site
    ask = ("space", "mobile", "--phone", GUEST_PHONE, "--room", "Pitch 12", "--binary")
    # A key whose data nobody would see is refused before Space is asked.
    blind = keybridge(appliance, *ask)
    assert blind.returncode == 2 and "--reveal" in blind.stderr and "--json" in blind.stderr
    assert handed_back(space) == [] and space.requests("CNMB") == []
    hidden = keybridge(appliance, *ask, "--json")
    assert hidden.returncode == 0, hidden.stderr
    result = json.loads(hidden.stdout)["result"]
    [(key_data, installation)] = handed_back(space)
    assert (result["installation_id"], result["key_hex"], result["key_bytes"]) == (
        installation, None, len(key_data) // 2)
    revealed = keybridge(appliance, *ask, "--reveal")
    assert revealed.returncode == 0, revealed.stderr
    assert "key_hex: %s" % handed_back(space)[1][0] in revealed.stdout.splitlines()
    clash = keybridge(appliance, *ask, "--message", "Welcome")
    assert clash.returncode == 2 and "--message" in clash.stderr
    assert space.control({"op": "state"})["state"]["connections_refused"] == 0
    audit = json.loads(keybridge(appliance, "audit", "--json").stdout)
    asked = [entry for entry in audit if entry["action"] == "tool_mobile"]
    assert len(asked) == 2 and all('"binary": true' in entry["detail"] for entry in asked)
    assert GUEST_PHONE not in json.dumps(asked) and key_data not in json.dumps(audit)
    assert key_data not in appliance.log_text()
