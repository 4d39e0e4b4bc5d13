"""Messages: typed views of a frame's fields, driven by a layout table.

Each message class lists its fields once, in ``LAYOUT``, as
``(attribute, first field number, codec)``. ``fields()`` builds the wire
fields from the attributes and ``from_fields()`` the reverse, so every
command gets both directions (and the round trip) from one table.

Field #0 is the command. Its parsing is per class (``parse_command``),
because some commands carry a suffix (``CN2``) or name a family (``L1``).

Sending trims trailing empty fields, as the PHP client does and as the
notes' own vector V2 shows; receiving accepts them (§2.2, [MED]).
"""

from .constants import MAX_KEYS_ACCEPTED, MAX_KEYS_PER_REQUEST
from .errors import FieldError, MalformedMessage, printable
from .fields import Invalid


class Message:
    """Base of every request and reply. Subclasses set CODES and LAYOUT."""

    CODES: tuple[bytes, ...] = ()
    LAYOUT: tuple[tuple[str, int, object], ...] = ()
    _taking = 0  # > 0 while a message is built from received fields (``_build``)

    def __init__(self, command: bytes) -> None:
        self.command = command

    def _validate(self) -> None:
        """Called at the end of each subclass ``__init__``: fail early. Not for a message
        built from received fields: their codecs checked them, as leniently as the notes'
        evidence asks (Postel), and sending it back would apply our own, stricter limits."""
        if not Message._taking:
            self.fields()

    def fields(self) -> list[bytes]:
        """The wire fields, command first, trailing empty fields trimmed.

        Raises:
            FieldError: an attribute cannot be sent; the error names it.
        """
        wire = [self.command_field()]
        for name, index, codec in self.LAYOUT:
            try:
                values = codec.to_wire(getattr(self, name))  # type: ignore[attr-defined]
            except Invalid as err:
                raise FieldError(self.command, name, err.args[0])
            # LAYOUT is in field order, so pad up to the field and append.
            wire.extend([b""] * (index - len(wire)))
            wire.extend(values)
        while len(wire) > 1 and wire[-1] == b"":
            wire.pop()
        return wire

    def command_field(self) -> bytes:
        """Field #0 as sent (overridden where a suffix follows: CN2, L1)."""
        if self.command not in self.CODES:
            codes = ", ".join(printable(c) for c in self.CODES)
            raise FieldError(self.command, "command", "must be one of " + codes)
        return self.command

    @classmethod
    def parse_command(cls, command: bytes) -> dict[str, object]:
        """Constructor arguments carried by field #0 (overridden for CN2, L1...)."""
        if command not in cls.CODES:
            raise MalformedMessage(command, "", "unknown command", 0)
        return {"command": command}

    @classmethod
    def from_fields(cls, fields: list[bytes]) -> "Message":
        """Build the message from a frame's fields.

        Raises:
            MalformedMessage: a field does not decode, or a non-empty field
                lies beyond the layout; the error names the field.
        """
        kwargs = cls.parse_command(fields[0])
        covered = [True] + [False] * (len(fields) - 1)
        for name, index, codec in cls.LAYOUT:
            width = codec.width  # type: ignore[attr-defined]
            raw = list(fields[index : index + width])
            raw.extend([b""] * (width - len(raw)))
            try:
                kwargs[name] = codec.from_wire(raw)  # type: ignore[attr-defined]
            except Invalid as err:
                raise MalformedMessage(fields[0], name, err.args[0], index)
            for i in range(index, min(index + width, len(fields))):
                covered[i] = True
        for index in range(len(fields)):
            # Gaps the layout leaves empty (CNM #11-#13) and fields past it
            # must be empty: content there would otherwise be dropped unseen.
            if not covered[index] and fields[index] != b"":
                raise MalformedMessage(fields[0], "", "unexpected field #%d" % index, index)
        return cls._build(kwargs)

    @classmethod
    def _build(cls, kwargs: dict[str, object]) -> "Message":
        Message._taking += 1
        try:
            return cls(**kwargs)  # type: ignore[arg-type]
        except FieldError as err:
            raise MalformedMessage(err.command, err.field, err.reason)
        finally:
            Message._taking -= 1

    def _key(self) -> tuple[object, ...]:
        return (self.command,) + tuple(getattr(self, n) for n, _, _ in self.LAYOUT)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._key() == self._key()

    def __repr__(self) -> str:
        parts = ["%s=%r" % (n, getattr(self, n)) for n, _, _ in self.LAYOUT]
        return "%s(%r, %s)" % (type(self).__name__, self.command, ", ".join(parts))


def command_parts(command: bytes, bases: tuple[bytes, ...]) -> tuple[bytes, bytes]:
    """Split ``command`` into one of ``bases`` and the suffix after it.

    Longest base first, so b'CNMB' is not read as b'CN' + b'MB'.
    """
    for base in sorted(bases, key=len, reverse=True):
        if command.startswith(base):
            return base, command[len(base) :]
    raise MalformedMessage(command, "", "unknown command", 0)


def suffix_number(command: bytes, suffix: bytes, high: int, field: str) -> int:
    """The number after ``command``'s base (CN2, CN10, L1), checked against 1..high."""
    if not 1 <= len(suffix) <= 2 or not all(0x30 <= c <= 0x39 for c in suffix) or not (
            1 <= int(suffix) <= high) or suffix[0] == 0x30:
        raise MalformedMessage(command, field, "suffix must be a number 1..%d" % high, 0)
    return int(suffix)


class CountedMessage(Message):
    """CN / CC / CA and their echoes: an optional key count after the command.

    ``count`` None sends the bare command; 1..9 is appended as one digit (CN2).
    """

    count: "int | None" = None

    def command_field(self) -> bytes:
        command = Message.command_field(self)
        if self.count is None:
            return command
        if type(self.count) is not int or not 1 <= self.count <= MAX_KEYS_PER_REQUEST:
            raise FieldError(self.command, "count", "must be 1..%d" % MAX_KEYS_PER_REQUEST)
        return command + b"%d" % self.count

    @classmethod
    def parse_command(cls, command: bytes) -> dict[str, object]:
        base, suffix = command_parts(command, cls.CODES)
        count = suffix_number(command, suffix, MAX_KEYS_ACCEPTED, "count") if suffix else None
        return {"command": base, "count": count}



    def _key(self) -> tuple[object, ...]:
        return Message._key(self) + (self.count,)


class TrackMessage(Message):
    """L1-L3 / P1-P3 and their echoes: the track number follows the command."""

    track = 1

    def command_field(self) -> bytes:
        if type(self.track) is not int or not 1 <= self.track <= 3:
            raise FieldError(self.command, "track", "must be 1, 2 or 3")
        return Message.command_field(self) + b"%d" % self.track

    @classmethod
    def parse_command(cls, command: bytes) -> dict[str, object]:
        base, suffix = command_parts(command, cls.CODES)
        return {"track": suffix_number(command, suffix, 3, "track"), "command": base}

    def _key(self) -> tuple[object, ...]:
        return Message._key(self) + (self.track,)


class Registry:
    """Field #0 → message class, for one direction (requests or replies)."""

    def __init__(self, classes: tuple[type[Message], ...]) -> None:
        self.by_code: dict[bytes, type[Message]] = {}
        for cls in classes:
            for code in cls.CODES:
                self.by_code[code] = cls

    def lookup(self, command: bytes) -> type[Message]:
        if command in self.by_code:
            return self.by_code[command]
        # Suffixed forms: CN2, CC9, L1, P3, and CN10 (the base is in CODES).
        for digits in (1, 2):
            if command[:-digits] in self.by_code and command[-digits:].isdigit():
                return self.by_code[command[:-digits]]
        raise MalformedMessage(command, "", "unknown command", 0)

    def decode(self, fields: list[bytes]) -> Message:
        if not fields or fields[0] == b"":
            raise MalformedMessage(b"", "", "frame has no command")
        return self.lookup(fields[0]).from_fields(fields)
