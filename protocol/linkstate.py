"""The link's state machines, as data (§3.1, §3.2).

Rule 1: everything that decides what the link does next lives in these two
tables. ``link.py`` classifies each input, looks up ``(state, input)`` and
runs the named action; actions never choose the next state themselves.
Where a limit matters (the third NAK, the last ENQ poll), the input is
classified with its own name (NAK_LAST, TIMEOUT_LAST) *before* the lookup,
so the table still says everything. REFUSED is FRAME on a server whose
owner said it is not ready (``ServerLink.refuse_frames``); the client never
produces it and treats it as FRAME.

Rule 2: inputs from the wire (ACK, NAK, ENQ, FRAME, BAD_FRAME, GARBAGE)
appear in every state of both tables: nothing a peer sends can reach an
undefined state. Inputs from the caller (SEND, PROBE, REPLY, RESET) appear
only where they are legal; anywhere else they raise LocalProtocolError.
TIMEOUT appears only in states that set a deadline.
"""

# Client states.
IDLE = "IDLE"  # nothing in flight
PROBING = "PROBING"  # ENQ sent on request of the caller; awaiting ACK/NAK
AWAIT_ACK = "AWAIT_ACK"  # request frame sent; awaiting ACK/NAK
NAK_POLL = "NAK_POLL"  # frame NAKed; ENQ sent, awaiting ACK before resending
AWAIT_REPLY = "AWAIT_REPLY"  # frame ACKed; awaiting the reply frame
BROKEN = "BROKEN"  # the peer broke the protocol or went silent: reconnect, reset

# Server states.
READY = "READY"  # awaiting a request (IDLE is a client state)
BUSY = "BUSY"  # a request was ACKed and handed over; awaiting our reply
REPLIED = "REPLIED"  # reply sent; an ACK/NAK for it may still come

CLIENT_STATES = (IDLE, PROBING, AWAIT_ACK, NAK_POLL, AWAIT_REPLY, BROKEN)
SERVER_STATES = (READY, BUSY, REPLIED)

# Inputs from the wire.
ACK = "ACK"
NAK = "NAK"
NAK_LAST = "NAK_LAST"  # a NAK to the frame's last allowed send
ENQ = "ENQ"
FRAME = "FRAME"
BAD_FRAME = "BAD_FRAME"  # bad LRC, truncated, too long
GARBAGE = "GARBAGE"  # bytes outside a frame that are not control bytes
REFUSED = "REFUSED"  # a frame the server's owner asked to refuse ("not ready")
WIRE_INPUTS = (ACK, NAK, NAK_LAST, ENQ, FRAME, REFUSED, BAD_FRAME, GARBAGE)

# Inputs from the caller and the clock.
SEND = "SEND"
PROBE = "PROBE"
REPLY = "REPLY"
RESET = "RESET"
TIMEOUT = "TIMEOUT"
TIMEOUT_LAST = "TIMEOUT_LAST"  # the last ENQ poll went unanswered



def _with(
    base: dict[str, tuple[str, str]], extra: dict[str, tuple[str, str]]
) -> dict[str, tuple[str, str]]:
    table = dict(base)
    table.update(extra)
    return table


# A client waiting for ACK/NAK treats anything else as a protocol error (§3.2).
_CLIENT_WIRE_FAIL = {
    ACK: ("fail_unexpected", BROKEN),
    NAK: ("fail_unexpected", BROKEN),
    NAK_LAST: ("fail_unexpected", BROKEN),
    ENQ: ("fail_unexpected", BROKEN),
    FRAME: ("fail_unexpected", BROKEN),
    REFUSED: ("fail_unexpected", BROKEN),
    BAD_FRAME: ("fail_unexpected", BROKEN),
    GARBAGE: ("fail_unexpected", BROKEN),
}

# (state, input) -> (action, next state)
CLIENT = {
    IDLE: {
        SEND: ("send_frame", AWAIT_ACK),
        PROBE: ("send_enq", PROBING),
        RESET: ("reset", IDLE),
        # Nothing is in flight, so whatever arrives answers nothing of ours.
        ACK: ("stray", IDLE),
        NAK: ("stray", IDLE),
        NAK_LAST: ("stray", IDLE),
        ENQ: ("stray", IDLE),
        FRAME: ("stray", IDLE),
        REFUSED: ("stray", IDLE),
        BAD_FRAME: ("stray", IDLE),
        GARBAGE: ("stray", IDLE),
    },
    PROBING: _with(
        _CLIENT_WIRE_FAIL,
        {
            ACK: ("probe_ready", IDLE),
            NAK: ("probe_busy", IDLE),
            NAK_LAST: ("probe_busy", IDLE),
            TIMEOUT: ("fail_ack_timeout", BROKEN),
        },
    ),
    AWAIT_ACK: _with(
        _CLIENT_WIRE_FAIL,
        {
            ACK: ("acked", AWAIT_REPLY),
            NAK: ("poll", NAK_POLL),
            NAK_LAST: ("fail_not_ready", IDLE),
            TIMEOUT: ("fail_ack_timeout", BROKEN),
        },
    ),
    NAK_POLL: _with(
        _CLIENT_WIRE_FAIL,
        {
            ACK: ("resend_frame", AWAIT_ACK),
            # NAK to an ENQ: still busy. Wait out the poll interval.
            NAK: ("ignore", NAK_POLL),
            NAK_LAST: ("ignore", NAK_POLL),
            TIMEOUT: ("poll", NAK_POLL),
            TIMEOUT_LAST: ("fail_not_ready", IDLE),
        },
    ),
    AWAIT_REPLY: {
        FRAME: ("reply", IDLE),
        REFUSED: ("reply", IDLE),
        BAD_FRAME: ("fail_corrupt_reply", BROKEN),
        # Salto sends nothing between its ACK and the reply's STX (§3.1), so
        # these are line noise or a repeated ACK; the reply may still come.
        ACK: ("ignore", AWAIT_REPLY),
        NAK: ("ignore", AWAIT_REPLY),
        NAK_LAST: ("ignore", AWAIT_REPLY),
        ENQ: ("ignore", AWAIT_REPLY),
        GARBAGE: ("ignore", AWAIT_REPLY),
        TIMEOUT: ("fail_reply_timeout", BROKEN),
    },
    BROKEN: {
        RESET: ("reset", IDLE),
        ACK: ("ignore", BROKEN),
        NAK: ("ignore", BROKEN),
        NAK_LAST: ("ignore", BROKEN),
        ENQ: ("ignore", BROKEN),
        FRAME: ("ignore", BROKEN),
        REFUSED: ("ignore", BROKEN),
        BAD_FRAME: ("ignore", BROKEN),
        GARBAGE: ("ignore", BROKEN),
    },
}

SERVER = {
    READY: {
        ENQ: ("send_ack", READY),
        FRAME: ("accept", BUSY),
        REFUSED: ("refuse", READY),
        BAD_FRAME: ("reject", READY),
        ACK: ("stray", READY),
        NAK: ("stray", READY),
        NAK_LAST: ("stray", READY),
        GARBAGE: ("ignore", READY),
    },
    BUSY: {
        REPLY: ("send_reply", REPLIED),
        # One request at a time (§3.1): say "not ready" until we have replied.
        ENQ: ("send_nak", BUSY),
        FRAME: ("refuse_busy", BUSY),
        REFUSED: ("refuse_busy", BUSY),
        BAD_FRAME: ("reject", BUSY),
        ACK: ("stray", BUSY),
        NAK: ("stray", BUSY),
        NAK_LAST: ("stray", BUSY),
        GARBAGE: ("ignore", BUSY),
    },
    REPLIED: {
        # The client may acknowledge our reply, or not (§3.1): both are fine.
        ACK: ("reply_acked", READY),
        NAK: ("reply_naked", READY),
        NAK_LAST: ("reply_naked", READY),
        ENQ: ("send_ack", READY),
        FRAME: ("accept", BUSY),
        REFUSED: ("refuse", READY),
        BAD_FRAME: ("reject", READY),
        GARBAGE: ("ignore", REPLIED),
    },
}
