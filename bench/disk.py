"""A small disk that can be filled: a tmpfs mounted for a run (it needs root).

SQLite then meets a real ENOSPC ("database or disk is full") in the middle of a write, as a
Pi's card does when the journal or a backup filled it.
"""

import os
import subprocess
from pathlib import Path

FILLER = "filler"


def mount(folder: Path, size_bytes: int) -> str:
    """Mount a tmpfs of ``size_bytes`` on ``folder``; "" when done, else mount's complaint."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o",  # noqa: S603, S607
                              "size=%d" % size_bytes, "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)
    return "" if mounted.returncode == 0 else mounted.stderr.strip() or "mount failed"


def unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], check=False)  # noqa: S603, S607


def fill(folder: Path) -> Path:
    """Write a file in ``folder`` until its file system has no byte left; the file."""
    filler = folder / FILLER
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:  # ENOSPC: on to smaller writes, then done
                pass
    finally:
        os.close(fd)
    return filler
