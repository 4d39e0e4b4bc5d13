"""A wall clock that can be stepped under a running process, as NTP steps a Pi's.

libfaketime (Debian's ``faketime`` package) is preloaded into the process and reads its
offset from a file; writing the file moves the process's wall clock (``time.time()``,
SQLite's ``now``) at once, while its monotonic clock runs on untouched, exactly as when NTP
steps the clock of a machine without a real-time clock. Nothing in keybridge knows of it.
"""

import glob
from pathlib import Path

LIBRARY = "libfaketime.so.1"
CACHE_S = 1  # libfaketime reads the file at most this often


def library() -> str:
    """libfaketime's path; SystemExit naming the package when it is not installed."""
    found = sorted(glob.glob("/usr/lib/*/faketime/" + LIBRARY)
                   + glob.glob("/usr/lib/faketime/" + LIBRARY))
    if not found:
        raise SystemExit("libfaketime is missing: apt install faketime (make test does)")
    return found[0]


class SteppedClock:
    """The environment for a process whose wall clock ``step()`` moves."""

    def __init__(self, directory: Path) -> None:
        self.file = directory / "clock-offset"
        self.offset_s = 0
        self.file.write_text("+0\n")
        self.env = {"LD_PRELOAD": library(), "FAKETIME_TIMESTAMP_FILE": str(self.file),
                    "FAKETIME_CACHE_DURATION": str(CACHE_S),
                    "FAKETIME_DONT_FAKE_MONOTONIC": "1"}

    def step(self, seconds: int) -> None:
        """Jump the wall clock by ``seconds`` (negative: back), on top of earlier steps."""
        self.offset_s += seconds
        self.file.write_text("%+d\n" % self.offset_s)
