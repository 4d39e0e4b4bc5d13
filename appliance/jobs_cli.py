"""``keybridge jobs``: the work waiting in the store, and a technician's word about it.

    keybridge jobs [--all] [--json]          waiting and failed jobs (--all: done ones too)
    keybridge jobs retry ID | --all          try now (a failed job: try again; --all: every
                                             failed one)
    keybridge jobs cancel ID                 stop trying (the key keeps its state)

Retry and cancel are for the work that keeps keys in step with the bookings (issue, update,
revoke, deliver, remove); a desk request (a card to cut) is never repeated behind a person's
back: it is asked again from the PMS. Each change is audited with the technician's name,
and the running service is told at once. Needs no secret.

Retry and cancel change the store: run them as root or as the service's user.

Exit codes: 0 done, 1 refused (the message says why), 2 configuration or usage.
"""

import argparse
import contextlib
import datetime
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from appliance import lifecycle, registry
from appliance.control import client, views, wire
from appliance.engine.backend import DESK_KINDS, RECONCILE
from appliance.store import Store, open_store

NOT_FOR_TECHNICIANS = (*DESK_KINDS, RECONCILE)


def add_parser(commands: Any, config_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    jobs = commands.add_parser("jobs", help="waiting and failed work: list, retry, cancel")
    config_arg(jobs)
    jobs.add_argument("--all", action="store_true", help="include jobs done")
    jobs.add_argument("--json", action="store_true", help="machine-readable output")
    actions = jobs.add_subparsers(dest="action")
    retry = actions.add_parser("retry", help="try a job now, or again after it failed")
    retry.add_argument("id", nargs="?", type=int, help="the job's ID (first column)")
    retry.add_argument("--all", "--failed", dest="failed", action="store_true",
                       help="every failed job")
    cancel = actions.add_parser("cancel", help="stop trying a waiting job")
    cancel.add_argument("id", type=int, help="the job's ID (first column)")
    for action in (retry, cancel):  # --config after the action too; SUPPRESS keeps one given
        action.add_argument("--config", default=argparse.SUPPRESS,  # before it
                            help="the configuration file (as for keybridge jobs)")
    jobs.set_defaults(func=cmd_jobs)


def cmd_jobs(args: argparse.Namespace) -> int:
    config = registry.load_config(args.config, secrets=False)
    if args.action is None:
        return _list(views.view(config, "jobs", all=args.all), args.json)
    if args.action == "retry" and args.id is None and not args.failed:
        print("keybridge jobs retry: give a job's ID (first column of keybridge jobs), or "
              "--all for every failed job", file=sys.stderr)
        return 2
    with open_store(config) as store:
        done = _change(store, args)
    if done:  # not running: it takes the jobs up when it starts
        with contextlib.suppress(wire.ControlError):
            client.ask(config.service.control_socket, "wake", timeout_s=10)
    return 0 if done else 1


def _list(rows: list[dict[str, Any]], as_json: bool) -> int:
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no jobs waiting or failed")
    for row in rows:
        print(line(row))
    return 0


def line(row: dict[str, Any], now: float | None = None) -> str:
    whose = ("booking %s" % row["booking_id"] if row["booking_id"] else
             "owner key %s" % row["owner_key_id"] if row["owner_key_id"] else
             "request %s" % row["request_id"] if row["request_id"] else "-")
    if row["key_type"]:
        whose += " (%s)" % row["key_type"]
    text = "%5d %-11s %-15s %-8s attempt %-3d %s" % (
        row["id"], row["backend"], row["kind"], row["state"], row["attempts"], whose)
    if row["state"] == lifecycle.PENDING:
        text += "  next try %s" % _when(row["next_attempt_at"], now or time.time())
    if row["last_error"]:
        text += "  last error: %s" % row["last_error"]
    return text


def _when(at: float, now: float) -> str:
    moment = datetime.datetime.fromtimestamp(at).strftime("%H:%M:%S")
    return "now" if at <= now else "%s (in %d s)" % (moment, at - now)


def _change(store: Store, args: argparse.Namespace) -> bool:
    every_failed = getattr(args, "failed", False)  # cancel has no --failed
    if every_failed:
        ids = [row["id"] for row in store.read.jobs.listing()
               if row["state"] == lifecycle.FAILED and row["kind"] not in NOT_FOR_TECHNICIANS]
    else:
        ids = [args.id]
    event = lifecycle.RETRY_ASKED if args.action == "retry" else lifecycle.CANCELLED
    changed = [job_id for job_id in ids if _one(store, job_id, event)]
    if every_failed:
        print("%d failed job(s) to be tried again" % len(changed))
    return bool(changed) or (every_failed and not ids)


def _one(store: Store, job_id: int, event: str) -> bool:
    found = store.read.jobs.get(job_id)
    if found is None:
        return _refuse("no job %d; keybridge jobs lists them" % job_id)
    job, state = found
    if job.kind in NOT_FOR_TECHNICIANS:
        return _refuse("job %d is a desk request (%s): it is never repeated behind a person's "
                       "back; ask again from the PMS" % (job_id, job.kind))
    try:
        lifecycle.job_next(state, event)
    except lifecycle.LifecycleError:
        return _refuse("job %d is %s: %s" % (job_id, state, "wait for it to finish"
                                             if state == lifecycle.RUNNING else
                                             "nothing to %s" % event.split("_")[0]))
    who = "keybridge jobs (%s)" % client.operator()
    with store.transaction() as tx:
        tx.jobs.ask(job, state, event, time.time(), "cancelled by %s" % who)
        key = tx.keys.get(job.key_id)
        tx.audit.add("job_%s" % ("retried" if event == lifecycle.RETRY_ASKED else "cancelled"),
                     job.backend, who, key_id=job.key_id,
                     booking_id=None if key is None else key.booking_id,
                     owner_key_id=None if key is None else key.owner_key_id,
                     detail="job %d %s" % (job_id, job.kind))
    print("job %d (%s): %s" % (job_id, job.kind, "to be tried now"
                               if event == lifecycle.RETRY_ASKED else "cancelled"))
    return True


def _refuse(message: str) -> bool:
    print("keybridge jobs: %s" % message, file=sys.stderr)
    return False
