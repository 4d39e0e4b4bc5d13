"""``python -m simulators.ks`` as a process, through the ``KsProcess`` harness of
``tests/ks/_ks.py``: the announced URL, the admin API, the request log, a clean stop."""

from pathlib import Path
from typing import Any

import httpx2

from simulators.ks import defaults

import _ks


def test_the_process_announces_its_url_serves_and_logs_without_secrets(tmp_path: Path
                                                                        ) -> None:
    with _ks.KsProcess(tmp_path, "--seats", "7", "--locks", "Tent A,Tent B") as ks:
        assert ks.url.startswith("http://127.0.0.1:") and not ks.url.endswith(":0")
        state: dict[str, Any] = ks.state()
        assert state["site"]["subscribed_user_amount"] == 7
        assert [lock["name"] for lock in state["locks"]] == ["Tent A", "Tent B"]
        with _ks.KsApi(ks.url) as api:
            guest = api.guest("BK-cli")
            group = api.group("BK-cli", locks=("Tent A",))
            api.join(group, guest)
            pin = api.pin(guest)
            token = api.token
        assert ks.keypad("Tent A", pin)["opened"] is True
        assert ks.knobs(outage=True)["outage"] is True
        assert ks.clock(set="2026-07-01T12:00:00", frozen=True)["now"] == "2026-07-01T10:00:00Z"
        assert ks.incident("Tent B", "low_battery_warning")["lock"]["battery_level"] == "low"
        assert ks.wait(requests={"PUT /sites/{site}/users/{site_user}/pin": 1}, timeout=1)
        assert ks.release() == 0
        ks.reset()
        assert len(ks.state()["users"]) == 1
        process = ks.process
    assert process is not None and process.returncode == 0
    log = (tmp_path / "ks-sim.log").read_text()
    assert log.startswith("KS simulator listening on " + ks.url)
    assert "POST /v1.2/sites/%s/guests -> 201" % defaults.SITE_ID in log
    assert "POST /_sim/keypad -> 200" in log
    assert pin not in log and token not in log and defaults.PASSWORD not in log


def test_a_bad_admin_call_is_an_assertion_with_the_reason(tmp_path: Path) -> None:
    with _ks.KsProcess(tmp_path) as ks:
        try:
            ks.knobs(outage="yes")
        except AssertionError as err:
            assert "takes true or false" in str(err)
        else:
            raise AssertionError("a bad knob was accepted")
        assert httpx2.get(ks.url + "/_sim/state").status_code == 200
