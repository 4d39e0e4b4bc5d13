"""The simulated site: rooms, doors, encoders, cards, phones, options.

Loaded from a TOML file (``config/space-sim.toml`` is the example); every
error names the file, the key and what to write instead. Names are kept as
the bytes that cross the wire.
"""

import asyncio
import dataclasses
import datetime
import tomllib
from pathlib import Path
from typing import Any

from protocol.fields import Invalid
from protocol.requests import DOOR, ENCODER, PHONE, ROOM
from simulators.faults import FaultError, Faults

# What can lie on an encoder before anything is encoded.
CARD_KINDS = ("blank", "guest", "staff", "spare", "invalid", "foreign", "badly_inserted")


class SiteError(ValueError):
    """The site file is wrong; the message names the file, the key and the fix."""


@dataclasses.dataclass
class Card:
    """A card as the simulated encoder sees it, with the data written on it."""

    kind: str = "blank"
    serial: bytes = b""
    rooms: tuple[bytes, ...] = ()
    generation: int = 0
    copy: bytes = b"0"  # LT's copy number: 0, 1, 2, I (3rd+), A (one-shot)
    granted: tuple[int, ...] = ()
    start: tuple[int, ...] | None = None
    expiry: tuple[int, ...] | None = None
    operator: bytes = b""
    holder: bytes = b""  # a staff card's user
    tracks: dict[int, bytes] = dataclasses.field(default_factory=dict)
    used: bool = False  # a one-shot card that has opened its door
    printed: tuple[bytes, ...] = ()  # the lines Space's card printer put on its face (CN 12-14)


@dataclasses.dataclass
class Room:
    name: bytes
    out_of_service: bool = False
    elsewhere: bool = False  # another station is encoding its card (EO)
    checked_in: bool = False
    generation: int = 0  # bumped by CN/CNM: older cards stop opening the door
    copies: int = 0  # keys made in this generation, the original included
    start: tuple[int, ...] | None = None
    expiry: tuple[int, ...] | None = None
    granted: tuple[int, ...] = ()


@dataclasses.dataclass
class Door:
    name: bytes
    room: bytes | None = None  # a room's own door
    authorization: int | None = None  # a shared door opened by a PMS authorization
    trail: list[list[bytes]] = dataclasses.field(default_factory=list)  # newest first
    cursor: int = -1  # the record WF/WN last returned


@dataclasses.dataclass
class Encoder:
    name: bytes
    online: bool = True
    busy: bool = False  # busy with a job of its own (OV)
    card_after_s: float = 0.0  # how long until the person places the card
    card_timeout_s: float = 20.0  # Space gives up waiting with ED
    card: Card | None = None
    working: bool = False
    placed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


@dataclasses.dataclass
class Options:
    """The Space options that change behaviour."""

    remove_access_on_checkout: bool = True  # checked-out keys stop opening doors
    max_copies: int = 10


@dataclasses.dataclass
class Rules:
    """What this Space does where the notes are unsure ([MED], [LOW] or unknown). Each
    default is what PMS clients in the field send every day and so must work; the strict
    choice, a knob away, is the notes' own limit. Field tests (``keybridge space survey``)
    settle them one by one."""

    print_info_max_chars: int = 0  # 0: any line the frame carries; 24: ES beyond ([MED])
    track_text_max_chars: int = 0  # the same for P1-P3 text
    max_keys_per_request: int = 10  # CN10 taken; 9: ES beyond, one digit as the notes
    card_without_room: str = "answer"  # CA: a one-shot card for shared doors, CN/CC: TD;
    # "refuse": ES
    national_phone: str = "EG"  # a phone without +/00: EG not registered; "ES": syntax


@dataclasses.dataclass
class Site:
    rooms: dict[bytes, Room] = dataclasses.field(default_factory=dict)
    doors: dict[bytes, Door] = dataclasses.field(default_factory=dict)
    encoders: dict[bytes, Encoder] = dataclasses.field(default_factory=dict)
    staff: set[bytes] = dataclasses.field(default_factory=set)
    phones: set[bytes] = dataclasses.field(default_factory=set)
    options: Options = dataclasses.field(default_factory=Options)
    rules: Rules = dataclasses.field(default_factory=Rules)
    audit_date_format: str = "dd/mm"
    database_missing: bool = False  # NF to everything
    listen: str = "127.0.0.1:8090"
    second_connection: str = "refuse"
    clock_start: datetime.datetime | None = None
    clock_running: bool = True
    faults: Faults = dataclasses.field(default_factory=Faults)


def load_site(path: str | Path) -> Site:
    """Read a site file; raises SiteError naming the file and key at fault."""
    source = str(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as err:
        raise SiteError("%s: cannot read the site file: %s" % (source, err.strerror)) from err
    except tomllib.TOMLDecodeError as err:
        raise SiteError("%s: not valid TOML: %s" % (source, err)) from err
    return site_from_dict(data, source)


def site_from_dict(data: dict[str, Any], source: str = "<site>") -> Site:
    site = Site()
    top = _Table(data, source, "")
    _server(site, top.table("server"))
    options = top.table("options")
    site.options.remove_access_on_checkout = options.get("remove_access_on_checkout", bool, True)
    site.options.max_copies = options.get("max_copies", int, 10)
    if not 1 <= site.options.max_copies <= 99:
        raise options.error("max_copies", "must be 1 to 99", "Space allows 10 by default")
    _rules(site.rules, top.table("rules"))
    clock = top.table("clock")
    start = clock.get("start", str, "")
    if start:
        site.clock_start = clock.parse(start, "start", datetime.datetime.fromisoformat)
    site.clock_running = clock.get("running", bool, True)
    for room in top.tables("rooms"):
        _room(site, room)
    for door in top.tables("doors"):
        _door(site, door)
    for each in site.rooms.values():  # every room has its own door, named as the room
        site.doors.setdefault(each.name, Door(each.name, room=each.name))
    for encoder in top.tables("encoders"):
        _encoder(site, encoder)
    site.staff = {s.name("name", ROOM) for s in top.tables("staff")}
    justin = top.table("justin")
    site.phones = {_phone(justin, p) for p in justin.get("phones", list, [])}
    faults = top.table("faults")
    try:
        site.faults.update(**faults.data)
    except FaultError as err:
        raise SiteError("%s: [faults]: %s" % (source, err)) from err
    return site


def _rules(rules: Rules, table: "_Table") -> None:
    for key in ("print_info_max_chars", "track_text_max_chars"):
        value = table.get(key, int, getattr(rules, key))
        if not 0 <= value <= 64:
            raise table.error(key, "must be 0 to 64", "0 takes any length, 24 is the notes' limit")
        setattr(rules, key, value)
    rules.max_keys_per_request = table.get("max_keys_per_request", int, 10)
    if not 1 <= rules.max_keys_per_request <= 99:
        raise table.error("max_keys_per_request", "must be 1 to 99", "10 is what clients send")
    rules.card_without_room = table.choice("card_without_room", ("answer", "refuse"), "answer")
    rules.national_phone = table.choice("national_phone", ("EG", "ES"), "EG")


def _phone(table: "_Table", phone: object) -> bytes:
    try:
        if not isinstance(phone, str):
            raise Invalid("is not text")
        return bytes(PHONE.encode(phone.encode("ascii")))
    except (UnicodeEncodeError, Invalid) as err:
        raise table.error("phones", "has %r, which is not an international number (%s)"
                          % (phone, err), 'write e.g. "+31612345678" in quotes') from err


def _server(site: Site, server: "_Table") -> None:
    site.listen = server.get("listen", str, site.listen)
    site.second_connection = server.choice("second_connection", ("refuse", "queue"), "refuse")
    site.audit_date_format = server.choice("audit_date_format", ("dd/mm", "mm/dd"), "dd/mm")
    site.database_missing = server.get("database_missing", bool, False)


def _room(site: Site, table: "_Table") -> None:
    name = table.name("name", ROOM)
    site.rooms[name] = Room(name, out_of_service=table.get("out_of_service", bool, False))


def _door(site: Site, table: "_Table") -> None:
    name = table.name("name", DOOR)
    room = table.get("room", str, "")
    auth = table.get("authorization", int, 0)
    if room and room.encode() not in site.rooms:
        raise table.error("room", "names no room in [[rooms]]", "declare the room first")
    if "authorization" in table.data and not 1 <= auth <= 62:
        raise table.error("authorization", "must be 1 to 62",
                          "use Space's PMS authorization number")
    site.doors[name] = Door(name, room=room.encode() or None, authorization=auth or None)


def _encoder(site: Site, table: "_Table") -> None:
    encoder = Encoder(table.name("name", ENCODER))
    encoder.online = table.get("online", bool, True)
    encoder.busy = table.get("busy", bool, False)
    encoder.card_after_s = table.get("card_after_s", float, 0.0)
    encoder.card_timeout_s = table.get("card_timeout_s", float, 20.0)
    kind = table.choice("card", ("none", *CARD_KINDS), "none")
    if kind != "none":
        encoder.card = Card(kind, holder=table.get("card_holder", str, "").encode())
    site.encoders[encoder.name] = encoder


_KIND_WORDS = {str: "text in quotes", int: "a whole number", float: "a number of seconds",
               bool: "true or false", list: "a list [...]", dict: "a table"}


class _Table:
    """One TOML table and where it is, for error messages."""

    def __init__(self, data: dict[str, Any], source: str, where: str) -> None:
        self.data = data
        self.source = source
        self.where = where

    def error(self, key: str, problem: str, fix: str) -> SiteError:
        return SiteError("%s: %s%s %s; %s" % (self.source, self.where, key, problem, fix))

    def table(self, key: str) -> "_Table":
        value = self.get(key, dict, {})
        return _Table(value, self.source, "[%s] " % key)

    def tables(self, key: str) -> list["_Table"]:
        value = self.get(key, list, [])
        if not all(isinstance(item, dict) for item in value):
            raise self.error(key, "must be an array of tables", "write [[%s]] sections" % key)
        return [_Table(item, self.source, "[[%s]] #%d " % (key, i + 1))
                for i, item in enumerate(value)]

    def get(self, key: str, kind: type, default: Any) -> Any:
        value: Any = self.data.get(key, default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(key, "must be %s" % _KIND_WORDS.get(kind, kind.__name__),
                             "fix its value")
        if isinstance(value, float) and value < 0:
            raise self.error(key, "cannot be negative", "give seconds, 0 or more")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value: str = self.get(key, str, default)
        if value not in allowed:
            raise self.error(key, "is %r" % value, "use one of: %s" % ", ".join(allowed))
        return value

    def name(self, key: str, codec: Any) -> bytes:
        if key not in self.data:
            raise self.error(key, "is missing", "every entry needs a %s" % key)
        text = self.get(key, str, "")
        try:
            return bytes(codec.encode(text.encode("ascii")))
        except (UnicodeEncodeError, Invalid) as err:
            raise self.error(key, "%r cannot go on the wire (%s)" % (text, err),
                             "use ASCII without | characters, within the length") from err

    def parse(self, value: str, key: str, parser: Any) -> Any:
        try:
            return parser(value)
        except ValueError as err:
            raise self.error(key, "is not a date and time (%s)" % err,
                             "write e.g. 2026-07-01T09:00") from err
