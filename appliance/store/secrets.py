"""Encryption at rest for PINs, card data and outgoing payloads (Fernet / MultiFernet).

The key file holds one Fernet key per line, the newest first; the first encrypts, all decrypt.
``rotate_key_file`` puts a new key first and keeps the previous one, so a running service that
has not yet re-read the file can still read what the rotation re-encrypted (the keyring re-reads
the file when it changes) and what it writes meanwhile stays readable.
"""

import os
import tempfile

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from appliance.errors import SecretKeyError

KEEP_KEYS = 3
"""Keys kept after a rotation: the new one and two before it, so a row a running service
wrote with the old key while a rotation was under way is still readable at the next one."""


class Keyring:
    """The keys of one key file, re-read when the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._fernet: MultiFernet | None = None
        self._reload()

    def encrypt(self, data: bytes) -> bytes:
        return self._current().encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._current().decrypt(token)
        except InvalidToken as err:
            raise SecretKeyError("%s cannot decrypt a stored secret: was the key file replaced "
                                 "instead of rotated?" % self.path) from err

    def rotate(self, token: bytes) -> bytes:
        """``token`` re-encrypted under the newest key."""
        try:
            return self._current().rotate(token)
        except InvalidToken as err:
            raise SecretKeyError("%s cannot decrypt a stored secret" % self.path) from err

    def _current(self) -> MultiFernet:
        self._reload()
        assert self._fernet is not None
        return self._fernet

    def _reload(self) -> None:
        try:
            info = os.stat(self.path)
        except OSError as err:
            raise SecretKeyError("cannot read the key file %s (%s); run keybridge init"
                                 % (self.path, err.strerror)) from err
        stamp = (info.st_mtime_ns, info.st_ino)
        if stamp == self._stamp:
            return
        self._fernet = MultiFernet([Fernet(key) for key in read_keys(self.path)])
        self._stamp = stamp


def read_keys(path: str) -> list[bytes]:
    try:
        with open(path, "rb") as file:
            keys = [line.strip() for line in file if line.strip()]
    except OSError as err:
        raise SecretKeyError("cannot read the key file %s (%s)" % (path, err.strerror)) from err
    if not keys:
        raise SecretKeyError("the key file %s holds no key; run keybridge init" % path)
    for key in keys:
        try:
            Fernet(key)
        except ValueError as err:
            raise SecretKeyError("the key file %s holds a line that is not a Fernet key"
                                 % path) from err
    return keys


def create_key_file(path: str) -> bool:
    """A new key file with one key, mode 0600; False if it already exists (never replaced)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as file:
        file.write(Fernet.generate_key() + b"\n")
        file.flush()
        os.fsync(file.fileno())
    return True


def rotate_key_file(path: str) -> None:
    """Put a new key first, keep the previous one, atomically and durably."""
    keys = [Fernet.generate_key(), *read_keys(path)][:KEEP_KEYS]
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".keys-")
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(b"".join(key + b"\n" for key in keys))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
