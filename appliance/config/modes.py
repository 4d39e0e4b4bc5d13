"""Who may read a file that holds a secret (the Fernet key file, a password, a client key).

The service's own user, and the file's group where root owns the file and lends it to the
service that way (``root:keybridge 0640``, as /etc/keybridge/keybridge.toml is); nobody
else. A file others can read is refused where it is read for the service, and
``config check`` and ``keybridge doctor`` say the same thing, with the chmod that fixes it.
"""

import os
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model reads secrets through exposed() below
    from appliance.config.model import Config


def exposed(path: str) -> str | None:
    """Why ``path`` is readable by others than the service, and the fix; None when it is not
    (or cannot be looked at, which reading it reports)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    mode = stat.S_IMODE(info.st_mode)
    lent = info.st_uid == 0  # root's file, read by the service through its group
    if not mode & 0o007 and (not mode & 0o070 or lent):
        return None
    fix = "chmod %s %s" % ("640" if lent else "600", path)
    return ("%s is mode %04o: others than keybridge can read it; %s (and keep the secret "
            "itself if nobody else had it, else make a new one)" % (path, mode, fix))


def key_files(config: "Config") -> list[str]:
    """The problems with the files the service reads by path, not through the configuration
    (the Fernet key file, the MQTT client key): ``[section] key: why; fix``."""
    named = {"[store] key_file": config.store.key_file, "[mqtt] key_file": config.mqtt.key_file}
    return ["%s: %s" % (where, problem) for where, path in named.items()
            if path and (problem := exposed(path))]
