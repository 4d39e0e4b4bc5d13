"""The guests of a campsite's day, played by the PMS simulator between its commands: a PIN
typed at a KS keypad, a card held to a Space door (and the ``door_event`` the appliance
reports for it), a card handed back to the desk, a card's printed face.

The PMS knows each guest's PIN from ``key_issued`` and each card's serial from
``card_encoded``; it plays the guest through the simulators' own control channels.
"""

import datetime
from collections.abc import Callable
from typing import Any, TypeVar

from simulators.pms import actions
from simulators.pms.client import PmsClient, Printer, mask_pin, value_text
from simulators.pms.keypad import Keypad, outcome
from simulators.pms.space_control import SpaceControl, incident_text

# Events leave the appliance's outbox right after the reply; waiting longer only delays a
# report. A Space door event waits for the next walk of the door's audit trail (2 s here).
EVENT_TIMEOUT_S = 10.0
Check = Callable[[bool, str], bool]
T = TypeVar("T")


def short(instant: Any) -> str:
    try:
        return datetime.datetime.fromisoformat(str(instant)).strftime("%d-%m %H:%M")
    except ValueError:
        return str(instant)


def match_text(expect: actions.Expect) -> str:
    return " ".join("%s=%s" % (key, value_text(key, value))
                    for key, value in expect.match.items())


def _card_name(index: int) -> str:
    return "the last card" if index == -1 else "card #%d" % (index + 1)


class Guests:
    """Plays every step that is not a PMS command; each outcome goes to ``check``."""

    def __init__(self, client: PmsClient, show: Printer, keypad: Keypad,
                 space: SpaceControl, check: Check) -> None:
        self.client = client
        self.show = show
        self.keypad = keypad
        self.space = space
        self.check = check

    def play(self, number: int, step: actions.Action) -> None:
        if isinstance(step, actions.Keypad):
            self._keypad(number, step)
        elif isinstance(step, actions.Door):
            self._door(number, step)
        elif isinstance(step, actions.HandBack):
            self._hand_back(number, step)
        elif isinstance(step, actions.CardFace):
            self._card_face(number, step)
        else:
            raise TypeError("not a guest's step: %r" % (step,))

    def _keypad(self, number: int, step: actions.Keypad) -> None:
        """The guest types the PIN the PMS got in key_issued; the lock must decide as said."""
        self.show.line("──", "%d. %s" % (number, step.title))
        label = "%d keypad: %s %s the %s PIN of %s at %s" % (
            number, step.lock, "opens for" if step.opens else "refuses", step.key_type,
            step.booking_id, short(step.at))
        pin = self._pin(step.booking_id, step.key_type)
        if pin is None:
            self.check(False, "%s (no key_issued with that PIN came)" % label)
            return
        try:
            answer = self.keypad.press(step.lock, pin, step.at)
        except (OSError, ValueError) as err:
            self.check(False, "%s (the KS simulator's keypad did not answer: %s)" % (label, err))
            return
        self.show.line("⌨", "%-12s PIN %s typed at %s: %s" % (
            step.lock, mask_pin(pin), short(step.at), outcome(answer)))
        right = answer["opened"] == step.opens
        self.check(right, "%s%s" % (label, "" if right else " (%s)" % outcome(answer)))

    def _door(self, number: int, step: actions.Door) -> None:
        """The guest holds a card at a Space door; the door must decide as said."""
        self.show.line("──", "%d. %s" % (number, step.title))
        label = "%d door: %s %s %s of %s at %s" % (
            number, step.door, "opens for" if step.opens else "refuses",
            _card_name(step.card), step.booking_id, short(step.at))
        held = self._with_card(label, step.booking_id, step.card,
                               lambda serial: self.space.hold_to_door(step.door, serial, step.at))
        if held is None:
            return
        serial, incident = held
        self.show.line("▣", "%-13s card %s held at %s: %s" % (
            step.door, serial, short(step.at), incident_text(incident)))
        right = (incident == "0") == step.opens
        self.check(right, "%s%s" % (label, "" if right else " (%s)" % incident_text(incident)))
        self._door_event(label, step)

    def _door_event(self, label: str, step: actions.Door) -> None:
        """The appliance walks the door's audit trail: the PMS hears of the card, at the
        step's minute, as the booking's."""
        expect = actions.Expect("door_event", {
            "backend": "space", "door": step.door, "booking_id": step.booking_id,
            "granted": step.opens})
        event = self.client.take_event(expect.matches, EVENT_TIMEOUT_S)
        at = None if event is None else datetime.datetime.fromisoformat(str(event.get("at")))
        right = at == datetime.datetime.fromisoformat(step.at)
        self.check(right, "%s: event door_event %s%s" % (
            label, match_text(expect), "" if right or at is None else " (at %s)" % at.isoformat()))

    def _hand_back(self, number: int, step: actions.HandBack) -> None:
        """A card of the booking handed in: laid on the encoder for the next read_card."""
        self.show.line("──", "%d. %s" % (number, step.title))
        label = "%d card %s of %s laid on %s" % (number, _card_name(step.card),
                                                 step.booking_id, step.encoder)
        laid = self._with_card(label, step.booking_id, step.card,
                               lambda serial: self.space.lay_on_encoder(step.encoder, serial))
        if laid is None:
            return
        serial, _ = laid
        self.show.line("▭", "card %s laid on %s" % (serial, step.encoder))
        self.check(True, label)

    def _card_face(self, number: int, step: actions.CardFace) -> None:
        """What the card printer put on a card of the booking: its last line as said."""
        self.show.line("──", "%d. %s" % (number, step.title))
        label = "%d card %s of %s reads %r as its last printed line" % (
            number, _card_name(step.card), step.booking_id, step.last_line)
        read = self._with_card(label, step.booking_id, step.card, self.space.printed)
        if read is None:
            return
        serial, lines = read
        self.show.line("▤", "card %s printed: %s" % (serial, " / ".join(lines) or "nothing"))
        right = bool(lines) and lines[-1] == step.last_line
        self.check(right, "%s%s" % (label, "" if right else " (printed: %s)" % lines))

    def _with_card(self, label: str, booking_id: str, index: int,
                   ask: Callable[[str], T]) -> tuple[str, T] | None:
        """The booking's card ``index`` and what the Space simulator did with it (``ask``);
        None, and the check failed with the reason, when there is no such card or no answer."""
        serial = self._serial(booking_id, index)
        if serial is None:
            self.check(False, "%s (no card_encoded named that card)" % label)
            return None
        try:
            return serial, ask(serial)
        except (OSError, ValueError) as err:
            self.check(False, "%s (the Space simulator did not answer: %s)" % (label, err))
            return None

    def _serial(self, booking_id: str, index: int) -> str | None:
        """The booking's card ``index`` (-1: the last), as card_encoded named them."""
        serials = [str(serial) for event in self.client.events()
                   if event.get("type") == "card_encoded"
                   and event.get("booking_id") == booking_id
                   for serial in event.get("serials") or ()]
        try:
            return serials[index]
        except IndexError:
            return None

    def _pin(self, booking_id: str, key_type: str) -> str | None:
        """The PIN of the booking's KS key of ``key_type``, as key_issued delivered it."""
        pins = [event.get("pin") for event in self.client.events()
                if event.get("type") == "key_issued" and event.get("backend") == "ks"
                and event.get("booking_id") == booking_id and event.get("key_type") == key_type]
        return str(pins[-1]) if pins and pins[-1] else None
