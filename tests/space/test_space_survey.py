"""``keybridge space survey`` against the simulator, and every transcript in
``tests/vectors/field/`` replayed: a difference between what a Space answered and what the
simulator answers to the same requests fails here until one of them is fixed."""

import asyncio
import dataclasses
import json
import sys
from pathlib import Path

import pytest

import protocol
from appliance.space import SpaceClient, survey

from _spacesim import ENC1, make_space, settings_for

ROOT = Path(__file__).resolve().parents[2]
FIELD = ROOT / "tests" / "vectors" / "field"
TRANSCRIPTS = sorted(FIELD.glob("*.jsonl"))


async def keybridge(*args):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "appliance", "space", "survey", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("room", ["", "Pitch 14"], ids=["read-only", "allow-writes"])
async def test_the_survey_asks_space_and_writes_a_transcript_that_replays(space, tmp_path,
                                                                          room):
    transcript = tmp_path / "survey.jsonl"
    writes = ["--allow-writes", room, "--with-mc"] if room else []
    code, out, err = await keybridge(
        "--config", str(tmp_path / "none.toml"), "--server", settings_for(space).server,
        "--encoder", ENC1, "--door", "Barrier", "--transcript", str(transcript), *writes)
    assert code == 0, out + err
    assert "unknown encoder" in out and "NC|keybridge survey no encod" in out
    records = survey.read_transcript(transcript.read_text())
    plan = survey.probes(ENC1, "Barrier", room, modify=bool(room))
    assert [r.probe for r in records] == [p.name for p in plan]
    assert all(r.reply is not None for r in records)
    kinds = {bytes(r.request[0]) for r in records}
    assert (b"CN" in kinds) == (b"MC" in kinds) == bool(room)
    assert b"CO" in kinds  # CO of a room nobody has, read-only too
    assert await replayed_differences(records) == []


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.name for p in TRANSCRIPTS])
async def test_a_field_transcript_decodes_and_the_simulator_answers_it_alike(path):
    records = survey.read_transcript(path.read_text())
    for record in records:
        if record.request != survey.ENQ:
            protocol.decode_request(record.request)
        if record.reply is not None and record.reply[0] not in (b"ACK", b"NAK"):
            protocol.decode_reply(record.reply)
    simulator = make_space()
    await simulator.start_tcp("127.0.0.1", 0)
    try:
        assert await replayed_differences(records, simulator) == []
    finally:
        await simulator.close()


async def replayed_differences(records, simulator=None):
    """Field #0 of each reply where a fresh simulator answers the same requests otherwise."""
    fresh = simulator is None
    if fresh:
        simulator = make_space()
        await simulator.start_tcp("127.0.0.1", 0)
    try:
        plan = [survey.Probe(r.probe, r.request, "") for r in records]
        async with SpaceClient(settings_for(simulator)) as link:
            again = await survey.run(lambda fields: survey.exchange(link, fields), plan)
        return survey.differences(records, again)
    finally:
        if fresh:
            await simulator.close()


async def test_the_survey_compares_with_another_server_and_speaks_json(space, tmp_path):
    other = make_space()
    other.site.rooms[b"Pitch 14"].out_of_service = True  # a Space that differs in one thing
    await other.start_tcp("127.0.0.1", 0)
    try:
        code, out, err = await keybridge(
            "--config", str(tmp_path / "none.toml"), "--server", settings_for(space).server,
            "--compare", settings_for(other).server, "--encoder", ENC1, "--door", "Barrier",
            "--allow-writes", "Pitch 14", "--transcript", str(tmp_path / "t.jsonl"), "--json")
    finally:
        await other.close()
    assert code == 0, out + err
    result = json.loads(out)["result"]
    assert ["check in", "CN", "OS"] in result["differences"]
    assert result["records"][0]["reply"] == ["ACK"]


def test_the_shipped_transcript_is_the_whole_survey_with_writes():
    lines = (FIELD / "simulator-survey.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["survey"] == 1
    probes = [json.loads(line)["probe"] for line in lines[1:]]
    assert probes == [p.name for p in survey.probes(ENC1, "Barrier", "Pitch 14")]


def audit_record(minute: int) -> list[bytes]:
    return [b"01/07", b"14:%02d" % minute, b"0", b"I", b"Pitch 12", b"#0", b""]


async def test_the_survey_tells_whether_space_keeps_its_place_in_a_walk(tmp_path):
    space = make_space()
    space.site.doors[b"Barrier"].trail = [audit_record(minute) for minute in (30, 20, 10)]
    await space.start_tcp("127.0.0.1", 0)
    transcript = tmp_path / "t.jsonl"
    try:
        code, out, err = await keybridge(
            "--config", str(tmp_path / "none.toml"), "--server", settings_for(space).server,
            "--encoder", ENC1, "--door", "Barrier", "--transcript", str(transcript))
    finally:
        await space.close()
    assert code == 0, out + err
    assert "Space kept its place in the trail of door 'Barrier'" in out
    records = survey.read_transcript(transcript.read_text())
    assert survey.walk_kept(records) is True
    # A Space that answered the resumed WN with the walk's first record again forgot its place.
    first = next(r for r in records if r.probe == "audit first again")
    forgot = [dataclasses.replace(r, reply=first.reply) if r.probe == survey.RESUMED else r
              for r in records]
    assert survey.walk_kept(forgot) is False
    # The shipped transcript's trail is empty: it cannot tell.
    shipped = survey.read_transcript((FIELD / "simulator-survey.jsonl").read_text())
    assert survey.walk_kept(shipped) is None
