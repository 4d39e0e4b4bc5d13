"""Another client with this site's client id: notice it instead of fighting over the session.

A broker hands a client id's session to the newest connection and closes the older one. Two
appliances with one site id (a second Pi set up from a copy of the store, a restored backup
left running) then knock each other off for ever, each reconnecting at once, and both carry
out the same commands against the same locks. MQTT 5 names the cause (DISCONNECT reason
0x8E, "Session taken over"); some brokers (Mosquitto 2.0 among them) and every 3.1.1
connection only close the socket. So: the reason code where there is one, otherwise
``SHORT_LIVED`` connections in a row that the broker accepted and then closed within
``SHORT_S`` of its CONNACK, all inside ``WINDOW_S``. A broker restart or a network blip
ends one connection, not three in two minutes each right after a good CONNACK.
"""

import time
from collections.abc import Callable

SESSION_TAKEN_OVER = 0x8E
SHORT_S = 20.0
SHORT_LIVED = 3
WINDOW_S = 120.0


class TakeoverWatch:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._connected_at: float | None = None
        self._short: list[float] = []  # when each recent short-lived connection ended

    def connected(self) -> None:
        self._connected_at = self.clock()

    def dropped(self, reason_code: int) -> str | None:
        """The broker ended the connection: why it looks like a takeover, or None."""
        if reason_code == SESSION_TAKEN_OVER:
            return "the broker said the session was taken over (MQTT reason 0x8E)"
        now, began = self.clock(), self._connected_at
        self._connected_at = None
        if began is None or now - began > SHORT_S:
            self._short.clear()  # a connection that lasted ends the streak
            return None
        self._short = [at for at in self._short if now - at <= WINDOW_S] + [now]
        if len(self._short) < SHORT_LIVED:
            return None
        return ("the broker closed %d connections in a row within %.0f s of accepting each"
                % (len(self._short), SHORT_S))


def advice(client_id: str, site_id: str, why: str) -> str:
    """What the journal and ``keybridge run`` say when the service gave the session up."""
    return ("another client uses this site's MQTT client id %r (%s): a second appliance with "
            "[site] id %r, or a copy of this store running elsewhere. This one stopped its "
            "work and publishes nothing, so the two do not fight over the session and carry "
            "out commands twice. Find the other one (the broker's log names the address of "
            "each client %r), stop it or give it its own site id, then start this one again: "
            "systemctl start keybridge. If there is no other one, the broker closes every "
            "connection for a reason of its own (a permission this site's user lacks, say): "
            "its log says which" % (client_id, why, site_id, client_id))
