"""Replies to the PMS: where they go and what they say, built in this one place.

A command's replies go to ``{root}/reply/{command}``, or to the MQTT 5 response topic the
command named, with its correlation data. The route is worked out once, when the command
arrives, and kept as a column of a desk job, whose final reply follows later.
"""

from typing import Any

from appliance.errors import CommandError
from appliance.store import Route, now_iso

OWN_CODES = ("backend_unavailable", "backend_not_configured", "outcome_unknown",
             "internal_error", "no_key")
"""Failure codes the contract defines; any other code is the vendor's (backend_refused)."""


class ReplyTo:
    """Where the PMS asked a reply to go: an MQTT 5 response topic and correlation data."""

    def __init__(self, response_topic: str = "", correlation: bytes = b"") -> None:
        # A topic one cannot publish to (wildcards, NUL, too long) falls back to reply/...
        usable = (not any(char in response_topic for char in "+#\x00")
                  and len(response_topic.encode("utf-8", "replace")) < 65536)
        self.response_topic = response_topic if usable else ""
        self.correlation = correlation

    def properties(self) -> dict[str, str]:
        return {"correlation_hex": self.correlation.hex()} if self.correlation else {}


def route(root: str, command: str, reply_to: ReplyTo | None = None) -> Route:
    """The route of ``command``'s replies."""
    if reply_to is None or not reply_to.response_topic:
        return Route("%s/reply/%s" % (root, command),
                     {} if reply_to is None else reply_to.properties())
    return Route(reply_to.response_topic, reply_to.properties())


def body(request_id: str | None, command: str, status: str,
         data: dict[str, Any] | None = None,
         error: CommandError | None = None) -> dict[str, Any]:
    return {"request_id": request_id, "command": command, "status": status,
            "error": None if error is None else error.as_reply(), "data": data,
            "replied_at": now_iso()}


def failure(request_id: str | None, command: str, code: str, message: str,
            hint: str) -> dict[str, Any]:
    """A desk job's error reply: the contract's own codes, or backend_refused with the
    vendor's code beside the hint."""
    data: dict[str, Any] = {"hint": hint}
    if code not in OWN_CODES:
        data["vendor_code"] = code
        code = "backend_refused"
    return body(request_id, command, "error", data, CommandError(code, message))
