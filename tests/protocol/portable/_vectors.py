"""Loader of the golden vectors in ``tests/vectors/frames.txt`` (CPython and MicroPython).

The file format is described at the top of the data file. This parser is
deliberately plain: no ``re``, no dataclasses, no codecs. The data file is
ASCII, and field text becomes bytes through ``ord`` and ``\\xNN`` escapes,
never ``str.encode`` (MicroPython would give UTF-8 for non-ASCII).

Besides parsing, ``load`` checks the hand annotations independently of
``protocol``: every ``xor=NN`` against the running XOR of the bytes, the LRC
byte against the final XOR, and the frame bytes against the ``fields`` line.
What it finds is collected in ``Vector.problems`` (a test asserts that all are
empty); a file it cannot read at all raises ``ValueError``.
"""

from _support import here

PATH = "../../vectors/frames.txt"
DIRECTIONS = ("request", "reply", "control")
STX = 0x02
ETX = 0x03
SEP = 0xB3
LRC_SKIP = 0x0D
CONTROL_BYTES = (0x05, 0x06, 0x15)
HEX_DIGITS = "0123456789abcdefABCDEF"


class Vector:
    """One golden vector.

    Attributes:
        name: the ``[name]`` of the block.
        direction: 'request', 'reply' or 'control'.
        fields: list of ``bytes`` (None for control vectors).
        frame: the whole vector as bytes, STX through LRC (one byte for control).
        lrc_skip: the LRC position holds 0x0D.
        same: name of a vector that decodes to the same message, or None.
        reencode: False when the message is decoded but not re-encoded.
        line: line number of the ``[name]`` header.
        problems: annotation or consistency errors found while loading.
    """

    def __init__(self, name, line):
        self.name = name
        self.line = line
        self.direction = None
        self.fields = None
        self.lrc_skip = False
        self.same = None
        self.reencode = True
        self.rows = []  # (line number, bytes, annotation int or None)
        self.frame = b""
        self.problems = []

    def trimmed(self):
        """The fields without trailing empty fields (field #0 always kept)."""
        fields = list(self.fields)
        while len(fields) > 1 and fields[-1] == b"":
            fields.pop()
        return fields

    def __repr__(self):
        return "Vector(%r)" % self.name


def parse_hex(text, number):
    digits = "".join(text.split())
    if len(digits) % 2:
        raise ValueError("line %d: odd number of hex digits" % number)
    for char in digits:
        if char not in HEX_DIGITS:
            raise ValueError("line %d: %r is not a hex digit" % (number, char))
    return bytes([int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)])


def parse_fields(text, number):
    """``|A|B|...|`` (readable form, §2.2) with ``\\xNN`` and ``\\\\`` escapes."""
    hash_at = text.find("#")
    if hash_at >= 0:
        text = text[:hash_at]
    text = text.strip()
    if len(text) < 2 or text[0] != "|" or text[-1] != "|":
        raise ValueError("line %d: fields must be written |A|B|...|" % number)
    fields = []
    for part in text[1:-1].split("|"):
        fields.append(unescape(part, number))
    return fields


def unescape(text, number):
    out = bytearray()
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            if text[i + 1 : i + 2] == "\\":
                out.append(0x5C)
                i += 2
                continue
            code = text[i + 2 : i + 4]
            if text[i + 1 : i + 2] != "x" or len(code) != 2:
                raise ValueError("line %d: bad escape in %r" % (number, text))
            out.extend(parse_hex(code, number))
            i += 4
            continue
        if not 0x20 <= ord(char) < 0x7F:
            raise ValueError("line %d: write %r as \\xNN" % (number, char))
        out.append(ord(char))
        i += 1
    return bytes(out)


def parse_annotation(comment, number):
    """The NN of the last ``xor=NN`` in a comment, or None."""
    at = comment.rfind("xor=")
    if at < 0:
        return None
    return parse_hex(comment[at + 4 : at + 6], number)[0]


def parse(text):
    """Vectors of the data file's text, in file order."""
    vectors = []
    current = None
    number = 0
    for raw in text.split("\n"):
        number += 1
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        if line[0] == "[":
            if line[-1] != "]":
                raise ValueError("line %d: a header is [name]" % number)
            current = Vector(line[1:-1].strip(), number)
            vectors.append(current)
            continue
        if current is None:
            raise ValueError("line %d: data before the first [name]" % number)
        if line.startswith("fields:"):
            current.fields = parse_fields(line[7:], number)
            continue
        hash_at = line.find("#")
        data = line if hash_at < 0 else line[:hash_at].strip()
        comment = "" if hash_at < 0 else line[hash_at + 1 :]
        colon = data.find(":")
        if colon >= 0:
            key = data[:colon].strip()
            value = data[colon + 1 :].strip()
            if key == "direction":
                current.direction = value
            elif key == "lrc" and value == "skip":
                current.lrc_skip = True
            elif key == "same":
                current.same = value
            elif key == "reencode" and value == "no":
                current.reencode = False
            else:
                raise ValueError("line %d: unknown key line %r" % (number, line))
            continue
        row = (number, parse_hex(data, number), parse_annotation(comment, number))
        current.rows.append(row)
    for vector in vectors:
        finish(vector)
    names = [v.name for v in vectors]
    for vector in vectors:
        if names.count(vector.name) != 1:
            vector.problems.append("name used more than once")
        if vector.same is not None and vector.same not in names:
            vector.problems.append("same: names no vector %r" % vector.same)
    return vectors


def finish(vector):
    """Join the rows into ``frame`` and check the annotations."""
    problems = vector.problems
    vector.frame = b"".join(row[1] for row in vector.rows)
    if vector.direction not in DIRECTIONS:
        problems.append("direction must be one of %s" % ", ".join(DIRECTIONS))
    if vector.direction == "control":
        if vector.fields is not None or len(vector.frame) != 1:
            problems.append("a control vector is one byte and has no fields")
        elif vector.frame[0] not in CONTROL_BYTES:
            problems.append("0x%02x is not ENQ, ACK or NAK" % vector.frame[0])
        return
    if vector.fields is None:
        problems.append("no fields line")
        return
    rows = vector.rows
    if len(rows) < 3 or rows[0][1] != bytes([STX]) or len(rows[-1][1]) != 1:
        problems.append("a frame is an STX line, hex lines, and the LRC byte alone last")
        return
    if rows[0][2] not in (None, 0):
        problems.append("line %d: STX is not part of the XOR" % rows[0][0])
    running = 0
    for number, data, note in rows[1:-1]:
        for byte in data:
            running ^= byte
        if note is None:
            problems.append("line %d: no xor=NN annotation" % number)
        elif note != running:
            problems.append("line %d: xor=%02x, the bytes give %02x" % (number, note, running))
    number, data, note = rows[-1]
    if note != running:
        problems.append("line %d (LRC): xor=%s, the bytes give %02x"
                        % (number, "none" if note is None else "%02x" % note, running))
    want = LRC_SKIP if vector.lrc_skip else running
    if data[0] != want:
        problems.append("line %d: LRC byte %02x, expected %02x" % (number, data[0], want))
    sep = bytes([SEP])
    body = sep + sep.join(vector.fields) + sep + bytes([ETX])
    if vector.frame[1:-1] != body:
        problems.append("the hex does not spell the fields line")


_CACHE = []


def load():
    """All vectors of ``tests/vectors/frames.txt`` (parsed once)."""
    if not _CACHE:
        with open(here(PATH)) as handle:
            _CACHE.extend(parse(handle.read()))
    return _CACHE


def by_name(name):
    for vector in load():
        if vector.name == name:
            return vector
    raise KeyError(name)
