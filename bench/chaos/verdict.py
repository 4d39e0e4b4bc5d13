"""What the day left behind, compared with what it should have: the table and its verdict.

The evidence comes from each side on its own: the PMS's replies and events, the KS
simulator's guests, the Space simulator's cards, rooms and phone keys, the appliance's store
(read after it stopped) and its journal. A row whose ``bad`` is not 0 fails the run.
"""

import re
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench.chaos.day import Script, room_name
from bench.chaos.pms import ChaosPms

Row = tuple[str, object, int]  # what, the figure, how many of it are bad


def commands(pms: ChaosPms, scripts: list[Script]) -> list[Row]:
    steps = [step for script in scripts for step in script.steps]
    lost = [step.request_id for step in steps if pms.final.get(step.request_id) is None]
    refused = Counter(_code(pms.final[step.request_id]) for step in steps
                      if step.request_id not in lost and not step.desk
                      and (pms.final[step.request_id] or {}).get("status") == "error")
    desk = Counter(_code(pms.final[step.request_id]) or "ok" for step in steps
                   if step.desk and step.request_id not in lost)
    resent = sum(count - 1 for count in pms.sent.values())
    return [("commands sent (again after store_unavailable)", "%d (%d)" % (len(steps), resent),
             0),
            ("commands answered", len(steps) - len(lost), len(lost)),
            ("booking commands refused", dict(refused) or 0, sum(refused.values())),
            ("desk commands: final answers", dict(desk), 0)]


def events(pms: ChaosPms, scripts: list[Script]) -> list[Row]:
    ids = Counter(str(event.get("event_id")) for event in pms.events)
    issued: dict[str, set[str]] = defaultdict(set)  # key_id -> PINs
    holders = {}
    for event in pms.events:
        if event.get("type") == "key_issued" and event.get("backend") == "ks":
            issued[event["key_id"]].add(event["pin"])
            holders[event["key_id"]] = event["booking_id"]
    revoked = {event["key_id"] for event in pms.events if event.get("type") == "key_revoked"}
    announced = set(holders.values())
    active = {script.booking_id for script in scripts if script.active}
    unannounced = active - announced
    ended_live = {key for key, booking in holders.items()
                  if booking not in active and key not in revoked}
    return [("events received (unique / duplicates)",
             "%d / %d" % (len(ids), sum(ids.values()) - len(ids)), 0),
            ("live bookings without key_issued (KS)", len(unannounced), len(unannounced)),
            ("ended bookings without key_revoked (KS)", len(ended_live), len(ended_live)),
            ("KS keys given two PINs", sum(len(p) > 1 for p in issued.values()),
             sum(len(p) > 1 for p in issued.values()))]


def ks(state: dict[str, Any], store: Path, scripts: list[Script]) -> list[Row]:
    guests = {user["id"] for user in state["users"]
              if str(user.get("alias")).startswith("kb:chaos:")}
    with sqlite3.connect("file:%s?mode=ro" % store, uri=True) as db:
        rows = db.execute("SELECT booking_id, json_extract(external_ids, '$.site_user_id') "
                          "FROM keys WHERE backend = 'ks' AND state = 'active'").fetchall()
    active = {script.booking_id for script in scripts if script.active}
    present = {booking for booking, guest in rows if guest in guests}
    known = {guest for _booking, guest in rows}
    return [("KS PINs expected / present", "%d / %d" % (len(active), len(present)),
             len(active ^ present)),
            ("KS guests nobody holds (strays)", len(guests - known), len(guests - known))]


def space(state: dict[str, Any], pms: ChaosPms, scripts: list[Script]) -> list[Row]:
    desk = {step.request_id: step for script in scripts for step in script.steps if step.desk}
    unknown = Counter(desk[rid].command for rid, body in pms.final.items()
                      if rid in desk and _code(body) == "outcome_unknown")
    reported: dict[str, str] = {}  # card serial -> booking
    for event in pms.events:
        if event.get("type") == "card_encoded":
            reported.update(dict.fromkeys(event.get("serials") or [], event["booking_id"]))
    cards = {serial: card for serial, card in state["cards"].items()
             if card.get("kind") == "guest"}
    twice = max(0, len(set(cards) - set(reported)) - unknown["encode_card"])
    phones_ok = sum(1 for rid, body in pms.final.items() if rid in desk and body
                    and desk[rid].command == "send_mobile_key" and body["status"] == "ok")
    phones_twice = max(0, len(state["mobile_keys"]) - phones_ok - unknown["send_mobile_key"])
    units = {script.booking_id: script.unit for script in scripts}
    unsure = {room_name(int(units[str(desk[rid].payload["booking_id"])][1:]))
              for rid, body in pms.final.items()
              if rid in desk and _code(body) == "outcome_unknown"}
    wrong = _rooms(state, pms, {s.booking_id for s in scripts if s.active}, unsure)
    return [("Space cards cut (reported / unsure)", "%d (%d / %d)" % (
                len(cards), len(set(cards) & set(reported)), unknown["encode_card"]), 0),
            ("cards cut twice", twice, twice),
            ("phone keys sent twice", phones_twice, phones_twice),
            ("Space rooms checked in / out wrongly", wrong, wrong)]


def _rooms(state: dict[str, Any], pms: ChaosPms, active: set[str], unsure: set[str]) -> int:
    """A room is checked in exactly while the booking that last checked it in (a new card, or
    a first phone key) is live. Space runs one job at a time and the outbox keeps their order,
    so the events' first arrivals are the check-ins' order; a room with a cut or a phone key
    of unknown outcome is left out, as nothing says who holds it."""
    holder: dict[str, str] = {}
    in_space: set[str] = set()
    for event in _first_arrivals(pms.events):
        kind, booking = event.get("type"), event.get("booking_id")
        new_card = kind == "card_encoded" and not event.get("copy")
        first_phone = kind == "key_issued" and event.get("mobile") and booking not in in_space
        if new_card or first_phone:
            holder.update(dict.fromkeys(event.get("rooms") or [], str(booking)))
            in_space.add(str(booking))
    return sum(state["rooms"][room]["checked_in"] != (booking in active)
               for room, booking in holder.items() if room not in unsure)


def _first_arrivals(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    firsts = []
    for event in events:
        if event.get("event_id") not in seen:
            seen.add(str(event.get("event_id")))
            firsts.append(event)
    return firsts


def secrets(pms: ChaosPms, logs: list[Path]) -> list[Row]:
    pins = {str(event["pin"]) for event in pms.events if event.get("pin")}
    text = "\n".join(path.read_text(errors="replace") for path in logs if path.exists())
    found = sum(1 for pin in pins if re.search(r"(?<![\w.:-])%s(?!\w)" % pin, text))
    return [("PINs in the appliance's journal", "%d of %d" % (found, len(pins)), found)]


def _code(body: dict[str, Any] | None) -> str:
    return str(((body or {}).get("error") or {}).get("code") or "")


def table(rows: list[Row]) -> str:
    width = max(len(what) for what, _figure, _bad in rows)
    return "\n".join("%-*s  %-28s %s" % (width, what, figure, "FAIL" if bad else "ok")
                     for what, figure, bad in rows)
