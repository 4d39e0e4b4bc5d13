"""``make deb``: keybridge as a Debian package, built with dpkg-deb from a staged tree.

    python packaging/build_deb.py                 # this machine's architecture
    python packaging/build_deb.py --arch arm64    # Raspberry Pi OS 64-bit
    python packaging/build_deb.py --arch armhf    # Raspberry Pi OS 32-bit (cffi from Debian)

The tree holds keybridge's own code (``protocol``, ``appliance``; never the simulators or
the tests) and every Python package it needs, downloaded as wheels for the target
(``pip --platform``, binary wheels only: nothing is compiled here or on site) into
``/opt/keybridge/lib``, compiled to bytecode for Python 3.11 (Debian 12's, Raspberry Pi OS
Bookworm's). ``/usr/bin/keybridge`` runs it with Debian's ``python3`` in isolated mode
(no user site, no ``PYTHON*`` variables) and ``/opt/keybridge/lib`` first on the path, so
keybridge's own wheels always win over Debian's ``dist-packages``, which stay on the path
after them (armhf takes cffi's backend from there, ``python3-cffi-backend``).

The units and the Mosquitto examples come from the repository as they are; the example
configuration becomes the conffile with its site id left empty (``conffile``), so ``config
check`` refuses it until a technician has made it this site's, and the package does not
start the service on a placeholder.
"""

import argparse
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SITE_ID = 'id = "camping-de-vliet"'
DEBIAN = ROOT / "packaging" / "debian"
PYTHON = "3.11"
GLIBC_MINOR = range(17, 37)
"""manylinux wheels up to glibc 2.36, Debian 12's."""
WHEEL_ARCH = {"amd64": "x86_64", "arm64": "aarch64", "armhf": "armv7l"}
OWN = ("protocol", "appliance")
UNITS = ("keybridge.service", "keybridge-reconcile.service", "keybridge-reconcile.timer")
LAUNCHER = '''#!/usr/bin/python3 -I
"""keybridge, from the packages under /opt/keybridge/lib (found beside this file's tree)."""
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
sys.path.insert(0, os.path.join(_ROOT, "opt", "keybridge", "lib"))
from appliance.cli import main  # noqa: E402

sys.exit(main())
'''


def conffile() -> str:
    """/etc/keybridge/keybridge.toml as shipped: the example, its site id empty. The example
    is a working configuration for someone else's campsite (Space at 192.168.1.20, a broker
    on localhost); started as it is, the service would retry a broker that is not there every
    10 s for ever. Empty, ``config check`` names the one line to edit first."""
    text = (ROOT / "config" / "keybridge.example.toml").read_text()
    lines = text.splitlines(keepends=True)
    found = [number for number, line in enumerate(lines) if line.startswith(EXAMPLE_SITE_ID)]
    if len(found) != 1:
        raise SystemExit("config/keybridge.example.toml: no single line starting %s to empty "
                         "for the conffile; update packaging/build_deb.py" % EXAMPLE_SITE_ID)
    lines[found[0]] = ('id = ""  # REQUIRED: this site\'s id (letters, digits, - and _), '
                       "e.g. camping-de-vliet; the service starts once config check passes\n")
    return "".join(lines)


def version() -> str:
    """The version, from its one place: ``appliance.__version__``."""
    text = (ROOT / "appliance" / "__init__.py").read_text()
    for line in text.splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip('"')
    raise SystemExit("appliance/__init__.py has no __version__")


def dependencies() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return list(tomllib.load(file)["project"]["dependencies"])


def platforms(arch: str) -> list[str]:
    machine = WHEEL_ARCH[arch]
    tags = ["manylinux2014_%s" % machine, "linux_%s" % machine]
    return tags + ["manylinux_2_%d_%s" % (minor, machine) for minor in GLIBC_MINOR]


FROM_DEBIAN = {"armhf": "cffi"}
"""What an architecture takes from Debian instead of PyPI. PyPI has no armv7l wheel of cffi
>= 2.0, which cryptography requires; Debian 12's python3-cffi-backend (1.15.1) runs
cryptography 50's Fernet (checked with Debian's amd64 build of the same version)."""
DEBIAN_DEPENDS = {"armhf": ", python3-cffi-backend (>= 1.15)"}


def stage_python(tree: Path, arch: str) -> None:
    lib = tree / "opt" / "keybridge" / "lib"
    lib.mkdir(parents=True)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
               "--target", str(lib), "--only-binary=:all:", "--implementation", "cp",
               "--python-version", PYTHON, "--no-warn-script-location"]
    for tag in platforms(arch):
        command += ["--platform", tag]
    stand_in = tree.parent / ("stand-ins-%s" % arch)
    if arch in FROM_DEBIAN:
        command += ["--find-links", str(stand_in_wheel(stand_in, FROM_DEBIAN[arch]))]
    subprocess.run(command + dependencies(), check=True)  # noqa: S603 - our own argv
    shutil.rmtree(lib / "bin", ignore_errors=True)  # console scripts for a venv, not used
    for dist_info in lib.glob("%s-*.dist-info" % FROM_DEBIAN.get(arch, "-")):
        shutil.rmtree(dist_info)  # the stand-in: Debian's package provides the module
    for package in OWN:
        shutil.copytree(ROOT / package, lib / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # Bytecode is made on the target by postinst for its own python3 (and removed by prerm),
    # as Debian's Python packages do; a shipped __pycache__ would outlive a Python upgrade.
    for path in lib.rglob("*.py"):
        path.chmod(0o644)  # pyserial ships some with the executable bit and a #! line


def stand_in_wheel(folder: Path, name: str) -> Path:
    """An empty wheel called ``name`` that satisfies pip's resolver, for a module Debian
    provides; it installs nothing but its metadata, removed again after."""
    folder.mkdir(parents=True, exist_ok=True)
    info = "%s-99.0.dist-info/" % name
    files = {info + "METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: 99.0\n" % name,
             info + "WHEEL": "Wheel-Version: 1.0\nGenerator: keybridge\n"
                             "Root-Is-Purelib: true\nTag: py3-none-any\n"}
    files[info + "RECORD"] = "".join("%s,,\n" % path for path in [*files, info + "RECORD"])
    with zipfile.ZipFile(folder / ("%s-99.0-py3-none-any.whl" % name), "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)
    return folder


def stage_files(tree: Path) -> None:
    launcher = tree / "usr" / "bin" / "keybridge"
    launcher.parent.mkdir(parents=True)
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)
    units = tree / "lib" / "systemd" / "system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copyfile(ROOT / "systemd" / unit, units / unit)
    etc = tree / "etc" / "keybridge"
    etc.mkdir(parents=True)
    (etc / "keybridge.toml").write_text(conffile())
    doc = tree / "usr" / "share" / "doc" / "keybridge"
    shutil.copytree(ROOT / "config" / "mosquitto", doc / "mosquitto")
    shutil.copyfile(DEBIAN / "copyright", doc / "copyright")
    # A native package (no Debian revision): changelog.gz, not changelog.Debian.gz.
    with gzip.GzipFile(doc / "changelog.gz", "wb", 9, mtime=0) as out:
        out.write((DEBIAN / "changelog").read_bytes())
    overrides = tree / "usr" / "share" / "lintian" / "overrides"
    overrides.mkdir(parents=True)
    shutil.copyfile(DEBIAN / "lintian-overrides", overrides / "keybridge")


def glibc_needed(tree: Path) -> str:
    """The newest glibc any wheel was built for (its manylinux tag), for Depends: libc6."""
    newest = 17  # manylinux2014
    for wheel in (tree / "opt" / "keybridge" / "lib").glob("*.dist-info/WHEEL"):
        for line in wheel.read_text().splitlines():
            tag = line.partition("manylinux_2_")[2]
            if line.startswith("Tag:") and tag:
                newest = max(newest, int(tag.split("_")[0]))
    return "2.%d" % newest


def stage_control(tree: Path, arch: str, suffix: str) -> None:
    control = tree / "DEBIAN"
    control.mkdir()
    size_kb = sum(path.stat().st_size for path in tree.rglob("*") if path.is_file()) // 1024
    text = (DEBIAN / "control").read_text().replace("@VERSION@", version() + suffix).replace(
        "@ARCH@", arch).replace("@SIZE@", str(size_kb + 1)).replace(
        "@GLIBC@", glibc_needed(tree)).replace("@MORE_DEPENDS@", DEBIAN_DEPENDS.get(arch, ""))
    (control / "control").write_text(text)
    for name in ("conffiles", "postinst", "prerm", "postrm"):
        shutil.copyfile(DEBIAN / name, control / name)
        (control / name).chmod(0o755 if name != "conffiles" else 0o644)
    sums = []
    for path in sorted(p for p in tree.rglob("*") if p.is_file() and control not in p.parents):
        digest = hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324 - dpkg's format
        sums.append("%s  %s\n" % (digest, path.relative_to(tree)))
    (control / "md5sums").write_text("".join(sums))


def check_changelog() -> None:
    first = (DEBIAN / "changelog").read_text().splitlines()[0]
    if "(%s)" % version() not in first:
        raise SystemExit("packaging/debian/changelog starts with %r, not version %s: add an "
                         "entry for it" % (first, version()))


def build(arch: str, out: Path, suffix: str = "") -> Path:
    check_changelog()
    tree = out / ("tree-%s" % arch)
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    os.umask(0o022)
    stage_python(tree, arch)
    stage_files(tree)
    stage_control(tree, arch, suffix)
    deb = out / ("keybridge_%s_%s.deb" % (version() + suffix, arch))
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(tree),  # noqa: S603,S607
                    str(deb)], check=True, stdout=subprocess.DEVNULL)
    return deb


def host_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], check=True,  # noqa: S607
                          capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python packaging/build_deb.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=sorted(WHEEL_ARCH), help="default: this machine's")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="default: dist/")
    parser.add_argument("--version-suffix", default="", metavar="SUFFIX",
                        help="appended to the version (+test1: a newer build, for tests)")
    args = parser.parse_args()
    print(build(args.arch or host_arch(), args.out, args.version_suffix))


if __name__ == "__main__":
    main()
