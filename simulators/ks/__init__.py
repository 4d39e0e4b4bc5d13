"""A simulated Salto KS cloud (identity + Connect API + a keypad): ``python -m simulators.ks``.

Stdlib HTTP server, state machine built from the research notes
(``docs/salto-ks-connect.md`` §2-§4, §6), a controllable clock, and fault knobs as
plain data. In-process: ``with KsServer(port=0) as server: server.url, server.cloud``.
"""

from simulators.ks import defaults
from simulators.ks.cloud import KsCloud
from simulators.ks.knobs import KnobError, Knobs
from simulators.ks.server import KsServer

__all__ = ["KnobError", "Knobs", "KsCloud", "KsServer", "defaults"]
