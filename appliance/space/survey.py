"""``keybridge space survey``: ask a real Space what the notes leave open, and keep the answers.

For the technician at the first real site. Read-only by default: ENQ, LT of the card the
technician places, a WF/WN walk of a named door (and the walk again with another request
between two WNs: does Space keep its place?), and error probes that change nothing (an
encoder and a room that do not exist). With a test room the site names (``--allow-writes``)
it also checks a key in and out there: CN, LT, CC, LT, CO, LT. Each exchange is recorded
with its time and both frames (``transcript``: JSON lines, the frames in hex and readable),
so a difference from the simulator becomes a test (``tests/vectors/field/``) until the
simulator or the client is fixed; ``docs/space-evidence.md`` says what is being asked.

The requests are ones keybridge may send (the notes' safe forms); the replies are taken as
they come, error replies included, as fields.
"""

import dataclasses
import datetime
import json
import time
from collections.abc import Awaitable, Callable

import protocol
from appliance.space import errors
from appliance.space.client import SpaceClient

NO_SUCH_ENCODER = b"keybridge survey no encoder"
NO_SUCH_ROOM = b"keybridge survey no room"
AUDIT_STEPS = 3  # WN after WF: enough to see the walk and its end
BETWEEN = "audit, another request"
RESUMED = "audit next 2 resumed"
ENQ = [b"ENQ"]  # a probe that is no frame: the link's ENQ, answered ACK or NAK


@dataclasses.dataclass(frozen=True)
class Probe:
    name: str
    fields: list[bytes]
    asks: str  # what the answer tells, for the technician and the evidence document


@dataclasses.dataclass
class Record:
    probe: str
    at: str
    elapsed_ms: float
    request: list[bytes]
    reply: list[bytes] | None  # None: no answer (the error says why)
    error: str = ""

    def code(self) -> str:
        """The reply's field #0 (its command, or the error code), or what went wrong."""
        if self.reply is None:
            return "no answer"
        return self.reply[0].decode("latin-1")


def probes(encoder: str, door: str, room: str = "", modify: bool = False) -> list[Probe]:
    """The survey's requests, read-only unless ``room`` (a test room) is named; ``modify``
    adds MC (PHP's only, [LOW], and a licensed option of Space)."""
    enc = encoder.encode("ascii")
    found = [Probe("enq", ENQ, "is Space there and ready (ACK) or busy (NAK)"),
             Probe("read card", [b"LT", enc, b"E"],
                   "LT of the card the technician placed: its reply layout")]
    found += [Probe("audit first", [b"WF", door.encode("ascii")], "an audit record's layout")]
    found += [Probe("audit next %d" % n, [b"WN", door.encode("ascii")], "the walk, and WO")
              for n in range(1, AUDIT_STEPS + 1)]
    found += _walk_interrupted(door.encode("ascii"))
    found += [Probe("unknown encoder", [b"LT", NO_SUCH_ENCODER, b"E"], "NC's layout"),
              Probe("unknown room", [b"CO", b"0", NO_SUCH_ROOM], "TD's layout")]
    return found + (_writes(enc, room.encode("ascii"), modify) if room else [])


def _walk_interrupted(door: bytes) -> list[Probe]:
    """The walk again with a request between two WNs: the door-event poller lets the desk
    go first, so Space must keep the door's place across other requests (``walk_kept``)."""
    return [Probe("audit first again", [b"WF", door], "the walk from the start"),
            Probe("audit next 1 again", [b"WN", door], "as audit next 1"),
            Probe(BETWEEN, [b"LT", NO_SUCH_ENCODER, b"E"], "another request mid-walk"),
            Probe(RESUMED, [b"WN", door], "as audit next 2 if Space kept the walk's place")]


def walk_kept(records: list[Record]) -> bool | None:
    """Whether the WN after another request gave the straight walk's second record; None
    when that says nothing (no answer, or the trail too short to tell)."""
    replies = {record.probe: record.reply for record in records}
    straight, resumed = replies.get("audit next 2"), replies.get(RESUMED)
    if straight is None or resumed is None or straight[0] != b"WN":
        return None
    return resumed == straight


def _writes(enc: bytes, room: bytes, modify: bool) -> list[Probe]:
    """A key checked in and out of the test room ``room``, read back at every step."""
    found = [Probe("check in", [b"CN", enc, b"E", room], "CN's reply"),
             Probe("read new card", [b"LT", enc, b"E"], "LT of a new key (CI, copy 0)"),
             Probe("copy", [b"CC", enc, b"E", room], "CC's reply"),
             Probe("read copy", [b"LT", enc, b"E"], "LT of a copy (copy 1)")]
    if modify:
        found += [Probe("modify", [b"MC", room, b"", _tomorrow()], "MC's reply, if licensed"),
                  Probe("read modified", [b"LT", enc, b"E"], "LT after MC: the new end")]
    found += [Probe("check out", [b"CO", b"0", room], "CO's reply (an echo is [LOW])"),
              Probe("read after check-out", [b"LT", enc, b"E"], "LT after CO (CO)")]
    return found


Ask = Callable[[list[bytes]], Awaitable[list[bytes]]]


async def run(ask: Ask, plan: list[Probe]) -> list[Record]:
    """Each probe in turn through ``ask``; an unreachable Space ends no survey."""
    records = []
    for probe in plan:
        at, started = _now(), time.monotonic()
        try:
            reply: list[bytes] | None = await ask(probe.fields)
            error = ""
        except (errors.SpaceUnavailable, errors.SpaceProtocolError,
                errors.SpaceRequestError) as err:
            reply, error = None, str(err)
        records.append(Record(probe.name, at, round((time.monotonic() - started) * 1000, 1),
                              probe.fields, reply, error))
    return records


async def exchange(client: SpaceClient, fields: list[bytes]) -> list[bytes]:
    """One request as fields on ``client``'s link; the reply's fields, an error's too."""
    if fields == ENQ:
        return [b"ACK" if await client.ping() else b"NAK"]
    try:
        reply = await client.request(protocol.decode_request(fields))
    except protocol.MalformedMessage as err:
        raise errors.SpaceRequestError(str(err)) from err
    except errors.SpaceRefused as err:
        answer = [err.code.encode(), err.target.encode("latin-1"), err.detail.encode("latin-1")]
        while len(answer) > 1 and not answer[-1]:
            answer.pop()
        return answer
    return reply.fields()


def transcript(records: list[Record], server: str) -> str:
    """JSON lines: a header, then one line per exchange with both frames."""
    lines = [json.dumps({"survey": 1, "server": server, "at": _now()})]
    for record in records:
        line = dataclasses.asdict(record) | {
            "request": _shown(record.request), "reply": _shown(record.reply),
            "request_frame": _frame(record.request), "reply_frame": _frame(record.reply)}
        lines.append(json.dumps(line, ensure_ascii=True))
    return "\n".join(lines) + "\n"


def read_transcript(text: str) -> list[Record]:
    """The records of a transcript file, fields as bytes again."""
    records = []
    for line in text.splitlines()[1:]:
        data = json.loads(line)
        records.append(Record(data["probe"], data["at"], data["elapsed_ms"],
                              _fields(data["request"]), _fields(data["reply"]) if data[
                                  "reply"] is not None else None, data["error"]))
    return records


def differences(real: list[Record], other: list[Record]) -> list[tuple[str, str, str]]:
    """(probe, Space's answer, the other's) where field #0 differs."""
    return [(a.probe, a.code(), b.code()) for a, b in zip(real, other, strict=True)
            if a.code() != b.code()]


def _shown(fields: list[bytes] | None) -> list[str] | None:
    return None if fields is None else [field.decode("latin-1") for field in fields]


def _fields(texts: list[str]) -> list[bytes]:
    return [text.encode("latin-1") for text in texts]


def _frame(fields: list[bytes] | None) -> str:
    if not fields or fields == ENQ or fields[0] in (b"ACK", b"NAK"):
        return ""
    return protocol.encode_frame(fields).hex()


def _tomorrow() -> bytes:
    """Noon tomorrow as hhmmDDMMYY, Space's local time taken as this machine's."""
    when = datetime.datetime.now() + datetime.timedelta(days=1)
    return b"1200%02d%02d%02d" % (when.day, when.month, when.year % 100)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
