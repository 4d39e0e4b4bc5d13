"""The guest at a Space door, and a card handed back to the desk, through the Space
simulator's control channel (``simulators/space/control.py``: one JSON object per line).

A demo-only step, like the KS keypad (``keypad.py``). The PMS has the card's serial from the
``card_encoded`` event; here it plays the guest too: it sets the simulator's clock to the
moment of the step and holds the card to a door, which decides as the lock would (the
card's rooms and authorizations, its dates, a newer key for the room, the room checked out),
or lays the card on an encoder so that the desk's next ``read_card`` finds it there.
"""

import datetime
import json
import socket
import zoneinfo
from typing import Any

TIMEOUT_S = 10.0
# The door's audit incident (simulators/space/desk.py) in the words of the front desk.
INCIDENTS = {
    "0": "opened",
    "2": "refused: the key is no longer valid (checked out, or a newer key for the room)",
    "3": "refused: this key does not open this door",
    "4": "refused: outside the key's dates",
}


def incident_text(incident: str) -> str:
    return INCIDENTS.get(incident, "refused (incident %s)" % incident)


class SpaceControl:
    """The control channel of the Space simulator at ``address`` (``127.0.0.1:8091``)."""

    def __init__(self, address: str, timezone: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("the Space simulator's control address must be HOST:PORT, not %r"
                             % address)
        self.host, self.port = host, int(port)
        self.zone = zoneinfo.ZoneInfo(timezone)  # Space's wall time: the site's time zone

    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """One request and its answer.

        Raises:
            OSError: the simulator did not answer.
            ValueError: it answered an error, or something else than JSON.
        """
        with socket.create_connection((self.host, self.port), timeout=TIMEOUT_S) as sock, \
                sock.makefile("rwb") as stream:
            stream.write(json.dumps(body).encode() + b"\n")
            stream.flush()
            answer = json.loads(stream.readline() or b"null")
        if not isinstance(answer, dict):
            raise ValueError("not a control answer: %.200r" % (answer,))
        if not answer.get("ok"):
            raise ValueError(str(answer.get("error")))
        return answer

    def hold_to_door(self, door: str, serial: str, at: str) -> str:
        """The card ``serial`` at ``door`` at the instant ``at``: the door's incident
        (``"0"`` opened)."""
        moment = datetime.datetime.fromisoformat(at).astimezone(self.zone)
        self.request({"op": "clock", "set": moment.strftime("%Y-%m-%dT%H:%M")})
        return str(self.request({"op": "door", "door": door, "serial": serial})["incident"])

    def lay_on_encoder(self, encoder: str, serial: str) -> None:
        """The card ``serial`` placed on the encoder named ``encoder`` in Space."""
        self.request({"op": "card", "encoder": encoder, "serial": serial})

    def printed(self, serial: str) -> list[str]:
        """The lines printed on the card ``serial``, as the simulator's encoder wrote them."""
        cards = self.request({"op": "state"})["state"]["cards"]
        if serial not in cards:
            raise ValueError("the Space simulator cut no card %s" % serial)
        return [str(line) for line in cards[serial].get("printed", ())]
