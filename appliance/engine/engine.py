"""Commands in, durable state and work out: the engine's intake side.

``submit`` takes one MQTT command and, in ONE transaction, records it in the inbox by its
request_id, applies it (booking state, keys to converge, jobs) and queues its reply. Only then
does the bridge acknowledge the MQTT message, so a crash at any point either loses nothing
(the broker redelivers) or repeats nothing (the inbox knows the request_id).
"""

import datetime
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from appliance import lifecycle
from appliance.bridge import contract
from appliance.config import Config
from appliance.engine import keys as keyset
from appliance.engine import replies
from appliance.engine.backend import DESK_KINDS, Backend, Holder, KeyRow
from appliance.engine.crossjobs import APPLIANCE
from appliance.engine.replies import ReplyTo
from appliance.errors import CommandError
from appliance.store import Route, Store, Tx

log = logging.getLogger("keybridge.engine")


class Engine:
    def __init__(self, config: Config, store: Store, backends: Mapping[str, Backend],
                 wake: Callable[[], None] = lambda: None) -> None:
        self.config = config
        self.store = store
        self.backends = backends
        self.wake = wake  # nudges the workers and the outbox publisher after a commit
        self.root = config.root

    def submit(self, command: str, raw: bytes, retained: bool, reply_to: ReplyTo) -> None:
        """Handle one command message; never raises for anything the PMS sent."""
        if not raw:
            # How a PMS clears a retained command (MQTT 3.1.1 cannot show the retain flag of
            # a live delivery): nothing was asked, so nothing is answered.
            log.info("an empty message ignored (a retained command cleared)",
                     extra={"ctx": {"command": command}})
            return
        try:
            payload = json.loads(raw.decode("utf-8"))
            # Refused here rather than crash when stored: a lone surrogate ("\ud800") parses
            # but is no UTF-8, and deep nesting would overflow the stack in json.dumps.
            if _too_deep(payload):
                raise ValueError("nested too deeply")
            json.dumps(payload, ensure_ascii=False).encode("utf-8")
        except (ValueError, RecursionError):  # UnicodeError is a ValueError
            return self._answer(None, command, reply_to, error=CommandError(
                "bad_json", "the payload is not JSON in UTF-8 (nested at most %d deep)"
                % MAX_DEPTH))
        try:
            request_id = contract.request_id(payload)
        except CommandError as err:
            return self._answer(None, command, reply_to, error=err)
        ctx = {"request_id": request_id, "command": command}
        if retained:
            log.warning("retained command refused", extra={"ctx": ctx})
            return self._reject(command, request_id, "retained commands are never carried "
                                "out: publish commands with retain = false")
        previous = self.store.read.inbox.reply(request_id)
        if previous is not None and previous["command"] != command:
            return self._answer(request_id, command, reply_to, error=CommandError(
                "request_id_conflict", "request_id %r was already used for a %s command; "
                "use a new request_id for each command" % (request_id, previous["command"]),
                "request_id"))
        if previous is not None:
            log.info("repeated request_id: same reply, no second effect", extra={"ctx": ctx})
            return self._resend(command, previous, reply_to)
        self._accept(command, request_id, payload, reply_to, ctx)

    def _accept(self, command: str, request_id: str, payload: dict[str, Any],
                reply_to: ReplyTo, ctx: dict[str, Any]) -> None:
        try:
            with self.store.transaction() as tx:
                status, data = self._apply(tx, command, request_id, payload,
                                           replies.route(self.root, command, reply_to))
                reply = replies.body(request_id, command, status, data)
                tx.inbox.add(request_id, command, payload, reply)
                self._queue_reply(tx, command, reply, reply_to)
        except CommandError as err:
            log.warning("command refused: %s", err.message, extra={"ctx": ctx | {
                "code": err.code, "field": err.field}})
            reply = replies.body(request_id, command, "error", error=err)
            with self.store.transaction() as tx:
                tx.inbox.add(request_id, command, payload, reply)
                self._queue_reply(tx, command, reply, reply_to)
        else:
            log.info("command %s", status, extra={"ctx": ctx})
        self.wake()

    def _apply(self, tx: Tx, command: str, request_id: str,
               payload: dict[str, Any], route: Route) -> tuple[str, dict[str, Any]]:
        if command == "booking":
            return self._booking(tx, contract.booking(payload), request_id)
        if command == "owner_key":
            return self._owner_key(tx, contract.owner_key(payload), request_id)
        if command == "delete_keys":
            return self._delete(tx, contract.delete_keys(payload), request_id)
        if command in contract.DESK_COMMANDS:
            args = contract.DESK_COMMANDS[command](payload)
            return self._desk(tx, command, args, request_id, route)
        raise CommandError("unknown_command", "%r is not a command; the commands are %s"
                           % (command, ", ".join(contract.COMMANDS)))

    def _booking(self, tx: Tx, booking: contract.Booking,
                 request_id: str) -> tuple[str, dict[str, Any]]:
        current = tx.bookings.revision(booking.id)
        data: dict[str, Any] = {"booking_id": booking.id, "revision": booking.revision}
        if current is not None and booking.revision <= current:
            return "ok", data | {"stale": True, "current_revision": current}
        tx.bookings.put(booking.id, booking.revision, booking.status, booking.arrival,
                        booking.departure, _booking_data(booking))
        active = booking.status in contract.ACTIVE_STATUSES
        jobs = keyset.converge(tx, self.backends, request_id, _booking_holder(booking),
                               active, reason=booking.status.lower())
        unknown = [unit for unit in booking.units
                   if not any(backend.knows_unit(unit) for backend in self.backends.values())]
        if unknown and active:
            keyset.unknown_units(tx, self.root, self.config.source, booking.id, unknown)
        return "accepted", data | {"stale": False, "jobs": jobs, "unknown_units": unknown}

    def _owner_key(self, tx: Tx, owner: contract.OwnerKey,
                   request_id: str) -> tuple[str, dict[str, Any]]:
        known = self.config.key_types
        if known and owner.key_type not in known:
            raise CommandError("unknown_key_type", "owner_key.key_type %r is no key type here; "
                               "the key types are %s" % (owner.key_type, ", ".join(known)),
                               "owner_key.key_type")
        valid_from = owner.valid_from or _owner_since(tx, owner.id)
        if owner.valid_until <= valid_from:
            raise CommandError("bad_request", "owner_key.valid_until must be after valid_from "
                               "(%s; without valid_from, since the owner key was first "
                               "received)" % valid_from.isoformat(), "owner_key.valid_until")
        tx.owner_keys.put(owner.id, {"key_type": owner.key_type, "units": list(owner.units),
                                     "valid_from": valid_from.isoformat(),
                                     "valid_until": owner.valid_until.isoformat(),
                                     "print_info": list(owner.print_info),
                                     "holder": owner.holder})
        holder = Holder(owner.units, valid_from, owner.valid_until,
                        owner_key_id=owner.id, key_type=owner.key_type,
                        print_info=owner.print_info, name=owner.holder)
        jobs = keyset.converge(tx, self.backends, request_id, holder, True)
        return "accepted", {"owner_key_id": owner.id, "jobs": jobs}

    def _delete(self, tx: Tx, target: contract.KeyHolder,
                request_id: str) -> tuple[str, dict[str, Any]]:
        booking_id, owner_key_id = target.booking_id, target.owner_key_id
        self._holder_exists(tx, booking_id, owner_key_id)
        if owner_key_id is not None:
            tx.owner_keys.delete(owner_key_id)
        jobs = 0
        for key in tx.keys.of_holder(booking_id, owner_key_id):
            if key.state in lifecycle.LIVE:
                jobs += keyset.revoke(tx, key, request_id, "delete_keys")
        return "accepted", {"booking_id": booking_id, "owner_key_id": owner_key_id,
                            "keys": jobs}

    def _holder_exists(self, tx: Tx, booking_id: str | None,
                       owner_key_id: str | None) -> None:
        if booking_id is not None:
            if tx.bookings.exists(booking_id):
                return
            raise CommandError("unknown_booking", "no booking %r has been received"
                               % booking_id, "booking_id")
        if owner_key_id is not None and tx.owner_keys.exists(owner_key_id):
            return
        raise CommandError("unknown_owner_key", "no owner key %r has been received"
                           % owner_key_id, "owner_key_id")

    def _desk(self, tx: Tx, command: str, args: contract.DeskArgs, request_id: str,
              route: Route) -> tuple[str, dict[str, Any]]:
        if isinstance(args, contract.ConnectionTestArgs | contract.ReconcileArgs):
            if isinstance(args, contract.ConnectionTestArgs) and args.backend != "all":
                self._family(args.backend)
            if isinstance(args, contract.ReconcileArgs):
                args = contract.ReconcileArgs(args.repair or self.config.service.auto_repair)
            tx.jobs.add(APPLIANCE, command, contract.as_payload(args), request_id=request_id,
                        reply=route)
            return "accepted", {}
        desks = self._desks(command)
        key_id, backend = None, desks[0]
        if isinstance(args, contract.EncodeCardArgs | contract.ReadCardArgs):
            backend = self._encoder_backend(args.encoder, desks)
        if isinstance(args, contract.EncodeCardArgs | contract.MobileKeyArgs):
            key = self._desk_key(tx, args.booking_id, args.owner_key_id,
                                 [backend] if isinstance(args, contract.EncodeCardArgs)
                                 else desks)
            key_id, backend = key.id, key.backend
        tx.jobs.add(backend, command, contract.as_payload(args), key_id=key_id,
                    request_id=request_id, reply=route)
        assert command in DESK_KINDS
        return "accepted", {}

    def _desks(self, command: str) -> list[str]:
        """The backends that carry out the desk command ``command``."""
        found = [name for name, backend in self.backends.items()
                 if command in backend.desk_kinds]
        if not found:
            raise CommandError("backend_not_configured", "no backend on this appliance "
                               "carries out %s (ProAccess Space does: configure [space])"
                               % command, "backend")
        return found

    def _encoder_backend(self, name: str, desks: list[str]) -> str:
        """The backend of the administration the encoder belongs to."""
        for backend in desks:
            if self.backends[backend].check_encoder(name) is None:
                return backend
        raise CommandError("unknown_encoder", self.backends[desks[0]].check_encoder(name)
                           or "no encoder %r" % name, "encoder")

    def _desk_key(self, tx: Tx, booking_id: str | None,
                  owner_key_id: str | None, backends: list[str]) -> KeyRow:
        self._holder_exists(tx, booking_id, owner_key_id)
        for key in tx.keys.of_holder(booking_id, owner_key_id):
            if key.backend in backends and key.state in lifecycle.LIVE:
                return key
        raise CommandError("no_key", "%s has no Space key here: it is not confirmed (or waits "
                           "for check-in), has ended, no product matches it, or none of its "
                           "units is in [units] for this encoder's administration"
                           % (booking_id or owner_key_id),
                           "booking_id" if booking_id else "owner_key_id")

    def _family(self, name: str) -> list[str]:
        """The backends called ``name``: "space" is every administration's."""
        found = [key for key, backend in self.backends.items() if backend.family == name]
        if not found:
            raise CommandError("backend_not_configured", "the %s backend is not configured on "
                               "this appliance" % name, "backend")
        return found

    def _answer(self, request_id: str | None, command: str, reply_to: ReplyTo,
                error: CommandError) -> None:
        log.warning("command refused: %s", error.message, extra={"ctx": {"command": command}})
        with self.store.transaction() as tx:
            self._queue_reply(tx, command, replies.body(request_id, command, "error",
                                                      error=error), reply_to)
        self.wake()

    def _reject(self, command: str, request_id: str, reason: str) -> None:
        with self.store.transaction() as tx:
            tx.outbox.event(self.root, "command_rejected", {
                "topic": "%s/cmd/%s" % (self.root, command), "reason": reason,
                "request_id": request_id})
        self.wake()

    def _resend(self, command: str, reply: dict[str, Any], reply_to: ReplyTo) -> None:
        with self.store.transaction() as tx:
            self._queue_reply(tx, command, reply, reply_to)
        self.wake()

    def _queue_reply(self, tx: Tx, command: str, reply: dict[str, Any],
                     reply_to: ReplyTo) -> None:
        tx.outbox.add(replies.route(self.root, command, reply_to), reply)


MAX_DEPTH = 32
"""Lists and objects nested deeper than this are refused; a command needs three levels."""


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            if level > MAX_DEPTH:
                return True
            stack.extend((child, level + 1)
                         for child in (item.values() if isinstance(item, dict) else item))
    return False


def _owner_since(tx: Tx, owner_key_id: str) -> datetime.datetime:
    """An owner key sent without valid_from is valid from when it was first received, as
    BEX's owner keys are; sent again, it keeps that start (its key does not change)."""
    stored = tx.owner_keys.valid_from(owner_key_id)
    if stored:
        return datetime.datetime.fromisoformat(stored)
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _booking_holder(booking: contract.Booking) -> Holder:
    return Holder(booking.units, booking.arrival, booking.departure, booking_id=booking.id,
                  status=booking.status, labels=booking.labels, type=booking.type,
                  extras=booking.extras, costs=booking.costs, name=booking.guest.name,
                  phone=booking.guest.phone, license_plate=booking.license_plate)


def _booking_data(booking: contract.Booking) -> dict[str, Any]:
    return {"units": list(booking.units), "labels": list(booking.labels),
            "type": booking.type, "extras": list(booking.extras),
            "guest": {"name": booking.guest.name, "phone": booking.guest.phone,
                      "email": booking.guest.email},
            "license_plate": booking.license_plate, "costs": list(booking.costs)}
