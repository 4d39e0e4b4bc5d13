"""Fixtures for the simulator tests. The KS simulator's harness lives in ``tests/ks/_ks.py``
(``KsApi``: a token and ``{site}`` paths; ``KsProcess``); it is put on ``sys.path`` here.
Each KS test file brings its own ``server`` (how the simulator starts is its subject)."""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

KS_TESTS = str(Path(__file__).resolve().parents[1] / "ks")
if KS_TESTS not in sys.path:
    sys.path.insert(0, KS_TESTS)

from _ks import KsApi  # noqa: E402


@pytest.fixture
def api(server: Any) -> Iterator[KsApi]:
    with KsApi(server.url) as api:
        yield api
