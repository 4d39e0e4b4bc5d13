"""Contract v1 commands: JSON payloads checked field by field into typed commands.

Every problem raises ``CommandError("bad_request", message, field)`` with the field's JSON path
(``booking.arrival``), so the PMS developer reading the error reply knows what to fix.
The published form of the contract is ``docs/asyncapi.yaml``; ``docs/mqtt-contract.md`` is
the integrator's summary.
"""

import dataclasses
import datetime
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from appliance.errors import CommandError

STATUSES = ("PENDING", "CONFIRMED", "CHECKED_IN", "COMPLETED", "CANCELLED")
ACTIVE_STATUSES = ("CONFIRMED", "CHECKED_IN")
BACKENDS = ("space", "ks", "all")
MAX_ID = 128


@dataclasses.dataclass(frozen=True)
class Guest:
    name: str
    phone: str
    email: str


@dataclasses.dataclass(frozen=True)
class Booking:
    id: str
    revision: int
    status: str
    arrival: datetime.datetime
    departure: datetime.datetime
    units: tuple[str, ...]
    labels: tuple[str, ...] = ()
    type: str = ""
    extras: tuple[str, ...] = ()
    guest: Guest = Guest("", "", "")
    license_plate: str = ""
    costs: tuple[str, ...] = ()  # the booking's mandatory costs, which products may ask for


@dataclasses.dataclass(frozen=True)
class OwnerKey:
    id: str
    key_type: str
    units: tuple[str, ...]
    valid_from: datetime.datetime | None  # None: since the owner key was first received
    valid_until: datetime.datetime
    print_info: tuple[str, ...] = ()
    holder: str = ""


class Fields:
    """Typed reads of one JSON object, each naming its path on error."""

    def __init__(self, data: Any, path: str = "") -> None:
        if not isinstance(data, dict):
            raise CommandError("bad_request", "%s must be a JSON object"
                               % (path or "the payload"), path or None)
        self.data = data
        self.path = path

    def where(self, key: str) -> str:
        return "%s.%s" % (self.path, key) if self.path else key

    def _get(self, key: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None and required:
            raise CommandError("bad_request", "%s is required" % self.where(key), self.where(key))
        return value

    def text(self, key: str, required: bool = True, default: str = "") -> str:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID * 2:
            raise self.wrong(key, "a non-empty string of at most %d characters" % (MAX_ID * 2))
        return value

    def ident(self, key: str, required: bool = True) -> str:
        value = self.text(key, required)
        if len(value) > MAX_ID or _invisible(value):
            raise self.wrong(key, "an id of at most %d characters, without control or "
                             "direction characters" % MAX_ID)
        return value

    def integer(self, key: str, low: int, high: int, default: int | None = None) -> int:
        value = self._get(key, default is None)
        if value is None and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.wrong(key, "a whole number from %d to %d" % (low, high))
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.wrong(key, "true or false")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self._get(key, default is None)
        if value is None and default is not None:
            return default
        if value not in choices:
            raise self.wrong(key, "one of %s" % ", ".join(choices))
        return str(value)

    def has(self, key: str) -> bool:
        """``key`` is there and not null."""
        return self._get(key, False) is not None

    def instant(self, key: str) -> datetime.datetime:
        value = self.text(key)
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise self.wrong(key, "an ISO 8601 instant with an offset, such as "
                             "2027-07-01T14:00:00+02:00")
        return moment

    def texts(self, key: str, required: bool = False, limit: int = 50) -> tuple[str, ...]:
        value = self._get(key, required)
        if value is None:
            return ()
        if (not isinstance(value, list) or len(value) > limit
                or not all(isinstance(item, str) and item.strip() and len(item) <= MAX_ID * 2
                           and not _invisible(item) for item in value)):
            raise self.wrong(key, "a list of at most %d non-empty strings of at most %d "
                             "characters, without control or direction characters"
                             % (limit, MAX_ID * 2))
        if required and not value:
            raise self.wrong(key, "a list with at least one entry")
        return tuple(value)

    def table(self, key: str, required: bool = True) -> "Fields":
        value = self._get(key, required)
        return Fields({} if value is None else value, self.where(key))  # [] is no object

    def wrong(self, key: str, expected: str) -> CommandError:
        return CommandError("bad_request", "%s must be %s" % (self.where(key), expected),
                            self.where(key))


def _invisible(text: str) -> bool:
    """Control, format (U+202E right-to-left override and its kin) or line-separator
    characters: in an id they hide what it is, in the journal and on a technician's screen."""
    return any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in text)


def request_id(payload: Any) -> str:
    return Fields(payload).ident("request_id")


def booking(payload: Any) -> Booking:
    fields = Fields(payload).table("booking")
    guest = fields.table("guest", required=False)
    result = Booking(
        id=fields.ident("id"), revision=fields.integer("revision", 0, 2**53),
        status=fields.choice("status", STATUSES), arrival=fields.instant("arrival"),
        departure=fields.instant("departure"), units=fields.texts("units", required=True),
        labels=fields.texts("labels"), type=fields.text("type", False),
        extras=fields.texts("extras"),
        guest=Guest(guest.text("name", False), guest.text("phone", False),
                    guest.text("email", False)),
        license_plate=fields.text("license_plate", False), costs=fields.texts("costs"))
    if result.departure <= result.arrival:
        raise fields.wrong("departure", "after booking.arrival")
    return result


def owner_key(payload: Any) -> OwnerKey:
    fields = Fields(payload).table("owner_key")
    result = OwnerKey(
        id=fields.ident("id"), key_type=fields.text("key_type"),
        units=fields.texts("units", required=True),
        valid_from=fields.instant("valid_from") if fields.has("valid_from") else None,
        valid_until=fields.instant("valid_until"),
        print_info=fields.texts("print_info", limit=3), holder=fields.text("holder", False))
    if result.valid_from is not None and result.valid_until <= result.valid_from:
        raise fields.wrong("valid_until", "after owner_key.valid_from")
    return result


def holder(payload: Any) -> tuple[str | None, str | None]:
    """``booking_id`` or ``owner_key_id``: exactly one of them."""
    fields = Fields(payload)
    booking_id = fields.ident("booking_id", required=False) or None
    owner_key_id = fields.ident("owner_key_id", required=False) or None
    if (booking_id is None) == (owner_key_id is None):
        raise CommandError("bad_request", "give booking_id or owner_key_id (exactly one)",
                           "booking_id")
    return booking_id, owner_key_id


@dataclasses.dataclass(frozen=True)
class KeyHolder:
    """Whose keys a command is about: a booking or an owner key."""

    booking_id: str | None = None
    owner_key_id: str | None = None


@dataclasses.dataclass(frozen=True)
class EncodeCardArgs(KeyHolder):
    encoder: str = ""
    count: int = 1
    copy: bool = False


@dataclasses.dataclass(frozen=True)
class ReadCardArgs:
    encoder: str = ""


@dataclasses.dataclass(frozen=True)
class MobileKeyArgs(KeyHolder):
    phone: str = ""
    binary: bool = False
    """CNMB/CCMB: Space returns the key for the PMS's own app instead of sending it."""


@dataclasses.dataclass(frozen=True)
class ReconcileArgs:
    repair: bool = False


@dataclasses.dataclass(frozen=True)
class ConnectionTestArgs:
    backend: str = "all"


DeskArgs = EncodeCardArgs | ReadCardArgs | MobileKeyArgs | ReconcileArgs | ConnectionTestArgs
"""A desk command's arguments, as the engine queues them for a job."""
T = TypeVar("T", bound=DeskArgs)


def as_payload(args: DeskArgs) -> dict[str, Any]:
    """The job's arguments as stored."""
    return dataclasses.asdict(args)


def from_payload(kind: type[T], payload: Mapping[str, Any]) -> T:
    """A job's stored arguments read back; what else the payload holds is left aside."""
    names = {field.name for field in dataclasses.fields(kind)}
    return kind(**{name: value for name, value in payload.items() if name in names})


def encode_card(payload: Any) -> EncodeCardArgs:
    fields = Fields(payload)
    booking_id, owner_key_id = holder(payload)
    return EncodeCardArgs(booking_id, owner_key_id, fields.text("encoder"),
                          fields.integer("count", 1, 10, 1), fields.flag("copy"))


def read_card(payload: Any) -> ReadCardArgs:
    return ReadCardArgs(Fields(payload).text("encoder"))


def send_mobile_key(payload: Any) -> MobileKeyArgs:
    fields = Fields(payload)
    phone = fields.text("phone")
    if not phone.lstrip("+").replace(" ", "").isdigit():
        raise fields.wrong("phone", "a phone number such as +31612345678")
    # A binary key still names the phone: CNMB's field #1 is the JustIN Mobile user.
    return MobileKeyArgs(booking_id=fields.ident("booking_id"), phone=phone,
                         binary=fields.flag("binary"))


def delete_keys(payload: Any) -> KeyHolder:
    return KeyHolder(*holder(payload))


def reconcile(payload: Any) -> ReconcileArgs:
    return ReconcileArgs(Fields(payload).flag("repair"))


def test_connection(payload: Any) -> ConnectionTestArgs:
    return ConnectionTestArgs(Fields(payload).choice("backend", BACKENDS, "all"))


DESK_COMMANDS: dict[str, Callable[[Any], DeskArgs]] = {
    "encode_card": encode_card, "read_card": read_card, "send_mobile_key": send_mobile_key,
    "reconcile": reconcile, "test_connection": test_connection,
}
COMMANDS = ("booking", "owner_key", "delete_keys", *DESK_COMMANDS)
