"""The package's whole life in a fresh Debian 12 root, made on the spot with debootstrap from
Debian's archive: install, the service started as its unit starts it until READY=1 against a
real Mosquitto, an upgrade to a newer build, remove, purge.

The root is entered with chroot (this machine boots no systemd-nspawn container), so the
service is started the way keybridge.service would start it: ExecStart as the unit's user and
groups, with the unit's environment and the runtime directory systemd would make. Needs root
and debootstrap (``make test`` installs it).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance import __version__
from bench.nats import free_port
from simulators.demo_config import write_config

ROOT = Path(__file__).resolve().parents[2]
MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP = shutil.which("debootstrap") or ("/usr/sbin/debootstrap"
                                               if os.path.exists("/usr/sbin/debootstrap") else None)
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"
CONFIG = "/etc/keybridge/keybridge.toml"
STORE = "/var/lib/keybridge/keybridge.db"
UNITS = ["/lib/systemd/system/" + unit for unit in (
    "keybridge.service", "keybridge-reconcile.service", "keybridge-reconcile.timer")]

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(os.geteuid() != 0 or DEBOOTSTRAP is None,
                       reason="needs root and debootstrap (make test installs it as root)"),
]


def run(*argv, **options):
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **options)
    assert result.returncode == 0, "%s\n%s%s" % (argv, result.stdout[-3000:],
                                                 result.stderr[-3000:])
    return result.stdout


@pytest.fixture(scope="module")
def debian(tmp_path_factory):
    """A fresh Debian 12: minbase, with what the package depends on and systemd-analyze."""
    root = tmp_path_factory.mktemp("debian12") / "root"
    run(DEBOOTSTRAP, "--variant=minbase", "--include=python3,adduser,init-system-helpers,"
        "systemd", "bookworm", str(root), MIRROR)
    return root


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    """This version's package and a newer build of it."""
    out = tmp_path_factory.mktemp("debs")
    built = []
    for suffix in ("", "+upgrade1"):
        built.append(Path(run(sys.executable, str(ROOT / "packaging/build_deb.py"),
                              "--out", str(out / (suffix or "first")),
                              "--version-suffix", suffix).strip().splitlines()[-1]))
    return built


def chroot(debian, *argv):
    return run(CHROOT, str(debian), *argv)


def dpkg_install(debian, deb):
    """dpkg -i in the root; what it and the maintainer scripts said, both streams."""
    shutil.copyfile(deb, debian / "tmp" / deb.name)
    done = subprocess.run([CHROOT, str(debian), "dpkg", "-i", "/tmp/" + deb.name],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def listening(port, process):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on %d: %s" % (port, process.args))


@pytest.fixture
def site(tmp_path):
    """Mosquitto, the Space simulator and the KS cloud simulator on this machine's loopback,
    which the chroot shares: {"broker": port, "space": "host:port", "ks": url}."""
    ports = {name: free_port() for name in ("broker", "space", "ks")}
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("user root\nlistener %d 127.0.0.1\nallow_anonymous true\n"
                    % ports["broker"])
    children = [
        subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "simulators.space", "--quiet", "--listen",
                          "127.0.0.1:%d" % ports["space"]], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "simulators.ks", "--quiet", "--listen",
                          "127.0.0.1:%d" % ports["ks"]], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for child, name in zip(children, ("broker", "space", "ks"), strict=True):
        listening(ports[name], child)
    yield {"broker": ports["broker"], "space": "127.0.0.1:%d" % ports["space"],
           "ks": "http://127.0.0.1:%d" % ports["ks"]}
    for child in children:
        child.terminate()
        child.wait(10)


def write_site_config(debian, site, tmp_path):
    """The demo site's configuration (Space and KS) for this machine's simulators, as a
    technician writes it into /etc/keybridge, its KS secrets in files beside it that only
    the service's group reads; returns the configuration's text."""
    made = tmp_path / "config"
    made.mkdir()
    text = write_config(made, site["broker"], site["space"], site["ks"]).read_text()
    text = text.replace(str(made / "keybridge.db"), "/var/lib/keybridge/keybridge.db")
    text = text.replace(str(made / "secret.keys"), "/var/lib/keybridge/secret.keys")
    text = text.replace(str(made / "control.sock"), "/run/keybridge/control.sock")
    for name in ("ks-client-secret", "ks-password"):
        text = text.replace(str(made / name), name)  # a bare name: beside keybridge.toml
        shutil.copyfile(made / name, debian / "etc/keybridge" / name)
        chroot(debian, "chown", "root:keybridge", "/etc/keybridge/" + name)
        chroot(debian, "chmod", "0640", "/etc/keybridge/" + name)
    (debian / CONFIG.lstrip("/")).write_text(text)
    return text


def set_schema(debian, version):
    """Set the store's schema version (PRAGMA user_version); returns the one before."""
    return int(chroot(debian, "python3", "-c", "import sqlite3, sys; db = sqlite3.connect("
                      "sys.argv[1]); print(db.execute('PRAGMA user_version').fetchone()[0]); "
                      "db.execute('PRAGMA user_version = %d' % int(sys.argv[2])); db.close()",
                      STORE, str(version)))


def start_as_the_unit_would(debian, tmp_path):
    """ExecStart as User=keybridge, SupplementaryGroups=dialout, with the unit's environment
    and RuntimeDirectory=keybridge (0750); returns the process once it sent READY=1."""
    run_dir = debian / "run" / "keybridge"
    run_dir.mkdir(parents=True, exist_ok=True)
    chroot(debian, "chown", "keybridge:keybridge", "/run/keybridge")
    run_dir.chmod(0o750)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(debian / "run" / "notify.sock"))
    (debian / "run" / "notify.sock").chmod(0o666)  # systemd's accepts the service's user
    notify.settimeout(60)
    env = {"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": "/run/notify.sock",
           "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
    with open(tmp_path / "service.log", "wb") as log:
        process = subprocess.Popen([CHROOT, "--userspec=keybridge:keybridge",
                                    "--groups=dialout", str(debian), "/usr/bin/keybridge",
                                    "run", "--config", CONFIG],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, umask=0o077)
    try:
        while b"READY=1" not in notify.recv(4096):
            pass
    except TimeoutError:
        process.kill()
        raise AssertionError((tmp_path / "service.log").read_text()) from None
    finally:
        notify.close()
        (debian / "run" / "notify.sock").unlink()
    return process


def test_install_run_upgrade_and_purge_in_a_fresh_debian_root(debian, debs, site, tmp_path):
    first, newer = debs
    said = dpkg_install(debian, first)
    # What the maintainer scripts set up.
    assert "dialout" in chroot(debian, "id", "-nG", "keybridge").split()
    assert chroot(debian, "stat", "-c", "%U:%G %a", "/var/lib/keybridge").strip() == (
        "keybridge:keybridge 700")
    assert chroot(debian, "stat", "-c", "%U:%G %a", CONFIG).strip() == "root:keybridge 640"
    assert chroot(debian, "stat", "-c", "%U %a", "/var/lib/keybridge/secret.keys").strip() == (
        "keybridge 600")  # keybridge init ran, as the service's user
    assert chroot(debian, "keybridge", "--version").strip() == "keybridge " + __version__
    assert any((debian / "opt/keybridge/lib/appliance/__pycache__").glob("*.cpython-311.pyc"))
    # Shipped with an empty site id: not started on someone else's campsite, and told why.
    assert "keybridge: %s is not ready yet. Edit it, then run 'keybridge config check'" % (
        CONFIG) in said
    checked = subprocess.run([CHROOT, str(debian), "keybridge", "config", "check"],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 2 and "[site] id: must be letters" in checked.stderr
    verify = subprocess.run([CHROOT, str(debian), "systemd-analyze", "verify", *UNITS],
                            capture_output=True, text=True, check=False)
    assert verify.returncode == 0 and "keybridge" not in verify.stderr, verify.stderr
    assert (debian / "etc/systemd/system/multi-user.target.wants/keybridge.service").is_symlink()

    # A technician's configuration, and the service as its unit starts it.
    config = write_site_config(debian, site, tmp_path)
    assert "backends: space, ks" in chroot(debian, "keybridge", "config", "check")
    service = start_as_the_unit_would(debian, tmp_path)
    status = json.loads(chroot(debian, "keybridge", "status", "--json"))
    assert status["running"] and status["live"]["broker"]["connected"]
    service.send_signal(signal.SIGTERM)
    assert service.wait(60) == 0
    key = (debian / "var/lib/keybridge/secret.keys").read_bytes()

    # An upgrade whose store cannot be prepared (here: written by a newer keybridge) fails
    # the configuration, says so, and leaves the store exactly as it was.
    schema = set_schema(debian, 99)
    store = (debian / STORE.lstrip("/")).read_bytes()
    shutil.copyfile(newer, debian / "tmp" / newer.name)
    failed = subprocess.run([CHROOT, str(debian), "dpkg", "-i", "/tmp/" + newer.name],
                            capture_output=True, text=True, check=False)
    assert failed.returncode != 0 and "the store could not be prepared" in failed.stderr
    assert (debian / STORE.lstrip("/")).read_bytes() == store
    assert not list((debian / "var/lib/keybridge").glob("*.before-upgrade"))
    set_schema(debian, schema)  # the technician's fix; then dpkg finishes the upgrade
    chroot(debian, "dpkg", "--configure", "-a")

    # The upgrade keeps the changed conffile and the store's keys.
    assert chroot(debian, "dpkg-query", "-W", "-f", "${Version}", "keybridge") == (
        __version__ + "+upgrade1")
    assert (debian / CONFIG.lstrip("/")).read_text() == config
    assert (debian / "var/lib/keybridge/secret.keys").read_bytes() == key
    assert (debian / "var/lib/keybridge/keybridge.db").exists()

    # Remove takes the program and keeps what is the site's: configuration, store, keys,
    # the service's user (a reinstall picks them up as they were).
    chroot(debian, "dpkg", "--remove", "keybridge")
    for path in ("opt/keybridge", "usr/bin/keybridge", "lib/systemd/system/keybridge.service"):
        assert not (debian / path).exists(), path
    assert (debian / CONFIG.lstrip("/")).read_text() == config
    assert (debian / "var/lib/keybridge/secret.keys").read_bytes() == key
    assert (debian / STORE.lstrip("/")).exists()
    chroot(debian, "getent", "passwd", "keybridge")

    # Purge leaves nothing behind.
    chroot(debian, "dpkg", "--purge", "keybridge")
    for path in ("etc/keybridge", "var/lib/keybridge", "opt/keybridge", "usr/bin/keybridge",
                 "lib/systemd/system/keybridge.service",
                 "etc/systemd/system/multi-user.target.wants/keybridge.service"):
        assert not (debian / path).exists(), path
    assert subprocess.run([CHROOT, str(debian), "getent", "passwd", "keybridge"],
                          capture_output=True, check=False).returncode != 0
