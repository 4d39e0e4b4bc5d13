"""Fault knobs for the simulated link, as plain data.

Settable at start (TOML ``[faults]``), while running (the control channel)
and in-process (``server.faults.update(...)``). Counters count down as they
fire, so ``nak_frames = 2`` NAKs exactly the next two request frames.

Change knobs through ``update()`` or ``clear()``: they tell whoever ``watch``es,
so a knob that must act at once (``refuse_connections`` hangs up open
connections) does not wait for the next byte on the line.
"""

import dataclasses
from collections.abc import Callable
from typing import Any


class FaultError(ValueError):
    """A fault knob was given a name or a value it does not take."""


@dataclasses.dataclass
class Faults:
    """What goes wrong on the simulated link, and how often."""

    ack_delay_s: float = 0.0  # wait before the ACK of each request frame
    reply_delay_s: float = 0.0  # wait before each reply frame
    nak_frames: int = 0  # answer the next N request frames NAK ("not ready")
    corrupt_lrc: int = 0  # send the next N reply frames with a wrong LRC
    split_writes: bool = False  # write every byte on its own
    garbage: bytes = b""  # written once, before the next reply frame
    drop_mid_frame: int = 0  # the next N replies: half a frame, then hang up
    silent: bool = False  # read everything, answer nothing
    # The server is down: its TCP port is closed (connection refused), open
    # connections are hung up; a serial line is silent. State survives: clear to
    # listen again on the same port.
    refuse_connections: bool = False

    def __post_init__(self) -> None:
        # Not a field: equality, as_dict() and clear() see only the knobs.
        self._watchers: list[Callable[[], None]] = []

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every ``update()`` and ``clear()``."""
        self._watchers.append(callback)

    def update(self, **values: Any) -> None:
        """Set knobs by name; raises FaultError naming a bad knob or value."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        checked = {}
        for name, value in values.items():
            if name not in fields:
                raise FaultError("unknown fault knob %r; known: %s" % (name, ", ".join(fields)))
            checked[name] = _coerce(name, fields[name].type, value)
        for name, value in checked.items():
            setattr(self, name, value)
        self._changed()

    def as_dict(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["garbage"] = self.garbage.hex()
        return data

    def clear(self) -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, field.default)
        self._changed()

    def _changed(self) -> None:
        for callback in list(self._watchers):
            callback()


def _coerce(name: str, kind: object, value: object) -> object:
    if kind in (bool, "bool"):
        if not isinstance(value, bool):
            raise FaultError("fault knob %r takes true or false" % name)
        return value
    if kind in (bytes, "bytes"):
        return _garbage(name, value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError("fault knob %r takes a number" % name)
    if value < 0:
        raise FaultError("fault knob %r cannot be negative" % name)
    if kind in (int, "int"):
        if value != int(value):
            raise FaultError("fault knob %r takes a whole number" % name)
        return int(value)
    return float(value)


def _garbage(name: str, value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError as err:
            raise FaultError("fault knob %r takes hex digits, e.g. \"ff00\"" % name) from err
    raise FaultError("fault knob %r takes hex digits, e.g. \"ff00\"" % name)
