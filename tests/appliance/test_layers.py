"""The architecture as a contract: import-linter holds the layers of docs/architecture.md.

The first test is the contract on the project as it is; the others break one rule each in a
copy of the project and expect the contract to catch it, so a contract that silently stopped
checking (a renamed package, a typo in pyproject.toml) fails here too.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = str(Path(sys.executable).with_name("lint-imports"))
PACKAGES = ("protocol", "appliance", "simulators", "bench")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(root))  # the copy, not the installed project
    return subprocess.run([LINT, "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_project_keeps_every_contract() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


BREAKS = [
    ("protocol/__init__.py", "import appliance.errors", "protocol/ is pure"),
    ("appliance/engine/worker.py", "import simulators.faults",
     "never imports the simulators"),
    ("appliance/engine/jobs.py", "import appliance.space.cards", "know no backend"),
    ("appliance/service.py", "import appliance.registry", "know no backend"),
    ("appliance/store/db.py", "import appliance.engine.backend", "the appliance's layers"),
    ("appliance/ks/saga.py", "import appliance.space.keydata", "the appliance's layers"),
    ("simulators/faults.py", "import bench.ks", "protocol <- appliance <- simulators"),
]


@pytest.mark.parametrize(("module", "line", "contract"), BREAKS,
                         ids=[module for module, _line, _contract in BREAKS])
def test_an_import_against_the_layers_fails_the_contract(copy: Path, module: str, line: str,
                                                         contract: str) -> None:
    path = copy / module
    original = path.read_text()
    path.write_text(original + "\n%s  # a rule broken on purpose\n" % line)
    try:
        result = lint(copy)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    broken = [text for text in result.stdout.splitlines() if text.endswith("BROKEN")]
    assert any(contract in text for text in broken), result.stdout
