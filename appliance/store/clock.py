"""The store's timestamps: UTC ISO 8601 to the second, as every row and event carries them."""

import datetime


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
