"""Riding out a busy or briefly failing store instead of letting the service die.

Another writer (``keybridge rotate-key``, a technician's sqlite3 shell) may hold the database
longer than the busy timeout. The loops of the service then wait and try again, keeping what
they hold (an unacknowledged command, a finished job's outcome), rather than ending the
TaskGroup and with it the service.
"""

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from appliance.errors import StoreError

T = TypeVar("T")
log = logging.getLogger("keybridge.store")
FIRST_WAIT_S = 0.5
LONGEST_WAIT_S = 30.0


async def persist(action: Callable[[], T], what: str) -> T:
    """``action()``, retried with backoff for as long as the store refuses it."""
    wait = FIRST_WAIT_S
    while True:
        try:
            return action()
        except (StoreError, sqlite3.OperationalError) as err:
            log.error("%s: the store refused (%s); trying again in %.1f s", what, err, wait)
        await asyncio.sleep(wait)
        wait = min(LONGEST_WAIT_S, wait * 2)
