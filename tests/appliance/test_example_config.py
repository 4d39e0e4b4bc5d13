"""The example configuration a technician copies: valid, and it documents every key."""

import dataclasses
import re
from pathlib import Path

from appliance.cli import main
from appliance.config import model
from appliance.ks import config as ks_config
from appliance.registry import PLUGINS
from appliance.space import siteconf
from appliance.space.settings import SpaceSettings

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_the_example_and_the_demo_configuration_pass_the_check(capsys) -> None:
    for name in ("keybridge.example.toml", "demo.toml"):
        assert main(["config", "check", str(CONFIG / name)]) == 0
    assert capsys.readouterr().out.count(": OK") == 2


def test_the_example_documents_every_key() -> None:
    text = (CONFIG / "keybridge.example.toml").read_text()
    written = set(re.findall(r"^([a-z_]+) = ", text, re.MULTILINE))
    schema = {*model.SITE, *model.MQTT, *model.STORE, *model.SERVICE, *siteconf.ENCODER,
              *(field.name for field in dataclasses.fields(SpaceSettings))}
    assert schema - written == set()
    sections = set(re.findall(r"^\[+([a-z]+)\]+", text, re.MULTILINE))
    every = {*model.CORE_TABLES, *(table for plugin in PLUGINS for table in plugin.tables)}
    assert sections == every - {"ks"}


def test_the_example_documents_every_ks_key_commented_out() -> None:
    """[ks] needs secret files to pass the check, so the example shows it commented out."""
    text = (CONFIG / "keybridge.example.toml").read_text()
    written = set(re.findall(r"^# ([a-z_]+) = ", text, re.MULTILINE))
    tables = set(re.findall(r"^# \[+([a-z_.]+)\]+", text, re.MULTILINE))
    assert {*ks_config.KS, *ks_config.KEY_TYPE} - {"units", "key_types"} - written == set()
    assert tables == {"ks", "ks.units", "ks.key_types"}
