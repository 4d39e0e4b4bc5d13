"""The configuration of one ``make run``: ``config/demo.toml`` pointed at this run's services.

``write_config`` copies ``config/demo.toml`` into the run directory as ``keybridge.toml``, with
the broker's port, the Space simulator's address, the store in the run directory and the
``[ks]`` table pointed at this run's KS cloud simulator. The KS account's two secrets go into
files of their own beside the copy (mode 0600, never into the TOML), holding the simulator's
published demo account (``simulators/ks/defaults.py``).
"""

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from simulators.ks import defaults as ks_defaults

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "config" / "demo.toml"
# [ks] key → (file in the run directory, the KS simulator's value for it)
KS_SECRETS = {"client_secret_file": ("ks-client-secret", ks_defaults.CLIENT_SECRET),
              "password_file": ("ks-password", ks_defaults.PASSWORD)}


def write_config(run_dir: Path, broker_port: int, space_server: str, ks_url: str,
                 mqtt: str = "auto") -> Path:
    """``keybridge.toml`` (and the KS secret files) in ``run_dir``; the config's path."""
    with open(DEMO_CONFIG, "rb") as file:
        config = tomllib.load(file)
    config["mqtt"]["port"] = broker_port
    config["mqtt"]["protocol"] = mqtt
    config["space"]["server"] = space_server
    config["service"]["control_socket"] = str(run_dir / "control.sock")
    config["store"] = {"path": str(run_dir / "keybridge.db"),
                       "key_file": str(run_dir / "secret.keys")}
    config["ks"].update(identity_url=ks_url, api_url=ks_url)
    for key, (name, value) in KS_SECRETS.items():
        write_secret(run_dir / name, value)
        config["ks"][key] = str(run_dir / name)
    path = run_dir / "keybridge.toml"
    path.write_text(toml_text(config))
    return path


def write_secret(path: Path, value: str) -> None:
    """A file readable by its owner only, from the moment it exists."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(value + "\n")


DEMO_HEADER = "Written by simulators/demo.py from config/demo.toml for one run; edit that file."


def toml_text(data: dict[str, Any], header: str = DEMO_HEADER) -> str:
    """TOML for the configuration's shapes: tables, sub-tables and arrays of tables of plain
    values (``[ks]``, ``[ks.units]``, ``[[ks.key_types]]``)."""
    lines = ["# " + header]
    for name, table in data.items():
        lines += _table(_toml_key(name), table)
    text = "\n".join(lines) + "\n"
    assert tomllib.loads(text) == data, "toml_text lost something"
    return text


def _table(name: str, table: dict[str, Any] | list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for item in table if isinstance(table, list) else [table]:
        lines += ["", ("[[%s]]" if isinstance(table, list) else "[%s]") % name]
        nested = {key: value for key, value in item.items() if _is_table(value)}
        lines += ["%s = %s" % (_toml_key(key), _toml_value(value))
                  for key, value in item.items() if key not in nested]
        for key, value in nested.items():
            lines += _table("%s.%s" % (name, _toml_key(key)), value)
    return lines


def _is_table(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value))


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[%s]" % ", ".join(_toml_value(item) for item in value)
    # A JSON string is a TOML basic string; numbers are written alike.
    return json.dumps(value)
