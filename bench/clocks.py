"""A wall clock that can be stepped under a running process, as NTP steps a Pi's.

``clockshift.c``, built here with the system's C compiler and preloaded into the process,
adds the seconds written in a file to its wall clock (``time.time()``, SQLite's ``now``) at
once, while its monotonic clock and its sleeps run on untouched, exactly as when NTP steps
the clock of a machine without a real-time clock. Nothing in keybridge knows of it.
"""

import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("clockshift.c")
BUILT = Path(__file__).resolve().parents[1] / ".cache" / "clockshift.so"


def library() -> str:
    """The shim's path, built once per change of its source."""
    if BUILT.exists() and BUILT.stat().st_mtime >= SOURCE.stat().st_mtime:
        return str(BUILT)
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise SystemExit("no C compiler to build %s: apt install gcc (make test does)" % SOURCE)
    BUILT.parent.mkdir(parents=True, exist_ok=True)
    partial = BUILT.with_suffix(".partial")
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(partial), str(SOURCE),  # noqa: S603
                    "-ldl"], check=True)
    partial.replace(BUILT)
    return str(BUILT)


class SteppedClock:
    """The environment for a process whose wall clock ``step()`` moves."""

    def __init__(self, directory: Path) -> None:
        self.file = directory / "clock-shift"
        self.offset_s = 0
        self.file.write_text("0\n")
        self.env = {"LD_PRELOAD": library(), "CLOCKSHIFT_FILE": str(self.file)}

    def step(self, seconds: int) -> None:
        """Jump the wall clock by ``seconds`` (negative: back), on top of earlier steps."""
        self.offset_s += seconds
        self.file.write_text("%d\n" % self.offset_s)
