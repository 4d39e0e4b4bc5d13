"""``python -m simulators.pms``: play a campsite's day against a keybridge appliance over MQTT.

    python -m simulators.pms --broker 127.0.0.1:1883 --site demo
    python -m simulators.pms --broker broker.lan:8883 --site camping-de-vliet \\
        --username pms --password-file pms-password --tls-ca ca.crt

It waits for the appliance's retained status ``online``, then sends the commands of
``simulators/pms/day.py`` one by one, each time waiting for the replies and the events it
must cause. Between them its guests type their KS PINs at the keypads of the KS cloud
simulator (``--ks``, the one the appliance's ``[ks]`` table points at), hold their Space cards
to the doors of the ProAccess Space simulator and hand a card back to the desk (its control
channel, ``--space-control``). The flow is printed live (→ sent, ← reply, ★ event, ◆ status,
⌨ keypad, ▣ Space door, ▭ card on an encoder, ✓/✗ checks; PINs masked), then a summary. Exit
status: 0 when every check passed, 1 when one failed, 2 when the broker could not be reached.
"""

import argparse
import datetime
import os
import sys
import zoneinfo

from simulators.pms import actions
from simulators.pms import day as scenario
from simulators.pms.client import (
    Broker,
    Message,
    PmsClient,
    Printer,
    fields_text,
)
from simulators.pms.guests import EVENT_TIMEOUT_S, Guests, match_text, short
from simulators.pms.keypad import Keypad
from simulators.pms.space_control import SpaceControl

CONNECT_TIMEOUT_S = 15.0
ONLINE_TIMEOUT_S = 30.0
PUBLISH_TIMEOUT_S = 10.0
# A desk command waits for the simulated guest to lay a card on the encoder (about a second),
# Space's own margin, and a retry after a busy encoder.
REPLY_TIMEOUT_S = 30.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulators.pms", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", default="127.0.0.1:1883", help="HOST:PORT of the broker")
    parser.add_argument("--prefix", default="keybridge", help="[mqtt] prefix of the appliance")
    parser.add_argument("--site", default="demo", help="[site] id of the appliance")
    parser.add_argument("--username", default="", help="MQTT user name")
    parser.add_argument("--password-file", default="", help="file holding the MQTT password")
    parser.add_argument("--tls-ca", default="", help="CA certificate: connect with TLS")
    parser.add_argument("--ks", default="http://127.0.0.1:8092",
                        help="URL of the KS cloud simulator whose keypads the guests use")
    parser.add_argument("--space-control", default="127.0.0.1:8091", metavar="HOST:PORT",
                        help="control channel of the Space simulator whose doors the guests "
                        "use (python -m simulators.space --control HOST:PORT)")
    parser.add_argument("--mqtt", choices=("5", "3.1.1"), default="5",
                        help="the MQTT version to speak (NATS and RabbitMQ take 3.1.1 only)")
    parser.add_argument("--quiet", action="store_true", help="print the summary only")
    parser.add_argument("--story", action="store_true",
                        help="print each step's title and what went wrong, and one summary "
                        "line per group of checks")
    return parser.parse_args(argv)


def describe_command(command: str, payload: Message) -> str:
    """The line for a command sent: what a person at the desk would call it."""
    head = "%-9s %-15s" % (payload.get("request_id"), command)
    booking = payload.get("booking")
    if isinstance(booking, dict):
        stay = "%s → %s" % (short(booking.get("arrival")), short(booking.get("departure")))
        guest = booking.get("guest", {}).get("name", "")
        return "%s %s rev %s %s %s %s %s" % (head, booking.get("id"), booking.get("revision"),
                                             booking.get("status"),
                                             ",".join(booking.get("units", [])), stay, guest)
    keys = tuple(key for key in payload if key != "request_id")
    return " ".join([head, *fields_text(payload, keys)])


class Runner:
    """Runs a day's steps through a connected client and keeps every check's outcome."""

    def __init__(self, client: PmsClient, day: actions.Day, show: Printer,
                 keypad: Keypad, space: SpaceControl) -> None:
        self.client = client
        self.day = day
        self.show = show
        self.checks: list[tuple[bool, str]] = []
        self.groups: list[str] = []  # each check's group, for the story's summary
        self.group = "start"
        self.guests = Guests(client, show, keypad, space, self.check)

    def check(self, passed: bool, text: str) -> bool:
        self.checks.append((passed, text))
        self.groups.append(self.group)
        self.show.line("✓" if passed else "✗", text, error=not passed)
        return passed

    def run(self) -> int:
        """Play the day and print the summary: 0 all passed, 1 a check failed, 130 Ctrl-C."""
        try:
            self._play()
            interrupted = False
        except KeyboardInterrupt:  # what happened so far is still worth a summary
            interrupted = not self.check(False, "the day was interrupted (Ctrl-C)")
        self.group = "the contract"
        self.check(not self.client.problems, "every message had the contract's shape%s" % (
            "" if not self.client.problems else ": " + "; ".join(self.client.problems)))
        self._summary()
        if interrupted:
            return 130
        return 0 if all(passed for passed, _ in self.checks) else 1

    def _play(self) -> None:
        if not self._online():
            return
        for number, step in enumerate(self.day.steps, 1):
            self.group = GROUPS[type(step)]
            if not isinstance(step, actions.Step):
                self.guests.play(number, step)
            elif not self._step(number, step):
                skipped = len(self.day.steps) - number
                self.check(skipped == 0, "the appliance stopped answering: %d step%s not run"
                           % (skipped, "" if skipped == 1 else "s"))
                break
        self.group = "end-of-day tallies"
        self._tallies()

    def _online(self) -> bool:
        self.show.note("waiting for the appliance's retained status on %s/status"
                       % self.client.root)
        status = self.client.wait_status(lambda s: s.get("state") == "online", ONLINE_TIMEOUT_S)
        state = status.get("state") if status else "nothing"
        return self.check(state == "online", "appliance online (status: %s)" % state)

    def _step(self, number: int, step: actions.Step) -> bool:
        self.show.line("──", "%d. %s" % (number, step.title))
        label = "%d %s" % (number, step.command)
        earlier = self.client.replies(step.request_id)
        self.show.line("→", describe_command(step.command, step.payload))
        try:
            self.client.send(step.command, step.payload, PUBLISH_TIMEOUT_S)
        except (TimeoutError, RuntimeError, ValueError) as err:
            return self.check(False, "%s: not published: %s" % (label, err))
        want = 1 if step.repeat else len(step.replies)
        got = self.client.wait_replies(step.request_id, len(earlier), want, REPLY_TIMEOUT_S)
        if not got:
            return self.check(False, "%s: no reply within %gs" % (label, REPLY_TIMEOUT_S))
        self._check_replies(label, step, got, earlier)
        for expect in step.events:
            event = self.client.take_event(expect.matches, EVENT_TIMEOUT_S)
            self.check(event is not None, "%s: event %s %s" % (label, expect.type,
                                                               match_text(expect)))
        return True

    def _check_replies(self, label: str, step: actions.Step, got: list[Message],
                       earlier: list[Message]) -> None:
        statuses = [str(reply.get("status")) for reply in got]
        if step.repeat:
            same = any(_same(got[0], before) for before in earlier)
            self.check(same, "%s: repeated request_id answered with the same reply (%s)"
                       % (label, statuses[0]))
            return
        self.check(statuses == list(step.replies), "%s: replies %s%s" % (
            label, " → ".join(step.replies),
            "" if statuses == list(step.replies) else " (got %s)" % " → ".join(statuses)))
        last = got[-1]
        if step.stale:
            data = last.get("data") or {}
            self.check(data.get("stale") is True, "%s: data.stale is true" % label)
        if step.error is not None:
            error = last.get("error") or {}
            found = (error.get("code"), error.get("field"))
            self.check(found == step.error, "%s: error %s naming field %s%s" % (
                label, *step.error, "" if found == step.error else " (got %s, %s)" % found))

    def _tallies(self) -> None:
        events = self.client.events()
        for tally in self.day.tallies:
            count = sum(1 for event in events if tally.expect.matches(event))
            self.check(count == tally.count, "%s%s" % (
                tally.title, "" if count == tally.count else " (counted %d)" % count))

    def _summary(self) -> None:
        out = self.show
        failed = [text for passed, text in self.checks if not passed]
        events: dict[str, int] = {}
        for event in self.client.events():
            events[str(event.get("type"))] = events.get(str(event.get("type")), 0) + 1
        out.line("══", "summary", always=True)
        out.line("  ", "commands sent  %d: %s" % (sum(self.client.sent.values()),
                                                    _counts(self.client.sent)), always=True)
        out.line("  ", "replies        %s" % _counts(self.client.reply_counts()), always=True)
        out.line("  ", "events         %s" % (_counts(events) or "none"), always=True)
        out.line("  ", "checks         %d passed, %d failed" % (
            len(self.checks) - len(failed), len(failed)), always=True)
        if out.story:
            for text in group_lines(self.groups, self.checks):
                out.line("   ", text, error=" FAILED" in text, always=True)
            for text in failed:
                out.line("    ✗", text, error=True, always=True)
        else:
            for passed, text in self.checks:
                out.line("    ✓" if passed else "    ✗", text, error=not passed, always=True)
        out.line("══", "every check passed" if not failed else "%d check%s FAILED" % (
            len(failed), "" if len(failed) == 1 else "s"), error=bool(failed), always=True)


GROUPS = {actions.Step: "commands and replies", actions.Keypad: "PINs at KS keypads",
          actions.Door: "cards at Space doors", actions.HandBack: "cards handed back",
          actions.CardFace: "cards as printed"}


def group_lines(groups: list[str], checks: list[tuple[bool, str]]) -> list[str]:
    """One line per group of checks, in the order the day met them."""
    tally: dict[str, list[int]] = {}
    for group, (passed, _text) in zip(groups, checks, strict=True):
        counts = tally.setdefault(group, [0, 0])
        counts[0 if passed else 1] += 1
    return ["%-22s %d passed%s" % (group, good, ", %d FAILED" % bad if bad else "")
            for group, (good, bad) in tally.items()]


def _same(a: Message, b: Message) -> bool:
    keys = ("request_id", "command", "status", "error", "data")
    return all(a.get(key) == b.get(key) for key in keys)


def _counts(counter: dict[str, int]) -> str:
    return ", ".join("%s %d" % item for item in sorted(counter.items()))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    host, _, port = args.broker.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit("--broker %r: write HOST:PORT, e.g. 127.0.0.1:1883" % args.broker)
    password = None
    if args.password_file:
        with open(args.password_file, encoding="utf-8") as file:
            password = file.read().rstrip("\r\n")
    show = Printer(args.quiet, story=args.story)
    if not args.ks.startswith(("http://", "https://")):
        raise SystemExit("--ks %r: write the KS simulator's URL, e.g. http://127.0.0.1:8092"
                         % args.ks)
    try:
        space = SpaceControl(args.space_control, scenario.ZONE)
    except ValueError as err:
        raise SystemExit("--space-control: %s" % err) from None
    root = "%s/%s" % (args.prefix, args.site)
    client = PmsClient(Broker(host, int(port), args.username, password, args.tls_ca,
                              args.mqtt), root,
                       "pms-sim-%s" % args.site, show)
    today = datetime.datetime.now(zoneinfo.ZoneInfo(scenario.ZONE)).date()
    try:
        client.connect(CONNECT_TIMEOUT_S)
        day = scenario.build(os.urandom(2).hex(), today)
        return Runner(client, day, show, Keypad(args.ks), space).run()
    except ConnectionError as err:
        print("simulators.pms: %s" % err, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nsimulators.pms: interrupted", file=sys.stderr)
        return 130
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
