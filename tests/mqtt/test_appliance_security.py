"""A site's broker as installed: TLS with client certificates, a password file and an ACL.
The appliance connects with what its configuration names, and a wrong credential is a clear
error in its log, not a silent hang. The logs of a full run never carry secrets."""

import sqlite3

import pytest

from _appliance import Appliance, eventually
from test_appliance_contract import booking, event, reply, send

pytestmark = pytest.mark.timeout(120)


def wait_in_log(appliance, text, timeout=15.0):
    try:
        eventually(lambda: text in appliance.log_text(), timeout, repr(text) + " in the log")
    except AssertionError as err:
        raise AssertionError("%s:\n%s" % (err, appliance.log_text())) from None


def tls_settings(broker, user="keybridge"):
    cert = broker.client_certs[user]
    return {"tls": True, "ca_file": str(broker.ca_file), "cert_file": str(cert.cert_file),
            "key_file": str(cert.key_file)}


def password_settings(tmp_path, broker, password):
    secret = tmp_path / "mqtt-password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    return {"username": "keybridge", "password_file": str(secret)}


def test_tls_with_client_certificate_end_to_end(tmp_path, broker_factory, space, peer_factory):
    broker = broker_factory("tls")
    appliance = Appliance(tmp_path / "a", broker, space, mqtt=tls_settings(broker)).start()
    try:
        pms = peer_factory(broker, user="pms")
        pms.subscribe("keybridge/camp/#")
        send(pms, appliance, "booking", booking("tls-1"))
        assert reply(pms, "tls-1")["status"] == "accepted"
    finally:
        appliance.close()


def test_tls_without_client_certificate_is_refused_and_said_so(tmp_path, broker_factory):
    broker = broker_factory("tls")
    settings = {"tls": True, "ca_file": str(broker.ca_file)}
    appliance = Appliance(tmp_path / "a", broker, mqtt=settings).start(wait=False)
    try:
        wait_in_log(appliance, "certificate required")
        assert "READY=1" not in appliance.notify.received
    finally:
        appliance.close()


def test_password_and_acl_end_to_end(tmp_path, broker_factory, space, peer_factory):
    broker = broker_factory("password")
    settings = password_settings(tmp_path, broker, broker.passwords["keybridge"])
    appliance = Appliance(tmp_path / "a", broker, space, mqtt=settings).start()
    try:
        pms = peer_factory(broker, user="pms")
        pms.subscribe("keybridge/camp/#")
        send(pms, appliance, "booking", booking("acl-1"))
        assert reply(pms, "acl-1")["status"] == "accepted"
        send(pms, appliance, "encode_card", {"request_id": "acl-2", "booking_id": "B1",
                                             "encoder": "desk-1"})
        assert event(pms, "card_encoded", booking_id="B1")["count"] == 1
    finally:
        appliance.close()


def test_wrong_password_is_a_clear_error_and_no_ready(tmp_path, broker_factory):
    broker = broker_factory("password")
    settings = password_settings(tmp_path, broker, "not-the-password")
    appliance = Appliance(tmp_path / "a", broker, mqtt=settings).start(wait=False)
    try:
        wait_in_log(appliance, "the broker at %s:%d refused the connection: " % (
            broker.host, broker.port))
        assert "check [mqtt] username, password_file and certificates" in appliance.log_text()
        assert "READY=1" not in appliance.notify.received
        assert "not-the-password" not in appliance.log_text()
    finally:
        appliance.close()


def test_a_full_run_logs_no_secret(tmp_path, broker_factory, space, peer_factory):
    broker = broker_factory("password")
    password = broker.passwords["keybridge"]
    settings = password_settings(tmp_path, broker, password)
    appliance = Appliance(tmp_path / "a", broker, space, mqtt=settings).start()
    try:
        pms = peer_factory(broker, user="pms")
        pms.subscribe("keybridge/camp/#")
        send(pms, appliance, "booking", booking("s-1", guest={"name": "Anna", "phone":
                                                              "+31612345678"}))
        send(pms, appliance, "encode_card", {"request_id": "s-2", "booking_id": "B1",
                                             "encoder": "desk-1", "count": 2})
        serials = event(pms, "card_encoded", booking_id="B1")["serials"]
        send(pms, appliance, "send_mobile_key", {"request_id": "s-3", "booking_id": "B1",
                                                 "phone": "+31612345678"})
        reply(pms, "s-3", "ok", timeout=20)
        send(pms, appliance, "read_card", {"request_id": "s-4", "encoder": "desk-1"})
        reply(pms, "s-4", "ok", timeout=20)
        send(pms, appliance, "booking", booking("s-5", revision=2, status="COMPLETED"))
        event(pms, "key_revoked", booking_id="B1")
        assert appliance.stop() == 0
    finally:
        appliance.close()
    log = appliance.log_text()
    key = (appliance.directory / "secret.keys").read_text().split()[0]
    for secret in [password, key, *serials]:
        assert secret not in log
    stored = _outbox_plain(appliance)  # the raw column: Fernet tokens, never the text
    for serial in serials:
        assert serial.encode() not in stored


def _outbox_plain(appliance):
    with sqlite3.connect(appliance.db_file) as db:
        return b"".join(row[0] for row in db.execute("SELECT payload FROM outbox"))


def test_watchdog_pings_while_alive(tmp_path, broker):
    appliance = Appliance(tmp_path / "a", broker, watchdog_s=0.5).start()
    try:
        first = appliance.notify.wait_for("WATCHDOG=1", 10)
        appliance.notify.wait_for("WATCHDOG=1", 10, after=first + 1)
    finally:
        appliance.close()
