"""Errors of the Space link client, split by who is at fault and what fixes it.

::

    SpaceError                     root: catch this to catch everything from appliance.space
    ├── SpaceConfigError           the settings are wrong: the message names the file and key
    ├── SpaceRequestError          we asked for something the protocol cannot carry: fix the input
    ├── SpaceUnavailable           the exchange did not complete (Space or the line away);
    │                              ``request_may_have_run`` says whether to check first
    ├── SpaceProtocolError         Space broke the protocol; the link is reopened for the next one
    └── SpaceRefused               Space answered an error code: ``code``, ``meaning``, ``hint``
        ├── CardError              the card on the encoder: EP EF ED EV
        ├── EncoderError           the encoder: NC OV EO
        ├── RoomError              the room: TD EA OS
        └── ServerError            Space itself: ES NF EG, and WE for audit trails

Every ``SpaceRefused`` carries the vendor's code and meaning, and a hint for
the person at the desk. ``retry_later`` is true where waiting may help.
``protocol`` errors are translated here with ``raise ... from``.
"""

import protocol


class SpaceError(Exception):
    """Root of every error raised by ``appliance.space``."""


class SpaceConfigError(SpaceError):
    """The Space settings are invalid; the message says where and how to fix it.

    ``problems`` lists each one when there are several.
    """

    problems: list[str] = []


class SpaceRequestError(SpaceError):
    """The request cannot be sent as given (a field too long, a bad phone...)."""


class SpaceUnavailable(SpaceError):
    """The request did not complete: no connection, no ACK, no reply, link closed.

    Attributes:
        request_may_have_run: False when Space certainly never ran it (no
            connection, NAK on every try), so it is safe to send again.
    """

    def __init__(self, message: str, request_may_have_run: bool) -> None:
        super().__init__(message)
        self.request_may_have_run = request_may_have_run


class SpaceProtocolError(SpaceError):
    """Space sent something the protocol does not allow (corrupt or foreign reply)."""


class SpaceRefused(SpaceError):
    """Space carried the request out no further and answered with an error code."""

    code = ""
    hint = "see Space's PMS log"
    retry_later = False

    def __init__(self, meaning: str, target: str = "", detail: str = "") -> None:
        self.meaning = meaning
        self.target = target
        self.detail = detail
        text = "%s (%s)" % (meaning, self.code)
        if detail:
            text += ": %s" % detail
        super().__init__("%s; %s" % (text, self.hint))


class CardError(SpaceRefused):
    """The card on the encoder could not be used."""


class EncoderError(SpaceRefused):
    """The encoder could not take the job."""


class RoomError(SpaceRefused):
    """The room cannot take the key asked for."""


class ServerError(SpaceRefused):
    """Space itself failed or did not understand the request."""


def _refusal(name: str, base: type[SpaceRefused], code: str, hint: str,
             retry_later: bool = False) -> type[SpaceRefused]:
    return type(name, (base,), {"code": code, "hint": hint, "retry_later": retry_later,
                                "__doc__": "Space answered %s." % code})


SyntaxRejected = _refusal(
    "SyntaxRejected", ServerError, "ES",
    "check the encoder and room names against Space, and Space's PMS log")
EncoderOffline = _refusal(
    "EncoderOffline", EncoderError, "NC",
    "check that the encoder is switched on and networked, and that its name matches "
    "Space exactly", retry_later=True)
DatabaseUnavailable = _refusal(
    "DatabaseUnavailable", ServerError, "NF",
    "ask the Space administrator to check the PMS interface database", retry_later=True)
EncoderBusy = _refusal(
    "EncoderBusy", EncoderError, "OV",
    "the encoder is still busy with a previous card; wait a moment and try again",
    retry_later=True)
CardNotInserted = _refusal(
    "CardNotInserted", CardError, "EP",
    "place the card flat on the encoder and try again")
CardUnreadable = _refusal(
    "CardUnreadable", CardError, "EF",
    "the card belongs to another system or is damaged; use another card")
UnknownRoom = _refusal(
    "UnknownRoom", RoomError, "TD",
    "Space does not know this room; check the unit map against Space's room names")
CardTimeout = _refusal(
    "CardTimeout", CardError, "ED",
    "no card was presented in time \N{EM DASH} place the card and try again")
RoomCheckedOut = _refusal(
    "RoomCheckedOut", RoomError, "EA",
    "the room is checked out, so no copy can be made; cut a new card instead")
RoomOutOfService = _refusal(
    "RoomOutOfService", RoomError, "OS",
    "the room is out of service in Space; put it back in service first")
EncodingElsewhere = _refusal(
    "EncodingElsewhere", EncoderError, "EO",
    "another station is encoding a card for this room; wait until it is done",
    retry_later=True)
StaffCard = _refusal(
    "StaffCard", CardError, "EV",
    "this is a staff member's card and was not overwritten; use a guest card")
GeneralError = _refusal(
    "GeneralError", ServerError, "EG",
    "the text Space sent says what went wrong")

# EG to a phone key, naming the phone: JustIN Mobile does not know it (MEWS saw this, [LOW]).
PhoneNotRegistered = _refusal(
    "PhoneNotRegistered", GeneralError, "EG",
    "the phone is most likely not registered with JustIN Mobile: ask the guest to open "
    "JustIN Mobile and finish registration, then send again")

# Not one of the 13 codes: WE, the audit trail's own error reply (§5.9).
AuditUnavailable = _refusal(
    "AuditUnavailable", ServerError, "WE",
    "check the door name against Space's doors; Space's text says more")

REFUSALS: dict[str, type[SpaceRefused]] = {
    cls.code: cls for cls in (
        SyntaxRejected, EncoderOffline, DatabaseUnavailable, EncoderBusy, CardNotInserted,
        CardUnreadable, UnknownRoom, CardTimeout, RoomCheckedOut, RoomOutOfService,
        EncodingElsewhere, StaffCard, GeneralError)
}


def refusal(error: protocol.VendorError) -> SpaceRefused:
    """The typed error for Space's error reply."""
    code = error.code.decode("ascii")
    return REFUSALS[code](error.meaning, _text(error.target), _text(error.detail))


def unavailable(error: protocol.LinkFailure, where: str) -> SpaceUnavailable:
    """A link failure in words a technician can act on."""
    may_have_run = error.request_may_have_run
    after = (" Space may have carried the request out; check before repeating it."
             if may_have_run else "")
    return SpaceUnavailable("%s: %s.%s" % (where, error, after), may_have_run)


def _text(data: bytes) -> str:
    return data.decode("latin-1")  # replies may carry Latin-1 (§2.4)
