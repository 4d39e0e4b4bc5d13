"""The appliance's exception root, split by who is at fault and what fixes it.

::

    KeybridgeError
    ├── ConfigError          the technician: the TOML file or a secret file is wrong;
    │                        the message names the file, the key and the fix
    ├── StoreError           the Pi: the SQLite file or the key file is damaged or unreadable
    │   ├── SecretKeyError   the Fernet key file is missing, unreadable or does not fit the data
    │   └── StoreInUse       another ``keybridge run`` holds the store: stop it first
    ├── SessionTakenOver     the technician: another client runs with this site's MQTT
    │                        client id (a second appliance); stop one, then start this one
    └── CommandError         the PMS: a command is malformed; carries ``code`` and ``field``
                             for the error reply

Backend errors stay in their packages (``appliance.space.errors.SpaceError``); the engine
translates them into ``key_failed`` events and error replies at its boundary.
"""


class KeybridgeError(Exception):
    """Root of the appliance's own errors."""


class ConfigError(KeybridgeError):
    """The configuration cannot be used; ``problems`` lists every one found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class StoreError(KeybridgeError):
    """The store cannot be opened, migrated or trusted."""


class SecretKeyError(StoreError):
    """The Fernet key file is missing or cannot decrypt what the store holds."""


class StoreInUse(StoreError):
    """Another running service holds the store's lock; the message names its pid."""


class SessionTakenOver(KeybridgeError):
    """The broker handed this site's session to another client; the service stopped."""

    EXIT_STATUS = 3
    """``keybridge run``'s exit status: the unit's RestartPreventExitStatus, so systemd does
    not restart it into the same fight."""


class CommandError(KeybridgeError):
    """A PMS command cannot be carried out as sent.

    ``code`` is the contract's error code (``bad_request``, ``unknown_booking``...);
    ``field`` the JSON path of the offending field, or None.
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def as_reply(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}
