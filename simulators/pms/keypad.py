"""The guest at the door: a PIN typed at a KS lock, through the KS simulator's ``/_sim/keypad``.

A demo-only step. The PMS has the PIN from the ``key_issued`` event (a real PMS mails it to the
guest), and here it plays the guest too: it types the PIN at a lock of the KS cloud
simulator, which decides as the lock would (the PIN's access group, its schedule, the guest
deleted or not) and writes the entry the appliance later reports as ``door_event``. The PIN
goes to the simulator only; nothing here prints it.
"""

import json
import urllib.request
from typing import Any

TIMEOUT_S = 10.0
# The simulator's ``reason`` for a refusal, in the words of the front desk.
REFUSALS = {
    "unknown_pin": "no such PIN (deleted, or never issued)",
    "not_at_lock": "this PIN is not for this door",
    "outside_schedule": "outside the booked stay",
    "expired": "the guest's access has expired",
    "suspended": "the guest is suspended in KS",
    "blocked": "the guest is blocked in KS",
    "use_pin_false": "PIN use is off for the guest",
    "lock_offline": "the lock is offline",
    "iq_offline": "the lock's gateway is offline",
}


def outcome(answer: dict[str, Any]) -> str:
    """``opened``, or ``refused: <why>``."""
    if answer.get("opened"):
        return "opened"
    reason = str(answer.get("reason"))
    return "refused: %s" % REFUSALS.get(reason, reason)


class Keypad:
    """The keypads of the KS simulator at ``url`` (``http://127.0.0.1:8092``)."""

    def __init__(self, url: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the KS simulator's URL must start with http://, not %r" % url)
        self.url = url.rstrip("/")

    def press(self, lock: str, pin: str, at: str) -> dict[str, Any]:
        """``pin`` typed at ``lock`` at the instant ``at``: ``{"opened": bool, "reason", …}``.

        Raises:
            OSError: the simulator did not answer (urllib's errors are OSErrors).
            ValueError: it answered something else than a keypad decision.
        """
        body = json.dumps({"lock": lock, "pin": pin, "at": at}).encode()
        # The scheme is checked in __init__: http(s) only.
        request = urllib.request.Request(  # noqa: S310
            self.url + "/_sim/keypad", data=body, method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            answer = json.loads(response.read())
        if not isinstance(answer, dict) or not isinstance(answer.get("opened"), bool):
            raise ValueError("not a keypad decision: %.200r" % (answer,))
        return answer
