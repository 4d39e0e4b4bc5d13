"""Fixtures for the MQTT tests: real Mosquitto brokers and test-side clients (``_broker.py``).

``_broker`` is importable as a top-level module because tests/mqtt has no ``__init__.py``:
pytest's default import mode puts this directory on ``sys.path`` before importing this file,
as it does for tests/space and ``_spacesim``.
"""

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The KS simulator's harness (tests/ks/_ks.py) serves the KS end-to-end tests here too.
KS_TESTS = str(Path(__file__).resolve().parents[1] / "ks")
if KS_TESTS not in sys.path:
    sys.path.insert(0, KS_TESTS)

from _appliance import SpaceProcess  # noqa: E402
from _broker import Broker, Peer  # noqa: E402

# The brokers a test started, so a failing test's report can carry their logs.
BROKERS = pytest.StashKey[list[Broker]]()
LOG_TAIL = 20_000  # characters; `log_type all` is chatty and the end is what explains a failure


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        for broker in item.stash.get(BROKERS, []):
            report.sections.append((f"mosquitto {broker.mode} :{broker.port} log",
                                    broker.log_text()[-LOG_TAIL:]))
    return report


@pytest.fixture
def broker_factory(request: pytest.FixtureRequest,
                   tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """``broker_factory(mode="plain", **options)``: a started ``Broker``, stopped at teardown.

    ``mode`` is ``plain``, ``password`` or ``tls``; options go to ``Broker`` (``site_prefix``,
    ``port``). Each broker gets its own directory under the test's tmp_path.
    """
    brokers = request.node.stash.setdefault(BROKERS, [])

    def make(mode: str = "plain", **options: Any) -> Broker:
        broker = Broker(tmp_path / f"broker-{len(brokers)}-{mode}", mode, **options)
        brokers.append(broker)
        return broker.start()

    yield make
    for broker in brokers:
        broker.close()


@pytest.fixture
def broker(broker_factory: Callable[..., Broker]) -> Broker:
    """A started plain (anonymous) broker for one test."""
    return broker_factory()


@pytest.fixture
def space(tmp_path: Path) -> Iterator[SpaceProcess]:
    """The Space simulator as its own process, its frames logged (``_appliance.py``)."""
    process = SpaceProcess(tmp_path).start()
    yield process
    process.close()


@pytest.fixture
def peer_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., Peer]]:
    """``peer_factory(broker=None, client_id=None, *, connect=True, **options)``: a ``Peer``.

    Without a broker it uses the ``broker`` fixture. Options go to ``Peer`` (``user``,
    ``protocol``, ``persistent``, credentials). Every peer is disconnected at teardown.
    """
    peers: list[Peer] = []

    def make(broker: Broker | None = None, client_id: str | None = None, *,
             connect: bool = True, **options: Any) -> Peer:
        if broker is None:
            broker = request.getfixturevalue("broker")
        peer = Peer(broker, client_id, **options)
        peers.append(peer)
        if connect:
            peer.connect()
        return peer

    yield make
    for peer in peers:
        peer.disconnect()
