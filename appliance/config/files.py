"""Reading a configuration file: the whole of it (``load``, checked by ``model.parse``), or
only its ``[store]`` (``load_store``, for ``keybridge init``)."""

import os
import tomllib
from collections.abc import Sequence
from typing import Any

from appliance.config.model import STORE, Config, Store, parse
from appliance.config.schema import Problems, read_table
from appliance.config.sections import Section
from appliance.errors import ConfigError


def load(path: str | os.PathLike[str], plugins: Sequence[Section] = (), *,
         secrets: bool = True) -> Config:
    """The configuration in ``path``; raises ConfigError listing every problem."""
    return parse(_read(path), str(path), plugins, secrets=secrets)


def load_store(path: str | os.PathLike[str]) -> Store:
    """Only ``[store]``: what ``keybridge init`` needs, so it runs before the rest is filled
    in (the package's conffile ships with its site id empty)."""
    problems = Problems(str(path))
    store = read_table(_read(path).get("store", {}), STORE, "[store]", problems)
    if problems.items:
        raise ConfigError(problems.items)
    return Store(**store)


def _read(path: str | os.PathLike[str]) -> dict[str, Any]:
    source = str(path)
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except FileNotFoundError as err:
        raise ConfigError(["%s: no such file; create it from config/keybridge.example.toml "
                           "or run keybridge init" % source]) from err
    except OSError as err:
        raise ConfigError(["%s: cannot read it (%s)" % (source, err.strerror)]) from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(["%s: not valid TOML: %s" % (source, err)]) from err
