"""State-machine fuzzing of ClientLink and ServerLink (CPython only: hypothesis).

Hypothesis drives each link with random caller actions and wire input. A small
model walks the tables of ``protocol/linkstate.py`` alongside (using a shadow
decoder fed the same bytes) and predicts the next state, the bytes written and
the events; the invariants of the brief are checked after every step.
"""

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import protocol
from protocol import (
    BadFrame,
    ClientLink,
    Control,
    Frame,
    FrameDecoder,
    LocalProtocolError,
    ProtocolError,
    ServerLink,
    encode_frame,
)
from protocol import events as ev
from protocol import linkstate as ls

STATEFUL = settings(max_examples=150, stateful_step_count=50, deadline=None, database=None)

ACK, NAK, ENQ, STX = protocol.ACK, protocol.NAK, protocol.ENQ, protocol.STX
DEADLINE_STATES = (ls.PROBING, ls.AWAIT_ACK, ls.NAK_POLL, ls.AWAIT_REPLY)

# --------------------------------------------------------------------------
# Strategies for what the caller sends and what the wire delivers
# --------------------------------------------------------------------------

PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1,
                    max_size=24).map(str.encode)
REQUESTS = st.one_of(
    st.builds(protocol.ReadCard, encoder=PRINTABLE, eject=st.sampled_from([b"E", b"R"])),
    st.builds(protocol.CheckOut, room=PRINTABLE),
    st.builds(protocol.AuditRequest, command=st.sampled_from([b"WF", b"WN", b"WR"]),
              door=PRINTABLE),
    st.builds(protocol.EncodeCard, command=st.sampled_from([b"CN", b"CC"]), encoder=PRINTABLE,
              rooms=st.lists(PRINTABLE, min_size=1, max_size=4).map(tuple),
              count=st.one_of(st.none(), st.integers(1, 9))),
    st.builds(protocol.ReadTrack, track=st.integers(1, 3), encoder=PRINTABLE),
).map(lambda message: message.fields())
REPLIES = st.one_of(
    st.builds(protocol.CardEncoded, command=st.just(b"CN"), encoder=PRINTABLE),
    st.builds(protocol.CheckedOut, room=PRINTABLE),
    st.builds(protocol.AuditEnd, door=PRINTABLE),
    st.builds(protocol.ErrorReply, command=st.sampled_from(sorted(protocol.ERROR_CODES)),
              target=PRINTABLE),
).map(lambda message: message.fields())
ANY_FIELDS = st.one_of(REQUESTS, REPLIES)


@st.composite
def bad_lrc_frames(draw):
    frame = encode_frame(draw(ANY_FIELDS))
    wrong = draw(st.integers(0, 255).filter(lambda b: b not in (frame[-1], protocol.LRC_SKIP)))
    return frame[:-1] + bytes([wrong])


# Bytes outside a frame that are neither STX nor a control byte.
GARBAGE = st.binary(min_size=1, max_size=8).map(
    lambda b: bytes(x for x in b if x not in (STX, ACK, NAK, ENQ)) or b"?"
)
WIRE = st.one_of(
    st.sampled_from([bytes([ACK]), bytes([NAK]), bytes([ENQ])]),
    st.sampled_from([bytes([ACK]), bytes([NAK])]),
    ANY_FIELDS.map(encode_frame),
    bad_lrc_frames(),
    GARBAGE,
    st.binary(max_size=40),
    st.lists(st.sampled_from([bytes([ACK]), bytes([NAK]), bytes([ENQ]), b"\x03", b"x"]),
             min_size=1, max_size=4).map(b"".join),
)


def classify(item):
    if isinstance(item, Control):
        return {ACK: ls.ACK, NAK: ls.NAK, ENQ: ls.ENQ}[item.byte]
    if isinstance(item, Frame):
        return ls.FRAME
    return ls.GARBAGE if item.reason == BadFrame.GARBAGE else ls.BAD_FRAME


def parse_output(data):
    """A link's written bytes as items (frames and control bytes only)."""
    items = FrameDecoder(report_garbage=True).feed(data)
    for item in items:
        assert isinstance(item, (Frame, Control)), (item, data)
    return items


# --------------------------------------------------------------------------
# The tables themselves
# --------------------------------------------------------------------------


def test_tables_are_complete_and_closed():
    for table, states, cls in (
        (ls.CLIENT, ls.CLIENT_STATES, ClientLink),
        (ls.SERVER, ls.SERVER_STATES, ServerLink),
    ):
        assert set(table) == set(states)
        for state, row in table.items():
            for name in ls.WIRE_INPUTS:
                assert name in row, "%s has no entry for %s" % (state, name)
            for name, (action, next_state) in row.items():
                assert next_state in states, (state, name, next_state)
                method = getattr(cls, "_do_" + action, None)
                assert callable(method), "%s has no _do_%s" % (cls.__name__, action)
    caller = (ls.SEND, ls.PROBE, ls.REPLY, ls.RESET, ls.TIMEOUT, ls.TIMEOUT_LAST)
    for row in list(ls.CLIENT.values()) + list(ls.SERVER.values()):
        assert set(row) <= set(ls.WIRE_INPUTS) | set(caller)
    # TIMEOUT only where a deadline is set; REPLY only on the server.
    timed = {state for state, row in ls.CLIENT.items() if ls.TIMEOUT in row}
    assert timed == set(DEADLINE_STATES)
    assert all(ls.REPLY not in row for row in ls.CLIENT.values())
    assert all(ls.SEND not in row and ls.PROBE not in row for row in ls.SERVER.values())


# --------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------

CLIENT_EVENTS = {
    "acked": ev.Acked,
    "reply": ev.Reply,
    "probe_ready": ev.ProbeResult,
    "probe_busy": ev.ProbeResult,
    "stray": ev.Stray,
    "fail_unexpected": ev.Failed,
    "fail_not_ready": ev.Failed,
    "fail_ack_timeout": ev.Failed,
    "fail_reply_timeout": ev.Failed,
    "fail_corrupt_reply": ev.Failed,
}
FAIL_ERRORS = {
    "fail_unexpected": protocol.UnexpectedByte,
    "fail_not_ready": protocol.NotReady,
    "fail_ack_timeout": protocol.AckTimeout,
    "fail_reply_timeout": protocol.ReplyTimeout,
    "fail_corrupt_reply": protocol.CorruptReply,
}


class ClientMachine(RuleBasedStateMachine):
    """Fuzzes ClientLink; a model of the CLIENT table predicts every step."""

    @initialize(
        max_sends=st.integers(1, 4),
        max_enq_polls=st.integers(1, 4),
        lrc_skip=st.booleans(),
        start=st.integers(0, 10**9),
    )
    def setup(self, max_sends, max_enq_polls, lrc_skip, start):
        self.link = ClientLink(ack_timeout_ms=500, reply_timeout_ms=3000, enq_interval_ms=50,
                               max_enq_polls=max_enq_polls, max_sends=max_sends,
                               lrc_skip=lrc_skip)
        self.now = start
        self.shadow = FrameDecoder(report_garbage=True)  # mirrors the link's decoder
        self.frame = b""  # the request frame in flight, as sent
        self.frame_fields = None
        self.sends = 0  # frame sends of the current request
        self.polls = 0  # ENQ polls since the last frame send

    # -- helpers -----------------------------------------------------------

    def walk(self, name, item=None):
        """Apply one table input to the model; return the expected action."""
        if name == ls.NAK and self.state == ls.AWAIT_ACK and self.sends >= self.link.max_sends:
            name = ls.NAK_LAST
        action, next_state = ls.CLIENT[self.state][name]
        self.state = next_state
        self.expected_out.extend(self.model_output(action))
        if action in CLIENT_EVENTS:
            self.expected_events.append((action, item))
        return action

    def model_output(self, action):
        if action == "send_frame":
            self.sends, self.polls = 1, 0
            return self.frame
        if action == "resend_frame":
            self.sends, self.polls = self.sends + 1, 0
            return self.frame
        if action == "poll":
            self.polls += 1
            return bytes([ENQ])
        if action == "send_enq":
            return bytes([ENQ])
        return b""

    def begin(self):
        self.state = self.link.state
        self.expected_out = bytearray()
        self.expected_events = []

    def check(self, events, out):
        assert self.link.state == self.state
        # Only frames (each resend the same bytes as the first) and ENQs.
        assert out == bytes(self.expected_out)
        parse_output(out)
        assert [type(e) for e in events] == [CLIENT_EVENTS[a] for a, _ in self.expected_events]
        for event, (action, item) in zip(events, self.expected_events, strict=True):
            if isinstance(event, ev.Failed):
                assert isinstance(event.error, ProtocolError)
                assert isinstance(event.error, FAIL_ERRORS[action])
                str(event.error)
            elif isinstance(event, ev.Reply):
                assert event.fields == item.fields
            elif isinstance(event, ev.ProbeResult):
                assert event.ready is (action == "probe_ready")
        assert self.sends <= self.link.max_sends
        assert self.polls <= self.link.max_enq_polls

    def caller(self, name, call):
        """A caller action: legal per the table, or LocalProtocolError and no change."""
        self.begin()
        before = (self.link.state, self.link.deadline_ms)
        if name not in ls.CLIENT[self.state]:
            try:
                call()
            except LocalProtocolError:
                pass
            else:
                raise AssertionError("%s allowed in %s" % (name, before[0]))
            assert (self.link.state, self.link.deadline_ms) == before
            assert self.link.data_to_send() == b""
            return
        if name == ls.RESET:
            self.shadow.reset()
        self.walk(name)
        call()
        self.check([], self.link.data_to_send())

    # -- caller actions ----------------------------------------------------

    def legal(self, name):
        return name in ls.CLIENT[self.link.state]

    @precondition(lambda self: self.legal(ls.SEND))
    @rule(fields=REQUESTS, wait=st.one_of(st.none(), st.integers(1, 10000)),
          advance=st.integers(0, 100))
    def send(self, fields, wait, advance):
        self.do_send(fields, wait, advance)

    def do_send(self, fields, wait, advance):
        self.now += advance
        if self.link.state == ls.IDLE:
            self.frame_fields = fields
            self.frame = encode_frame(fields, self.link.lrc_skip)
        self.caller(ls.SEND, lambda: self.link.send(fields, self.now, wait))

    @precondition(lambda self: self.legal(ls.PROBE))
    @rule(advance=st.integers(0, 100))
    def probe(self, advance):
        self.do_probe(advance)

    def do_probe(self, advance):
        self.now += advance
        self.caller(ls.PROBE, lambda: self.link.probe(self.now))

    @precondition(lambda self: self.legal(ls.RESET))
    @rule()
    def reset(self):
        self.caller(ls.RESET, self.link.reset)

    @precondition(lambda self: not all(map(self.legal, (ls.SEND, ls.PROBE, ls.RESET))))
    @rule(data=st.data(), fields=REQUESTS)
    def illegal_call(self, data, fields):
        """A caller action the table does not allow here (the same checks apply)."""
        illegal = [n for n in (ls.SEND, ls.PROBE, ls.RESET) if not self.legal(n)]
        name = data.draw(st.sampled_from(illegal))
        if name == ls.SEND:
            self.do_send(fields, None, 0)
        elif name == ls.PROBE:
            self.do_probe(0)
        else:
            self.reset()

    @rule(when=st.one_of(st.sampled_from(["deadline", "early", "late"]),
                         st.integers(0, 10**5)))
    def timeout(self, when):
        self.do_timeout(when)

    def do_timeout(self, target):
        deadline = self.link.deadline_ms
        if target == "deadline" and deadline is not None:
            when = deadline
        elif target == "early" and deadline is not None:
            when = deadline - 1
        elif target == "late" and deadline is not None:
            when = deadline + 10**6
        else:
            when = self.now + (target if isinstance(target, int) else 0)
        self.now = max(self.now, when)
        self.begin()
        due = deadline is not None and self.now >= deadline
        if due:
            last = self.state == ls.NAK_POLL and self.polls >= self.link.max_enq_polls
            self.walk(ls.TIMEOUT_LAST if last else ls.TIMEOUT)
        events = self.link.handle_timeout(self.now)
        self.check(events, self.link.data_to_send())
        if not due:
            assert events == []
            assert self.link.deadline_ms == deadline

    # -- wire input --------------------------------------------------------

    @rule(data=WIRE, advance=st.integers(0, 1000))
    def wire_input(self, data, advance):
        """Anything from the peer: control bytes, frames, bad frames, garbage, noise."""
        self.wire(data, advance)

    @precondition(lambda self: self.link.state in DEADLINE_STATES)
    @rule(data=st.data())
    def expected_input(self, data):
        """What a live peer does while we wait (steers into the deeper states)."""
        if self.link.state == ls.AWAIT_REPLY:
            choice = data.draw(st.one_of(
                REPLIES.map(encode_frame),
                st.sampled_from([bytes([ACK]), bytes([NAK]), bytes([ENQ]), b"x"]),
                st.just("timeout"),
            ))
        else:
            choice = data.draw(st.sampled_from([bytes([ACK]), bytes([NAK]), "timeout"]))
        if isinstance(choice, str):  # "timeout"
            self.do_timeout("deadline")
        else:
            self.wire(choice, data.draw(st.integers(0, 100)))

    def wire(self, data, advance):
        self.now += advance
        self.begin()
        for item in self.shadow.feed(data):
            self.walk(classify(item), item)
        events = self.link.receive_data(data, self.now)
        self.check(events, self.link.data_to_send())

    # -- invariants --------------------------------------------------------

    @invariant()
    def state_is_known(self):
        assert self.link.state in ls.CLIENT_STATES

    @invariant()
    def deadline_exactly_while_waiting(self):
        assert (self.link.deadline_ms is not None) == (self.link.state in DEADLINE_STATES)

    @precondition(lambda self: self.link.state == ls.AWAIT_REPLY)
    @invariant()
    def reply_deadline_is_within_the_reply_wait(self):
        assert self.link.deadline_ms <= self.now + max(self.link.reply_timeout_ms, 10000)


ClientMachine.TestCase.settings = STATEFUL
TestClientLink = ClientMachine.TestCase

# Weighted steps per state for the drawn-sequence walk below: mostly what a
# live peer and a sane caller do, so the deep states (NAK_POLL after several
# polls, the last send) are reached in most examples, plus some fuzz.
WAITING_STEPS = ["expected"] * 6 + ["wire", "wire", "illegal", "timeout"]
STEPS = {
    ls.IDLE: ["send"] * 4 + ["probe", "probe", "reset", "wire", "wire", "timeout"],
    ls.PROBING: WAITING_STEPS,
    ls.AWAIT_ACK: WAITING_STEPS,
    ls.NAK_POLL: WAITING_STEPS,
    ls.AWAIT_REPLY: WAITING_STEPS,
    ls.BROKEN: ["reset"] * 3 + ["wire", "illegal"],
}


@settings(max_examples=100, deadline=None, database=None)
@given(data=st.data(), steps=st.integers(1, 60))
def test_client_link_drawn_walk(data, steps):
    """The same model and checks as ClientMachine, driven by weighted draws."""
    machine = ClientMachine()
    machine.setup(
        max_sends=data.draw(st.integers(1, 4)),
        max_enq_polls=data.draw(st.integers(1, 4)),
        lrc_skip=data.draw(st.booleans()),
        start=data.draw(st.integers(0, 10**9)),
    )
    for _ in range(steps):
        step = data.draw(st.sampled_from(STEPS[machine.link.state]))
        if step == "send":
            wait = data.draw(st.one_of(st.none(), st.integers(1, 10000)))
            machine.send(data.draw(REQUESTS), wait, data.draw(st.integers(0, 100)))
        elif step == "probe":
            machine.probe(data.draw(st.integers(0, 100)))
        elif step == "reset":
            machine.reset()
        elif step == "wire":
            machine.wire_input(data.draw(WIRE), data.draw(st.integers(0, 1000)))
        elif step == "illegal":
            machine.illegal_call(data, data.draw(REQUESTS))
        elif step == "timeout":
            machine.timeout(data.draw(st.sampled_from(["deadline", "early", "late", 0, 10**4])))
        else:
            machine.expected_input(data)
        machine.state_is_known()
        machine.deadline_exactly_while_waiting()


# --------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------

SERVER_OUTPUT = {
    "send_ack": ACK,
    "accept": ACK,
    "send_nak": NAK,
    "reject": NAK,
    "refuse_busy": NAK,
    "refuse": NAK,
}
SERVER_EVENTS = {
    "accept": ev.Request,
    "reject": ev.Rejected,
    "refuse_busy": ev.Rejected,
    "refuse": ev.Rejected,
    "stray": ev.Stray,
    "reply_acked": ev.ReplyAcknowledged,
    "reply_naked": ev.ReplyAcknowledged,
}


class ServerMachine(RuleBasedStateMachine):
    """Fuzzes ServerLink; one ACK or NAK for every frame (good or bad) and ENQ."""

    @initialize(lrc_skip=st.booleans())
    def setup(self, lrc_skip):
        self.link = ServerLink(lrc_skip=lrc_skip)
        self.shadow = FrameDecoder(report_garbage=True)

    @rule(byte=st.sampled_from([ACK, NAK, ENQ]))
    def control(self, byte):
        self.wire(bytes([byte]))

    @rule(fields=REQUESTS)
    def request_arrives(self, fields):
        self.wire(encode_frame(fields))

    @rule(data=st.one_of(bad_lrc_frames(), GARBAGE))
    def bad_input(self, data):
        self.wire(data)

    @rule(data=WIRE)
    def noise(self, data):
        self.wire(data)

    @rule(count=st.integers(-1, 3))
    def refuse_frames(self, count):
        self.link.refuse_frames(count)
        assert self.link.frames_to_refuse == max(0, count)

    def wire(self, data):
        state = self.link.state
        refuse = self.link.frames_to_refuse
        expected_out, expected_events, answered = bytearray(), [], 0
        for item in self.shadow.feed(data):
            name = classify(item)
            if name == ls.FRAME and refuse > 0:
                name = ls.REFUSED
            action, state = ls.SERVER[state][name]
            refuse -= action == "refuse"
            if action in SERVER_OUTPUT:
                expected_out.append(SERVER_OUTPUT[action])
            if action in SERVER_EVENTS:
                expected_events.append((action, item))
            if name in (ls.FRAME, ls.REFUSED, ls.BAD_FRAME, ls.ENQ):
                answered += 1
        events = self.link.receive_data(data, 0)
        out = self.link.data_to_send()
        assert self.link.state == state
        # Exactly one ACK or NAK per frame received (and per ENQ), nothing else.
        assert len(out) == answered
        assert set(out) <= {ACK, NAK}
        assert out == bytes(expected_out)
        assert [type(e) for e in events] == [SERVER_EVENTS[a] for a, _ in expected_events]
        for event, (action, item) in zip(events, expected_events, strict=True):
            if isinstance(event, ev.Request):
                assert event.fields == item.fields
            elif isinstance(event, ev.ReplyAcknowledged):
                assert event.ok is (action == "reply_acked")
            elif isinstance(event, ev.Rejected) and action == "refuse_busy":
                assert event.reason == ev.Rejected.BUSY
            elif isinstance(event, ev.Rejected) and action == "refuse":
                assert event.reason == ev.Rejected.NOT_READY
        assert self.link.frames_to_refuse == refuse

    @rule(fields=REPLIES)
    def reply(self, fields):
        before = self.link.state
        if ls.REPLY not in ls.SERVER[before]:
            try:
                self.link.send_reply(fields)
            except LocalProtocolError:
                pass
            else:
                raise AssertionError("send_reply allowed in %s" % before)
            assert self.link.state == before
            assert self.link.data_to_send() == b""
            return
        self.link.send_reply(fields)
        assert self.link.state == ls.SERVER[before][ls.REPLY][1]
        assert self.link.data_to_send() == encode_frame(fields, self.link.lrc_skip)

    @invariant()
    def state_is_known(self):
        assert self.link.state in ls.SERVER_STATES


ServerMachine.TestCase.settings = STATEFUL
TestServerLink = ServerMachine.TestCase


# --------------------------------------------------------------------------
# Client and server back to back
# --------------------------------------------------------------------------


class PairMachine(RuleBasedStateMachine):
    """A ClientLink wired to a ServerLink over a clean line always completes."""

    @initialize()
    def setup(self):
        self.client = ClientLink()
        self.server = ServerLink()
        self.now = 0

    @precondition(lambda self: self.client.state == ls.IDLE)
    @rule(request=REQUESTS, reply=REPLIES, chunk=st.integers(1, 64))
    def exchange(self, request, reply, chunk):
        self.client.send(request, self.now)
        requests = [e for e in self.pump(chunk) if isinstance(e, ev.Request)]
        assert len(requests) == 1
        assert requests[0].fields == request
        assert self.client.state == ls.AWAIT_REPLY
        self.server.send_reply(reply)
        events = self.pump(chunk)
        replies = [e for e in events if isinstance(e, ev.Reply)]
        assert [r.fields for r in replies] == [reply]
        assert not [e for e in events if isinstance(e, ev.Failed)]
        assert self.client.state == ls.IDLE
        assert self.client.deadline_ms is None

    @precondition(lambda self: self.client.state == ls.IDLE)
    @rule(chunk=st.integers(1, 64))
    def probe(self, chunk):
        self.client.probe(self.now)
        events = self.pump(chunk)
        assert [e for e in events if isinstance(e, ev.ProbeResult)] == [ev.ProbeResult(True)]
        assert self.client.state == ls.IDLE

    def pump(self, chunk):
        """Move bytes both ways until the line is quiet; return all events."""
        events = []
        for _ in range(20):
            to_server = self.client.data_to_send()
            to_client = self.server.data_to_send()
            if not to_server and not to_client:
                return events
            for i in range(0, len(to_server), chunk):
                events.extend(self.server.receive_data(to_server[i : i + chunk], self.now))
            for i in range(0, len(to_client), chunk):
                events.extend(self.client.receive_data(to_client[i : i + chunk], self.now))
        raise AssertionError("the line never went quiet")

    @invariant()
    def states_are_known(self):
        assert self.client.state in ls.CLIENT_STATES
        assert self.server.state in ls.SERVER_STATES


PairMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=10,
                                         deadline=None, database=None)
TestClientServerPair = PairMachine.TestCase
