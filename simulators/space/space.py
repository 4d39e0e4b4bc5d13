"""The simulated ProAccess Space: site, clock, behaviour and link, with a control API.

In-process tests drive it directly::

    space = SpaceSimulator(load_site("config/space-sim.toml"))
    host, port = await space.start_tcp("127.0.0.1", 0)
    space.place_card(b"Online Encoder 1")          # a blank card on the reader
    space.server.faults.update(nak_frames=2)       # the next two frames get NAK
    space.clock.advance(3 * 86400)                 # three days later
    space.open_door(b"Pitch 12", serial=b"04A10000")

The control channel (``control.py``) exposes the same methods as JSON.
"""

import datetime
import os
import random
import tty
from typing import Any

import protocol
from simulators.link_server import LinkServer, Observer
from simulators.space import rules
from simulators.space.clock import SimClock
from simulators.space.desk import Desk, MobileKey
from simulators.space.encoders import Encoders, Refused
from simulators.space.site import CARD_KINDS, Card, Site


class SpaceSimulator:
    """One simulated Space server with its encoders, rooms and doors."""

    def __init__(self, site: Site, clock: SimClock | None = None, seed: int = 7,
                 observe: Observer | None = None) -> None:
        self.site = site
        self.clock = clock or SimClock(site.clock_start, site.clock_running)
        self.encoders = Encoders(site, self.clock)
        self.desk = Desk(self.encoders, random.Random(seed))  # noqa: S311 - test data
        self.server = LinkServer(self.handle, observe, site.second_connection, site.faults)
        self.requests: list[protocol.message.Message] = []  # every request, in order
        self.pty_path = ""  # set by start_pty
        self._handlers: dict[type, Any] = {
            protocol.EncodeCard: self.encoders.encode,
            protocol.ReadCard: self.encoders.read,
            protocol.ReadTrack: self.encoders.read_track,
            protocol.WriteTrack: self.encoders.write_track,
            protocol.CheckOut: self.desk.check_out,
            protocol.ModifyCheckIn: self.desk.modify,
            protocol.EncodeMobile: self.desk.mobile,
            protocol.EncodeMobileBinary: self.desk.mobile,
            protocol.AuditRequest: self.desk.audit,
        }

    @property
    def faults(self) -> Any:
        return self.server.faults

    async def handle(self, request: protocol.message.Message) -> protocol.message.Message:
        """Carry out one request as Space would; errors become error replies."""
        self.requests.append(request)
        try:
            if self.site.database_missing:
                raise Refused(b"NF", detail=b"PC interface database unavailable")
            rules.check(self.site.rules, request)
            reply: protocol.message.Message = await self._handlers[type(request)](request)
        except Refused as refusal:
            return refusal.reply()
        return reply

    # -- serving -----------------------------------------------------------------

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        return await self.server.start(host, port)

    def start_pty(self) -> str:
        """Serve a new pseudo-terminal; return the path the PMS side opens."""
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: 0x0D is a valid LRC
        self._pty_slave: int | None = slave  # kept open: the master never reads EIO between clients
        self.server.serve_fd(master)
        self.pty_path = os.ttyname(slave)
        return self.pty_path

    async def close(self) -> None:
        await self.server.close()
        slave = getattr(self, "_pty_slave", None)
        if slave is not None:
            os.close(slave)
            self._pty_slave = None

    # -- control: encoders and cards -----------------------------------------------

    def place_card(self, encoder: bytes, kind: str = "blank", holder: bytes = b"",
                   serial: bytes = b"") -> None:
        """Lay a card on an encoder: a new one of ``kind``, or a written one by serial."""
        target = self._encoder(encoder)
        if serial:
            if serial not in self.encoders.cards:
                raise KeyError("no card with serial %r" % serial.decode())
            card = self.encoders.cards[serial]
        elif kind not in CARD_KINDS or kind == "guest":
            raise ValueError("card kind must be one of %s" % ", ".join(
                k for k in CARD_KINDS if k != "guest"))
        else:
            card = Card(kind, holder=holder)
        target.card = card
        target.placed.set()  # an encoder waiting for a card takes it now

    def remove_card(self, encoder: bytes) -> None:
        self._encoder(encoder).card = None

    def set_encoder(self, encoder: bytes, **values: Any) -> None:
        target = self._encoder(encoder)
        _set("encoder", target, values, {"online": bool, "busy": bool, "card_after_s": float,
                              "card_timeout_s": float})

    def card_on(self, encoder: bytes) -> Card | None:
        card: Card | None = self._encoder(encoder).card
        return card

    def _encoder(self, name: bytes) -> Any:
        if name not in self.site.encoders:
            raise KeyError("no encoder named %r" % name.decode())
        return self.site.encoders[name]

    # -- control: rooms, doors, phones, clock ---------------------------------------

    def set_room(self, room: bytes, **values: Any) -> None:
        if room not in self.site.rooms:
            raise KeyError("no room named %r" % room.decode())
        _set("room", self.site.rooms[room], values, {"out_of_service": bool, "elsewhere": bool})

    def open_door(self, door: bytes, serial: bytes = b"", staff: bytes = b"",
                  phone: bytes = b"") -> bytes:
        return self.desk.open_door(door, serial, staff, phone)

    def register_phone(self, phone: bytes) -> None:
        self.site.phones.add(phone)

    def set_clock(self, when: datetime.datetime) -> None:
        self.clock.set(when)

    # -- inspection ------------------------------------------------------------------

    def state(self) -> dict[str, object]:
        """Everything a test or a technician may want to look at, as JSON-ready data."""
        text = bytes.decode
        return {
            "clock": self.clock.now().isoformat(timespec="minutes"),
            "faults": self.server.faults.as_dict(),
            "connections_refused": self.server.connections_refused,
            "frames_rejected": list(self.server.rejected),
            "rooms": {text(r.name): {"checked_in": r.checked_in, "generation": r.generation,
                                     "keys": r.copies, "out_of_service": r.out_of_service}
                      for r in self.site.rooms.values()},
            "encoders": {text(e.name): {"online": e.online, "busy": e.busy,
                                        "card": _card_state(e.card)}
                         for e in self.site.encoders.values()},
            "cards": {text(s): _card_state(c) for s, c in self.encoders.cards.items()},
            "mobile_keys": [{"phone": text(k.phone), **_card_state(k.card), **_binary(k)}
                            for k in self.desk.mobile_keys],
            "doors": {text(d.name): [[text(f) for f in r] for r in d.trail]
                      for d in self.site.doors.values()},
        }


def _binary(key: MobileKey) -> dict[str, str]:
    """What a binary key (CNMB/CCMB) handed back, for a test to compare with what arrived."""
    if not key.handed_back:
        return {}
    return {"binary": key.binary.hex().upper(), "installation_id": key.installation.decode()}


def _set(what: str, target: object, values: dict[str, Any], kinds: dict[str, type]) -> None:
    """Set attributes after checking every name and type; all or nothing."""
    for name, value in values.items():
        kind = kinds.get(name)
        if kind is None:
            raise ValueError("%s setting %r is not one of %s" % (what, name, ", ".join(kinds)))
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if (kind is bool and not isinstance(value, bool)) or (
                kind is float and (not number or value < 0)):
            raise ValueError("%s setting %r takes %s" % (
                what, name, "true or false" if kind is bool else "seconds, 0 or more"))
    for name, value in values.items():
        setattr(target, name, value)


def _card_state(card: Card | None) -> dict[str, object]:
    if card is None:
        return {}
    return {"kind": card.kind, "serial": card.serial.decode(),
            "rooms": [r.decode() for r in card.rooms], "copy": card.copy.decode(),
            "generation": card.generation, "used": card.used,
            "printed": [line.decode("latin-1") for line in card.printed]}
