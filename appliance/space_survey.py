"""``keybridge space survey``: the protocol questions of ``docs/space-evidence.md``, asked.

    keybridge space survey --encoder "Online Encoder 1" --door "Barrier"
    keybridge space survey ... --allow-writes "Test room" --compare 127.0.0.1:8090

Prints one line per exchange (what was asked, what Space answered, and with ``--compare``
what another server, such as the simulator, answered to the same request) and writes the
transcript (``--transcript``, JSON lines) to keep or to drop into ``tests/vectors/field/``.
While the service runs, the requests go through its link (Space takes one PMS connection);
``--compare`` asks its own server directly. Exit codes: 0 surveyed (differences are
findings, not failures), 2 bad usage, 3 Space unreachable for every probe.
"""

import argparse
import asyncio
import datetime
import json
import sys
from typing import Any

from appliance.control import client, wire
from appliance.space import SpaceClient, SpaceSettings, survey
from appliance.space import errors as e

EXIT_USAGE, EXIT_UNAVAILABLE = 2, 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--encoder", required=True, help="an encoder's name in Space")
    parser.add_argument("--door", required=True, help="a door whose audit trail is read")
    parser.add_argument("--allow-writes", metavar="ROOM", default="",
                        help="a test room the site names: check a key in and out there")
    parser.add_argument("--with-mc", action="store_true",
                        help="with --allow-writes, also modify the check-in (MC, licensed)")
    parser.add_argument("--transcript", metavar="FILE",
                        help="where the transcript goes (default: space-survey-TIME.jsonl)")
    parser.add_argument("--compare", metavar="HOST:PORT",
                        help="also ask this server (the simulator) and show the differences")


def main(args: argparse.Namespace, settings: SpaceSettings, socket: str | None) -> int:
    plan = survey.probes(args.encoder, args.door, args.allow_writes, args.with_mc)
    real = asyncio.run(_survey(settings, socket, plan))
    other = None
    if args.compare:
        other = asyncio.run(_survey(settings.replace(server=args.compare), None, plan))
    path = args.transcript or "space-survey-%s.jsonl" % datetime.datetime.now().strftime(
        "%Y%m%d-%H%M%S")
    transcript = survey.transcript(real, settings.server)
    with open(path, "w", encoding="ascii") as out:
        out.write(transcript)
    if args.json:
        print(json.dumps({"ok": True, "result": {"transcript": path, "records": [
            json.loads(line) for line in transcript.splitlines()[1:]],
            "differences": None if other is None else survey.differences(real, other),
            "walk_kept": survey.walk_kept(real)}}))
    else:
        print(_table(real, other))
        print(WALK_KEPT[survey.walk_kept(real)] % args.door)
        print("transcript: %s (copy it into tests/vectors/field/ to make its answers a test)"
              % path)
    if all(record.reply is None for record in real):
        print("keybridge space survey: Space did not answer: %s" % real[0].error,
              file=sys.stderr)
        return EXIT_UNAVAILABLE
    return 0


async def _survey(settings: SpaceSettings, socket: str | None,
                  plan: list[survey.Probe]) -> list[survey.Record]:
    if socket is not None:
        try:
            client.ask(socket, "status", timeout_s=5)
        except wire.NotRunning:
            socket = None
    if socket is not None:
        return await survey.run(_through_service(socket), plan)
    async with SpaceClient(settings.replace(connection="persistent")) as link:
        return await survey.run(lambda fields: survey.exchange(link, fields), plan)


def _through_service(socket: str) -> survey.Ask:
    async def ask(fields: list[bytes]) -> list[bytes]:
        try:
            answer: Any = await asyncio.to_thread(
                client.ask, socket, "backend", backend="space", verb="exchange",
                args={"fields": [field.decode("latin-1") for field in fields]},
                operator=client.operator())
        except wire.ControlRefused as err:
            raise e.SpaceUnavailable(str(err), bool(err.details.get("may_have_run"))) from err
        return [str(field).encode("latin-1") for field in answer]
    return ask


WALK_KEPT = {
    True: "audit walk: Space kept its place in the trail of door %r across another request, "
          "as door events need",
    False: "audit walk: Space did NOT keep its place in the trail of door %r across another "
           "request: door events may repeat or miss records; send this transcript to the "
           "keybridge developers",
    None: "audit walk: the trail of door %r is too short to tell whether Space keeps its "
          "place across other requests; run again with a door of 3 or more records"}


def _table(real: list[survey.Record], other: list[survey.Record] | None) -> str:
    lines = ["%-22s %-28s %s" % ("probe", "Space answered", "" if other is None
                                 else "the other server answered")]
    for number, record in enumerate(real):
        answer = _answer(record)
        if other is None:
            lines.append("%-22s %s" % (record.probe, answer))
            continue
        theirs = _answer(other[number])
        same = "same" if other[number].code() == record.code() else "DIFFERENT"
        lines.append("%-22s %-28s %-28s %s" % (record.probe, answer, theirs, same))
    return "\n".join(lines)


def _answer(record: survey.Record) -> str:
    if record.reply is None:
        return "no answer"
    return "|".join(field.decode("latin-1") for field in record.reply)[:28]
