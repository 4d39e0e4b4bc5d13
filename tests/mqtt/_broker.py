"""A real Mosquitto for the MQTT tests, and a small synchronous paho client to talk to it.

``Broker`` runs ``/usr/sbin/mosquitto -c <conf>`` on a free 127.0.0.1 port with its own
configuration, log and persistence directory under a test's tmp dir, never the system broker
on 1883. Four modes:

- ``plain``: anonymous clients, no ACL.
- ``password``: ``password_file`` (made with ``mosquitto_passwd``) and an ``acl_file`` that gives
  user ``keybridge`` and user ``pms`` exactly their side of the contract (``acl_text``).
- ``tls``: a CA, a server certificate for 127.0.0.1/localhost and client certificates made with
  ``cryptography``; ``require_certificate true`` and ``use_identity_as_username true``, so the
  certificate's common name is the user the same ACL applies to.
- ``site``: what ``config/mosquitto/mosquitto-tls.example.conf`` sets up: client certificates
  required *and* username/password, the ACL by username.

Persistence is on, with ``autosave_interval 0``: Mosquitto writes its database only when it
exits cleanly. ``stop()``/``restart()`` send SIGTERM, so everything (retained messages, persistent
sessions and the QoS 1 messages queued for them) survives a restart; ``kill()`` sends SIGKILL, so a
crash loses everything since the last clean stop, the same every run rather than depending on
when a periodic autosave happened to fall.

``Peer`` is the test's side of the wire (usually the PMS): paho-mqtt 2.x with callback API v2,
its own network thread, received messages kept in a list guarded by a ``threading.Condition``
so that ``wait_for`` wakes on arrival instead of sleeping.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime
import ipaddress
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
HOST = "127.0.0.1"
KEYBRIDGE = "keybridge"
PMS = "pms"
USERS = (KEYBRIDGE, PMS)
MODES = ("plain", "password", "tls", "site")
DEFAULT_SITE_PREFIX = "keybridge/+"
# Fixed rather than random: a failing test's broker directory can then be poked at by hand.
PASSWORDS = {KEYBRIDGE: "keybridge-secret", PMS: "pms-secret"}
# File name of ``Broker.untrusted_cert``: common name "pms", signed by a CA the broker does not
# trust.
STRANGER = "stranger"

MQTT311 = "3.1.1"
MQTT5 = "5"
_PROTOCOLS = {MQTT311: mqtt.MQTTv311, MQTT5: mqtt.MQTTv5}

# Logged once the listeners are open ("mosquitto version 2.0.11 running").
_RUNNING_LINE = re.compile(rb"mosquitto version \S+ running")

# Brokers still running when the interpreter exits (a test run interrupted between start and
# teardown) are killed, so no Mosquitto outlives pytest.
_RUNNING: set[Broker] = set()


@atexit.register
def _kill_leftovers() -> None:
    for broker in list(_RUNNING):
        broker.kill()


class BrokerError(RuntimeError):
    """Mosquitto did not start, or did not stop; the message ends with its log."""


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def acl_text(site_prefix: str = DEFAULT_SITE_PREFIX) -> str:
    """The Mosquitto ACL for the contract under ``site_prefix`` (``keybridge/+`` or one site).

    The appliance reads commands and writes replies, events and its retained status; the PMS
    the converse. Read access decides what a client is delivered: Mosquitto 2.0 grants any
    SUBSCRIBE and filters on delivery.
    """
    return (
        f"user {KEYBRIDGE}\n"
        f"topic read {site_prefix}/cmd/#\n"
        f"topic write {site_prefix}/reply/#\n"
        f"topic write {site_prefix}/event/#\n"
        f"topic write {site_prefix}/status\n"
        "\n"
        f"user {PMS}\n"
        f"topic write {site_prefix}/cmd/#\n"
        f"topic read {site_prefix}/reply/#\n"
        f"topic read {site_prefix}/event/#\n"
        f"topic read {site_prefix}/status\n"
    )


def make_password_file(path: Path, passwords: dict[str, str]) -> Path:
    """A Mosquitto password file, made by ``mosquitto_passwd`` as a site would make it."""
    for index, (user, password) in enumerate(passwords.items()):
        create = ["-c"] if index == 0 else []
        subprocess.run([MOSQUITTO_PASSWD, "-b", *create, str(path), user, password],
                       check=True, capture_output=True)
    return path


@dataclasses.dataclass(frozen=True)
class ClientCert:
    cert_file: Path
    key_file: Path


class Broker:
    """One Mosquitto process with its own config, log and persistence under ``directory``.

    The port is chosen once, at construction, and kept by ``restart()`` and by ``start()`` after
    ``kill()``, so clients reconnect to the same address. Paths a client configuration needs are
    attributes: ``ca_file``, ``client_certs[user]`` (``cert_file``, ``key_file``),
    ``untrusted_cert``, ``server_cert``, ``password_file``, ``passwords[user]``.
    """

    def __init__(self, directory: Path | str, mode: str = "plain", *,
                 site_prefix: str = DEFAULT_SITE_PREFIX, port: int | None = None,
                 extra_config: Iterable[str] = ()) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.mode = mode
        self.site_prefix = site_prefix
        self.extra_config = tuple(extra_config)
        self.host = HOST
        self.port = port or free_port()
        self.conf_file = self.directory / "mosquitto.conf"
        self.log_file = self.directory / "mosquitto.log"
        # Mosquitto reports configuration errors on stderr before it opens its log file.
        self.output_file = self.directory / "mosquitto.out"
        self.persistence_dir = self.directory / "persistence"
        self.persistence_dir.mkdir(exist_ok=True)
        self.persistence_file = self.persistence_dir / "mosquitto.db"
        self.users: tuple[str, ...] = USERS if mode != "plain" else ()
        self.passwords: dict[str, str] = {}
        self.password_file: Path | None = None
        self.acl_file: Path | None = None
        self.ca_file: Path | None = None
        self.server_cert: Path | None = None
        self.server_key: Path | None = None
        self.client_certs: dict[str, ClientCert] = {}
        self.untrusted_cert: ClientCert | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_start = 0
        if mode != "plain":
            self.acl_file = self.directory / "acl"
            self.acl_file.write_text(acl_text(site_prefix))
        if mode in ("password", "site"):
            self.passwords = dict(PASSWORDS)
            self.password_file = make_password_file(self.directory / "passwd", self.passwords)
        if mode in ("tls", "site"):
            self._make_certificates()
        self.conf_file.write_text(self.config_text())

    # --- configuration -------------------------------------------------------------------

    def common_config(self) -> str:
        """The lines every broker here has: user, persistence, log. No listener."""
        return "\n".join([
            "# Written by tests/mqtt/_broker.py for one test; not the site example.",
            # Started as root (CI containers), Mosquitto 2 drops to user `mosquitto`, which could
            # not write into a root-owned tmp dir; naming the current user keeps it as it is.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            "persistence true",
            f"persistence_location {self.persistence_dir}",
            f"persistence_file {self.persistence_file.name}",
            # Only a clean exit saves: see the module docstring.
            "autosave_interval 0",
            f"log_dest file {self.log_file}",
            "log_type all",
            "log_timestamp_format %H:%M:%S",
            "connection_messages true",
            # As the site example: replies and PUBACKs are not held for a delayed ACK.
            "set_tcp_nodelay true",
        ]) + "\n"

    def config_text(self) -> str:
        """The ``mosquitto.conf`` for this mode, written to ``conf_file`` at construction.

        A test may write another configuration there (``common_config()`` plus its own
        listener) and ``restart()``: each start reads ``conf_file`` afresh.
        """
        lines = [f"listener {self.port} {self.host}"]
        if self.mode == "plain":
            lines.append("allow_anonymous true")
        else:
            lines += ["allow_anonymous false", f"acl_file {self.acl_file}"]
        if self.password_file is not None:
            lines.append(f"password_file {self.password_file}")
        if self.ca_file is not None:
            lines += [
                f"cafile {self.ca_file}",
                f"certfile {self.server_cert}",
                f"keyfile {self.server_key}",
                "require_certificate true",
                f"use_identity_as_username {'true' if self.mode == 'tls' else 'false'}",
            ]
        lines += self.extra_config
        return self.common_config() + "\n".join(lines) + "\n"

    def _make_certificates(self) -> None:
        tls = self.directory / "tls"
        tls.mkdir(exist_ok=True)
        ca_key, ca_cert = _make_ca("keybridge test CA")
        self.ca_file = _write_pem(tls / "ca.crt", ca_cert)
        server_key, server_cert = _make_leaf(ca_key, ca_cert, "localhost", server=True)
        self.server_cert = _write_pem(tls / "server.crt", server_cert)
        self.server_key = _write_key(tls / "server.key", server_key)
        for user in self.users:
            key, cert = _make_leaf(ca_key, ca_cert, user, server=False)
            self.client_certs[user] = ClientCert(_write_pem(tls / f"{user}.crt", cert),
                                                 _write_key(tls / f"{user}.key", key))
        # Same name as a real user, other CA: only the signature may decide.
        other_key, other_cert = _make_ca("some other CA")
        key, cert = _make_leaf(other_key, other_cert, PMS, server=False)
        self.untrusted_cert = ClientCert(_write_pem(tls / f"{STRANGER}.crt", cert),
                                         _write_key(tls / f"{STRANGER}.key", key))

    # --- process -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process else None

    def start(self, timeout: float = 5.0) -> Broker:
        """Start Mosquitto on ``self.port`` and return once it accepts connections."""
        if self.running:
            raise BrokerError(f"broker on port {self.port} is already running")
        # Where this run's log begins: the file is shared by every start of this broker.
        self._log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.output_file, "ab") as output:
            self._process = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf_file)],
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
        _RUNNING.add(self)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def wait_ready(self, timeout: float = 5.0) -> None:
        """Wait until the port accepts TCP connections, failing early if Mosquitto exits.

        Polling is the one way to learn that another process has opened its socket; each
        round is bounded and the pause between rounds doubles as the check for an early exit.
        A connection alone could reach whoever else holds the port, so when Mosquitto logs to
        ``log_file`` this run must also have logged that it is running (after its listeners
        are open); if it could not bind, it exits instead, and that is reported.
        """
        process = self._process
        if process is None:
            raise BrokerError("broker was never started")
        logs_here = f"log_dest file {self.log_file}" in self.conf_file.read_text()
        deadline = time.monotonic() + timeout
        while True:
            if not logs_here or self._logged_running():
                try:
                    with socket.create_connection((self.host, self.port), timeout=0.2):
                        return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise BrokerError(f"mosquitto did not listen on {self.port} within {timeout}s\n"
                                  + self.log_text())
            try:
                code = process.wait(timeout=0.01)
            except subprocess.TimeoutExpired:
                continue
            raise BrokerError(f"mosquitto exited with {code} while starting\n" + self.log_text())

    def _logged_running(self) -> bool:
        try:
            with open(self.log_file, "rb") as log:
                log.seek(self._log_start)
                return _RUNNING_LINE.search(log.read()) is not None
        except FileNotFoundError:
            return False

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM and wait: Mosquitto saves its persistence database on the way out."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> int | None:
        """SIGKILL: a crash, nothing saved since the last clean stop."""
        return self._end(signal.SIGKILL, 5.0)

    def restart(self, timeout: float = 5.0) -> Broker:
        """``stop()`` then ``start()``: same port, same config, same persistence directory."""
        self.stop(timeout)
        return self.start(timeout)

    def close(self) -> None:
        """Teardown: stop if running. One that ignores SIGTERM has been killed by then."""
        with contextlib.suppress(BrokerError):
            self.stop()

    def _end(self, sig: signal.Signals, timeout: float) -> int | None:
        process, self._process = self._process, None
        _RUNNING.discard(self)
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise BrokerError(f"mosquitto ignored {sig.name} for {timeout}s\n"
                              + self.log_text()) from None

    def __enter__(self) -> Broker:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Broker {self.mode} {self.host}:{self.port} {state}>"

    def log_text(self) -> str:
        """Mosquitto's log file, then whatever it printed on stdout/stderr."""
        parts = []
        for path in (self.log_file, self.output_file):
            if path.exists():
                text = path.read_text(errors="replace")
                if text:
                    parts.append(f"--- {path.name}\n{text}")
        return "\n".join(parts) or "(mosquitto wrote nothing)"


# --- certificates ------------------------------------------------------------------------

def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "keybridge tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
             issuer_key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            # A little in the past: the broker's and the client's clocks are the same here,
            # but OpenSSL compares notBefore to the second.
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()), critical=False))


def _make_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    # EC P-256: a key in a millisecond, where RSA would make every TLS test pay for key
    # generation.
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(_name(common_name), _name(common_name), key, key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _make_leaf(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate,
               common_name: str, *, server: bool) -> tuple[ec.EllipticCurvePrivateKey,
                                                            x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (_builder(_name(common_name), ca_cert.subject, key, ca_key)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _write_pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


# --- the test's MQTT client --------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Received:
    """One message as a ``Peer`` received it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    response_topic: str | None = None
    correlation_data: bytes | None = None
    user_properties: tuple[tuple[str, str], ...] = ()

    def json(self) -> Any:
        return json.loads(self.payload)


class ConnectFailed(AssertionError):
    """The broker refused the connection (CONNACK failure, TLS failure, or it hung up)."""

    def __init__(self, message: str, reason: object = None) -> None:
        super().__init__(message)
        self.reason = reason


Match = str | Callable[[Received], bool]


class Peer:
    """A synchronous MQTT client for tests: connect, subscribe, publish, wait for messages.

    ``user`` takes the credentials the broker has for that user (password, client certificate)
    and the broker's CA is trusted when it has one; ``username``/``password``/``cert_file``/
    ``key_file``/``ca_file`` override them.
    ``persistent`` asks for a session that outlives the connection (clean session false in
    3.1.1; clean start false with ``session_expiry`` seconds in 5). Paho does not reconnect on
    its own: after the broker goes away the test calls ``connect()`` again, so it decides when.
    """

    def __init__(self, broker: Broker, client_id: str | None = None, *, user: str | None = None,
                 protocol: str = MQTT5, persistent: bool = False, session_expiry: int = 3600,
                 username: str | None = None, password: str | None = None,
                 ca_file: Path | str | None = None, cert_file: Path | str | None = None,
                 key_file: Path | str | None = None, keepalive: int = 30) -> None:
        if protocol not in _PROTOCOLS:
            raise ValueError(f"protocol must be one of {tuple(_PROTOCOLS)}")
        self.broker = broker
        self.client_id = client_id or f"peer-{user or 'anon'}-{os.urandom(3).hex()}"
        self.protocol = protocol
        self.persistent = persistent
        self.session_expiry = session_expiry
        self.keepalive = keepalive
        if user is not None and user in broker.passwords:
            username = user if username is None else username
            password = broker.passwords[user] if password is None else password
        if broker.ca_file is not None:
            ca_file = ca_file or broker.ca_file
            if user in broker.client_certs and cert_file is None:
                cert_file = broker.client_certs[user].cert_file
                key_file = broker.client_certs[user].key_file
        self.username = username
        self._password = password
        self._tls = (_str(ca_file), _str(cert_file), _str(key_file))
        self._tls_context: _TrackingContext | None = None
        self._cond = threading.Condition()
        self._messages: list[Received] = []
        self._connack: tuple[ReasonCode, bool] | None = None
        self._lost: ReasonCode | str | None = None
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._pubacks: dict[int, ReasonCode] = {}
        self.session_present = False
        self._client = self._new_client()

    def _new_client(self) -> mqtt.Client:
        # A new paho client per connection, so nothing of the last one (in-flight messages,
        # its network thread) carries over into the next.
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id,
            protocol=_PROTOCOLS[self.protocol],
            clean_session=None if self.protocol == MQTT5 else not self.persistent,
            # The test decides when to come back (after a restart, say), not a backoff timer.
            reconnect_on_failure=False)
        if self.username is not None:
            client.username_pw_set(self.username, self._password)
        ca_file, cert_file, key_file = self._tls
        if ca_file is not None or cert_file is not None:
            self._tls_context = _TrackingContext(ssl.PROTOCOL_TLS_CLIENT)
            if ca_file is not None:
                self._tls_context.load_verify_locations(ca_file)
            if cert_file is not None:
                self._tls_context.load_cert_chain(cert_file, key_file)
            client.tls_set_context(self._tls_context)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        return client

    # paho callbacks, on its network thread ----------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, properties: Properties | None) -> None:
        with self._cond:
            self._connack = (reason, bool(flags.session_present))
            self._cond.notify_all()

    def _on_disconnect(self, client: mqtt.Client, userdata: object,
                       flags: mqtt.DisconnectFlags, reason: ReasonCode,
                       properties: Properties | None) -> None:
        with self._cond:
            self._lost = reason
            self._cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        props = message.properties
        received = Received(
            topic=message.topic, payload=bytes(message.payload), qos=message.qos,
            retain=bool(message.retain),
            response_topic=getattr(props, "ResponseTopic", None),
            correlation_data=getattr(props, "CorrelationData", None),
            user_properties=tuple(getattr(props, "UserProperty", ()) or ()))
        with self._cond:
            self._messages.append(received)
            self._cond.notify_all()

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int,
                      reasons: list[ReasonCode], properties: Properties | None) -> None:
        with self._cond:
            self._subacks[mid] = reasons
            self._cond.notify_all()

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode,
                    properties: Properties | None) -> None:
        with self._cond:
            self._pubacks[mid] = reason
            self._cond.notify_all()

    # the test's side ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def connect(self, timeout: float = 5.0) -> bool:
        """Connect and wait for a successful CONNACK; returns the session-present flag.

        Raises ``ConnectFailed`` when the broker refuses (bad password, no or untrusted client
        certificate) or closes the connection before answering.
        """
        self.disconnect()
        self._client = self._new_client()
        with self._cond:
            self._connack = None
            self._lost = None
        options: dict[str, Any] = {}
        if self.protocol == MQTT5:
            properties = Properties(PacketTypes.CONNECT)
            if self.persistent:
                properties.SessionExpiryInterval = self.session_expiry
            options = {"clean_start": not self.persistent, "properties": properties}
        try:
            self._client.connect(self.broker.host, self.broker.port, self.keepalive, **options)
        except OSError as exc:  # refused port, TLS handshake failure (ssl.SSLError)
            if self._tls_context is not None:
                self._tls_context.close_sockets()
            raise ConnectFailed(f"{self.client_id}: connect failed: {exc!r}", exc) from exc
        self._client.loop_start()
        with self._cond:
            done = self._cond.wait_for(lambda: self._connack or self._lost, timeout)
            connack, lost = self._connack, self._lost
        if connack is not None and not connack[0].is_failure:
            self.session_present = connack[1]
            return self.session_present
        self.disconnect()
        if connack is not None:
            raise ConnectFailed(f"{self.client_id}: refused: {connack[0]}", connack[0])
        if done:
            raise ConnectFailed(f"{self.client_id}: connection closed before CONNACK: {lost}",
                                lost)
        raise ConnectFailed(f"{self.client_id}: no CONNACK within {timeout}s")

    def disconnect(self) -> None:
        """Send DISCONNECT if connected and end the network thread (safe to repeat)."""
        if self._client.is_connected():
            self._client.disconnect()
        self._client.loop_stop()
        # paho 2.2 leaves the socket pair that wakes its network thread open until the client
        # is garbage-collected, and loop_start() replaces it without closing it; closed here,
        # it cannot surface later as a ResourceWarning (an error in this test-suite).
        self._client._reset_sockets(sockpair_only=True)

    def wait_disconnected(self, timeout: float = 5.0) -> ReasonCode | str | None:
        """Wait until the connection is gone (for instance after ``broker.stop()``)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._lost is not None, timeout):
                raise AssertionError(f"{self.client_id}: still connected after {timeout}s")
            return self._lost

    def subscribe(self, topic: str, qos: int = 1, *, check: bool = True,
                  timeout: float = 5.0) -> list[ReasonCode]:
        """Subscribe and wait for the SUBACK; with ``check``, a refused filter raises."""
        rc, mid = self._client.subscribe(topic, qos)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError(f"{self.client_id}: subscribe {topic!r}: {mqtt.error_string(rc)}")
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self._subacks, timeout):
                raise AssertionError(f"{self.client_id}: no SUBACK for {topic!r} in {timeout}s")
            reasons = self._subacks.pop(mid)
        if check and any(reason.is_failure for reason in reasons):
            raise AssertionError(f"{self.client_id}: subscribe {topic!r} refused: {reasons}")
        return reasons

    def publish(self, topic: str, payload: bytes | str | dict[str, Any] | list[Any] = b"", *,
                qos: int = 1, retain: bool = False, response_topic: str | None = None,
                correlation_data: bytes | None = None,
                user_properties: Iterable[tuple[str, str]] = (),
                timeout: float = 5.0) -> ReasonCode | None:
        """Publish and wait until the broker has it (PUBACK for QoS 1, written for QoS 0).

        A dict or list payload is sent as JSON. Returns the PUBACK reason code for QoS 1;
        MQTT 5 reports a refused publish there (0x87 Not authorized), 3.1.1 cannot.
        """
        if isinstance(payload, dict | list):
            payload = json.dumps(payload).encode()
        properties = None
        if self.protocol == MQTT5:
            properties = Properties(PacketTypes.PUBLISH)
            if response_topic is not None:
                properties.ResponseTopic = response_topic
            if correlation_data is not None:
                properties.CorrelationData = correlation_data
            for pair in user_properties:
                properties.UserProperty = pair
        elif response_topic or correlation_data or user_properties:
            raise ValueError("MQTT 3.1.1 has no publish properties")
        info = self._client.publish(topic, payload, qos, retain, properties)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise AssertionError(f"{self.client_id}: {topic!r} not acknowledged in {timeout}s")
        if qos == 0:
            return None
        with self._cond:
            # paho calls on_publish before it marks the message published, so it is here.
            return self._pubacks.pop(info.mid, None)

    @property
    def messages(self) -> list[Received]:
        """A copy of everything received so far, in arrival order."""
        with self._cond:
            return list(self._messages)

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()

    def wait_for(self, match: Match, timeout: float = 5.0) -> Received:
        """The first received message matching ``match``, waiting for it up to ``timeout``.

        ``match`` is a topic filter (``+``/``#`` allowed) or a predicate on ``Received``.
        Raises AssertionError listing what did arrive.
        """
        if isinstance(match, str):
            topic_filter = match

            def predicate(message: Received) -> bool:
                return mqtt.topic_matches_sub(topic_filter, message.topic)
        else:
            predicate = match

        def first() -> Received | None:
            return next((message for message in self._messages if predicate(message)), None)

        with self._cond:
            found = self._cond.wait_for(first, timeout)
            if found is None:
                received = "\n  ".join(f"{m.topic} {m.payload!r}" for m in self._messages)
                raise AssertionError(f"{self.client_id}: nothing matching {match!r} within "
                                     f"{timeout}s; received:\n  {received or '(nothing)'}")
            return found

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()

    def __repr__(self) -> str:
        return f"<Peer {self.client_id} {self.protocol} connected={self.connected}>"


class _TrackingContext(ssl.SSLContext):
    """An SSLContext that remembers its sockets, so a failed handshake's can be closed.

    When the handshake fails inside ``Client.connect()``, paho 2.2 drops the half-made
    SSLSocket without closing it; the exception's traceback keeps it alive, and its
    ResourceWarning would surface in whichever later test the garbage collector picks.
    """

    def __init__(self, protocol: int) -> None:
        # ssl.SSLContext does its setup in __new__, with the protocol; nothing to pass on.
        self._sockets: list[ssl.SSLSocket] = []

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        sock = super().wrap_socket(*args, **kwargs)
        self._sockets.append(sock)
        return sock

    def close_sockets(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()


def _str(path: Path | str | None) -> str | None:
    return None if path is None else str(path)
