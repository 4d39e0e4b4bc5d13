"""The ProAccess Space link: transports, the one-request-at-a-time client, desk commands.

``SpaceClient`` owns the link to one Space server (queue, reconnects, ENQ
probes); ``SpaceCommands`` speaks in rooms, encoders and datetimes on top of
it. Errors are in ``appliance.space.errors``; settings in ``settings``.
"""

from appliance.space.client import SpaceClient
from appliance.space.commands import (
    AuditEntry,
    CardRead,
    CardsEncoded,
    MobileKey,
    SpaceCommands,
)
from appliance.space.settings import SpaceSettings, from_table

__all__ = ["AuditEntry", "CardRead", "CardsEncoded", "MobileKey", "SpaceClient",
           "SpaceCommands", "SpaceSettings", "from_table"]
