"""No seat left on the KS subscription: one PIN job asks at a time, the others wait quietly.

Every job retries on its own backoff, so with 500 bookings waiting for a seat each of them
asked KS again every few minutes: ~13 requests a second for as long as the seats stayed
taken (a GET of the guest and a PATCH of its subscription each time). The gate makes that
one probe per pause, the pause doubling from ``seats_retry_min_s`` to ``seats_retry_max_s``:
while it is closed, issuing fails at once with ``ks_no_seats`` and sends nothing (the job's
own backoff goes on, and its key_failed was said at its first failure). A revocation frees
a seat, so it opens the gate for the next probe; a PIN issued closes the episode.
"""

import time
from collections.abc import Callable

from appliance.engine.backend import BackendFailure

NO_SEATS = "ks_no_seats"
HINT = ("free seats (guests leave at check-out) or extend the subscription; keybridge keeps "
        "trying, one PIN at a time")


class SeatGate:
    def __init__(self, first_s: float, longest_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.first_s = first_s
        self.longest_s = longest_s
        self.clock = clock
        self.pauses = 0  # refusals in a row; 0: seats were there at the last look
        self.until = 0.0  # monotonic time of the next probe
        self.probing = False

    def admit(self) -> None:
        """Let a PIN job ask KS, or refuse it without a request while the seats are taken."""
        if self.pauses == 0:
            return
        if self.probing or self.clock() < self.until:
            raise BackendFailure(NO_SEATS, "every seat of the KS subscription is taken; KS is "
                                 "asked again in %.0f s, by one PIN job" % max(
                                     0.0, self.until - self.clock()), retry=True, hint=HINT)
        self.probing = True  # this job is the probe

    def refused(self) -> None:
        """KS said no seat (the probe, or a job admitted before the gate closed)."""
        if self.clock() < self.until:
            return  # one of several asking at once when the seats ran out: paused already
        self.pauses += 1
        self.probing = False
        self.until = self.clock() + min(self.longest_s,
                                        self.first_s * 2 ** min(self.pauses - 1, 30))

    def done(self, failure: BackendFailure | None) -> None:
        """A PIN job admitted by the gate ended; ``failure``: why not, if it did not."""
        if failure is not None and failure.code == NO_SEATS:
            self.refused()
        elif failure is None:
            self.pauses, self.until = 0, 0.0
        self.probing = False

    def freed(self) -> None:
        """A guest was deleted: its seat is free, the next PIN job may ask at once."""
        self.until = 0.0
