"""The measured run as rows: figure, floor, ratio, the reach the issue sets, and whether it
holds; printed as a table and kept as JSON for comparison over time."""

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

MS = 1000.0
MB = 1e6


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    fl = result["floors"]
    empty = result["stored_0"]
    out = []
    for stored in sorted(int(key.split("_")[1]) for key in result if key.startswith("stored_")):
        out += _stored_rows(fl, result["stored_%d" % stored], stored, empty)
    out.append(_row("desk encode p50, card placed after 1 s", result["desk_encode_placed"][
        "p50"] * MS, fl["desk_encode_placed"]["p50"] * MS, "ms", "≤ 1.2x", 1.2))
    out.append(_row("desk encode p50, card already there", result["desk_encode"]["p50"] * MS,
                    fl["desk_encode"]["p50"] * MS, "ms", "", None))
    out.append(_row("  the same, floor with the MQTT round trip", result["desk_encode"][
        "p50"] * MS, (fl["desk_encode"]["p50"] + fl["mqtt"]["p50"]) * MS, "ms", "", None))
    for mode, how in (("served", "KS expands groups"), ("refused", "KS as documented")):
        rec = result["reconcile_" + mode]
        out.append(_row("reconcile %d KS keys (%s)" % (rec["keys"], how), rec["seconds"],
                        rec["floor_seconds"], "s", "≤ 5 s", None, rec["seconds"] <= 5))
        out.append(_row("  requests per key", rec["requests_per_key"], None, "", "≤ 1.1",
                        None, rec["requests_per_key"] <= 1.1))
    out.append(_row("RSS idle", empty["rss_idle"] / MB, fl["imports_rss"] / MB, "MB",
                    "≤ 40 MB", None, empty["rss_idle"] <= 40 * MB))
    out.append(_row("RSS after the run", empty["rss_after"] / MB, fl["imports_rss"] / MB, "MB",
                    "", None))
    out.append(_row("start → READY=1", empty["ready_s"], fl["imports_s"], "s", "", None))
    if "idle_cpu_share" in empty:
        out.append(_row("idle CPU", empty["idle_cpu_share"] * 100, None, "%", "", None))
    return out


def _stored_rows(fl: dict[str, Any], run: dict[str, Any], stored: int,
                 empty: dict[str, Any]) -> list[dict[str, Any]]:
    tag = "[%d stored]" % stored
    issued_floor = {q: fl["mqtt"][q] + fl["pin"][q] for q in ("p50", "p99")}
    accepted_floor = {q: fl["mqtt"][q] + fl["commit"][q] for q in ("p50", "p99")}
    out = [_row("CONFIRMED → key_issued p50 %s" % tag, run["issued"]["p50"] * MS,
                issued_floor["p50"] * MS, "ms", "", None),
           _row("CONFIRMED → key_issued p99 %s" % tag, run["issued"]["p99"] * MS,
                issued_floor["p99"] * MS, "ms", "≤ 3x", 3.0),
           _row("booking → accepted p50 %s" % tag, run["accepted"]["p50"] * MS,
                accepted_floor["p50"] * MS, "ms", "", None),
           _row("booking → accepted p99 %s" % tag, run["accepted"]["p99"] * MS,
                accepted_floor["p99"] * MS, "ms", "≤ 3x", 3.0),
           _row("pipeline, bookings/s durable %s" % tag, run["pipeline_per_s"],
                fl["commits_per_s"], "/s", "≥ 1000/s", None, run["pipeline_per_s"] >= 1000),
           _row("  commits (fsyncs) per booking, intake", run["commits_per_booking_intake"],
                None, "", "", None),
           _row("KS throughput, bookings/s %s" % tag, run["ks_per_s"], fl["pins_per_s"],
                "/s", "≥ 0.8x", None, run["ks_per_s"] >= 0.8 * fl["pins_per_s"]),
           _row("  CPU per booking (appliance / direct client)", run["cpu_per_booking"] * MS,
                fl["cpu_per_pin"] * MS, "ms", "", None),
           _row("  commits (fsyncs) per booking, to key_issued",
                run["commits_per_booking_ks"], None, "", "", None)]
    if stored:
        for key, label, higher in (("pipeline_per_s", "pipeline", True),
                                   ("ks_per_s", "KS throughput", True)):
            ratio = run[key] / empty[key]
            out.append(_row("  %s vs empty store" % label, run[key], empty[key], "/s",
                            "within 10 %", None, ratio >= 0.9 if higher else ratio <= 1.1))
        # The medians: a p99 of 200 samples is two samples, too few to compare two runs by.
        for key, label in (("issued", "key_issued p50"), ("accepted", "accepted p50")):
            ratio = run[key]["p50"] / empty[key]["p50"]
            out.append(_row("  %s vs empty store" % label, run[key]["p50"] * MS,
                            empty[key]["p50"] * MS, "ms", "within 10 %", None, ratio <= 1.1))
    return out


def _row(name: str, figure: float, floor: float | None, unit: str, reach: str,
         max_ratio: float | None, holds: bool | None = None) -> dict[str, Any]:
    ratio = None if not floor else figure / floor
    if max_ratio is not None and ratio is not None:
        holds = ratio <= max_ratio
    return {"name": name, "figure": figure, "floor": floor, "unit": unit, "ratio": ratio,
            "reach": reach, "holds": holds}


def _cells(row: dict[str, Any], times: str, verdicts: tuple[str, str]) -> tuple[str, ...]:
    """figure, floor, ratio, reach, verdict of a row as text."""
    unit = row["unit"]
    floor = "" if row["floor"] is None else "%.4g %s" % (row["floor"], unit)
    ratio = "" if row["ratio"] is None else "%.2f%s" % (row["ratio"], times)
    verdict = {True: verdicts[0], False: verdicts[1], None: ""}[row["holds"]]
    return "%.4g %s" % (row["figure"], unit), floor, ratio, row["reach"], verdict


def table(out: list[dict[str, Any]]) -> str:
    lines = ["%-50s %12s %12s %8s  %-12s %s" % ("", "figure", "floor", "ratio", "reach", "")]
    lines += ["%-50s %12s %12s %8s  %-12s %s" % (row["name"], *_cells(row, "x", (
        "ok", "MISSED"))) for row in out]
    return "\n".join(lines)


def markdown(out: list[dict[str, Any]]) -> str:
    """The table for README.md and bench/README.md."""
    lines = ["| | figure | floor (same run) | ratio | reach | |", "|---|---|---|---|---|---|"]
    lines += ["| %s | %s | %s | %s | %s | %s |" % (row["name"].strip(), *_cells(
        row, "\u00d7", ("met", "**missed**"))) for row in out]
    return "\n".join(lines)


def load(path: Path) -> dict[str, Any]:
    """The measurements of a kept run, to print its table again."""
    return dict(json.loads(path.read_text())["measured"])


def provenance() -> dict[str, Any]:
    """What a figure was measured on: the commit (and whether the tree had changes), the
    host, its cores; a table in the README is only as good as this."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parents[1],  # noqa: S603, S607
                              capture_output=True, text=True, check=False)
        return done.stdout.strip()
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown",
            "changed": bool(git("status", "--porcelain", "--untracked-files=no")),
            "host": platform.node(), "machine": platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version()}


def describe(where: dict[str, Any]) -> str:
    return "commit %s%s on %s (%s, %s cores, Python %s)" % (
        where["commit"], " with changes" if where["changed"] else "", where["host"],
        where["machine"], where["cores"], where["python"])


def save(result: dict[str, Any], out: list[dict[str, Any]], folder: Path, stamp: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("bench-%s.json" % stamp)
    path.write_text(json.dumps({"at": stamp, "on": provenance(), "measured": result,
                                "rows": out}, indent=1))
    return path
