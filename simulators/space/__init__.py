"""A simulated ProAccess Space server: ``python -m simulators.space``.

Built from ``protocol/`` (framing, LRC, ENQ/ACK/NAK) with a site from TOML,
a controllable clock, and fault knobs as plain data.
"""

from simulators.space.clock import SimClock
from simulators.space.site import Site, SiteError, load_site, site_from_dict
from simulators.space.space import SpaceSimulator

__all__ = ["SimClock", "Site", "SiteError", "SpaceSimulator", "load_site", "site_from_dict"]
