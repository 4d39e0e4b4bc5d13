"""One running service per store: an exclusive lock held for the service's life.

``keybridge run`` takes an flock on ``<store>.lock`` before it opens the store and holds it
until it exits; the kernel lets go of it when the process ends in any way, kill -9 included,
so a stale lock cannot keep the next start out. A second ``run`` on the same store finds it
held and stops at once, naming the holder's pid, where two services would both work the same
jobs and knock each other off the broker under one client id. Commands that only read, or
that go through the running service, never take it.
"""

import contextlib
import fcntl
import os
from collections.abc import Iterator

from appliance.errors import StoreError, StoreInUse


@contextlib.contextmanager
def held(store_path: str) -> Iterator[None]:
    """The store's lock for as long as the block runs; StoreInUse when another holds it."""
    path = store_path + ".lock"
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise StoreError("cannot create the store's lock file %s: %s; check that its folder "
                         "exists and the service's user may write there ([store] path)"
                         % (path, err.strerror)) from err
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
            raise StoreInUse(
                "%s is in use by another keybridge run (pid %s): stop that one first "
                "(systemctl stop keybridge), or give this one a [store] path of its own"
                % (store_path, holder or "unknown")) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, b"%d\n" % os.getpid(), 0)
        yield
    finally:
        os.close(descriptor)
