"""``make deb``: the package as dpkg and a technician see it, for this machine's architecture
and for the Pi's arm64 and armhf, built by the recipe itself (``packaging/build_deb.py``) into a
temporary folder. What it contains, what dpkg keeps of a technician's edits, that its
compiled code is for the architecture it claims, and that the unpacked tree runs with
Debian's own python3 and no virtual environment."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appliance import __version__

ROOT = Path(__file__).resolve().parents[2]
ELF_MACHINE = {"amd64": 62, "arm64": 183, "armhf": 40}
"""e_machine of the ELF header: x86-64, AArch64, ARM."""
DEBIAN_PYTHON = Path("/usr/bin/python3")
LINTIAN = shutil.which("lintian")

pytestmark = pytest.mark.timeout(600)


def build(arch, out):
    result = subprocess.run([sys.executable, str(ROOT / "packaging" / "build_deb.py"),
                             "--arch", arch, "--out", str(out)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return Path(result.stdout.strip().splitlines()[-1])


def host_arch():
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(scope="module", params=sorted({host_arch(), "arm64", "armhf"}))
def package(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("deb-%s" % request.param)
    deb = build(request.param, out)
    tree = out / "unpacked"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
    control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    fields = dict(line.split(": ", 1) for line in control.splitlines() if ": " in line)
    return request.param, deb, tree, fields


def test_it_is_named_and_versioned_from_one_place(package):
    arch, deb, _tree, fields = package
    assert deb.name == "keybridge_%s_%s.deb" % (__version__, arch)
    assert (fields["Package"], fields["Version"], fields["Architecture"]) == (
        "keybridge", __version__, arch)
    assert fields["Depends"].startswith("python3 (>= 3.11)")


def test_it_installs_the_command_the_units_and_the_configuration_as_a_conffile(package):
    _arch, deb, tree, _fields = package
    assert os.access(tree / "usr/bin/keybridge", os.X_OK)
    for unit in ("keybridge.service", "keybridge-reconcile.service",
                 "keybridge-reconcile.timer"):
        assert (tree / "lib/systemd/system" / unit).read_text() == (
            ROOT / "systemd" / unit).read_text()
    # The example, but for the site id: a technician must make it this site's first.
    shipped = (tree / "etc/keybridge/keybridge.toml").read_text().splitlines()
    example = (ROOT / "config/keybridge.example.toml").read_text().splitlines()
    changed = [(ours, theirs) for ours, theirs in zip(shipped, example, strict=True)
               if ours != theirs]
    assert [(ours.split("#")[0].strip(), theirs.split("#")[0].strip())
            for ours, theirs in changed] == [('id = ""', 'id = "camping-de-vliet"')]
    conffiles = subprocess.run(["dpkg-deb", "-I", str(deb), "conffiles"], capture_output=True,
                               text=True, check=True).stdout.split()
    assert conffiles == ["/etc/keybridge/keybridge.toml"]  # dpkg keeps a technician's edits
    assert (tree / "usr/share/doc/keybridge/mosquitto/keybridge-acl.example").exists()


def test_only_the_runtime_travels(package):
    _arch, _deb, tree, _fields = package
    lib = tree / "opt/keybridge/lib"
    assert (lib / "appliance/__init__.py").exists() and (lib / "protocol").is_dir()
    for absent in ("simulators", "tests", "bench", "pytest", "hypothesis", "mypy"):
        assert not (lib / absent).exists(), absent
    assert not any(lib.rglob("__pycache__"))  # postinst compiles for the target's python3


def test_its_compiled_code_is_for_the_architecture_it_names(package):
    arch, _deb, tree, _fields = package
    shared = list((tree / "opt/keybridge/lib").rglob("*.so"))
    assert shared, "cryptography and cffi bring compiled code"
    for library in shared:
        header = library.read_bytes()[:20]
        assert header[:4] == b"\x7fELF"
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE[arch], library


WHEEL_MACHINE = {"amd64": "x86_64", "arm64": "aarch64", "armhf": "armv7l"}


def test_every_wheel_is_tagged_for_the_target_or_for_any(package):
    arch, _deb, tree, _fields = package
    tags = [line.split()[1] for wheel in (tree / "opt/keybridge/lib").glob("*.dist-info/WHEEL")
            for line in wheel.read_text().splitlines() if line.startswith("Tag:")]
    platforms = {tag.rsplit("-", 1)[1] for tag in tags}
    assert platforms - {"any"}, "the compiled wheels are there"
    for platform in platforms - {"any"}:
        assert platform.endswith("_" + WHEEL_MACHINE[arch]), platform
        assert platform.startswith(("manylinux", "linux")), platform


def test_armhf_takes_cffis_compiled_backend_from_debian(package):
    # PyPI has no armv7l wheel of cffi >= 2.0; Debian 12's python3-cffi-backend serves.
    arch, _deb, tree, fields = package
    vendored = any((tree / "opt/keybridge/lib").glob("_cffi_backend*.so"))
    assert vendored == (arch != "armhf")
    assert ("python3-cffi-backend" in fields["Depends"]) == (arch == "armhf")
    assert arch != "armhf" or not any((tree / "opt/keybridge/lib").glob("cffi-*.dist-info"))


def test_the_maintainer_scripts_are_valid_shell(package):
    _arch, deb, tree, _fields = package
    control = tree.parent / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control)], check=True)
    for script in ("postinst", "prerm", "postrm"):
        assert os.access(control / script, os.X_OK)
        subprocess.run(["sh", "-n", str(control / script)], check=True)


@pytest.mark.skipif(LINTIAN is None, reason="lintian not installed (make test installs it)")
def test_lintian_finds_nothing_not_explained(package):
    _arch, deb, _tree, _fields = package
    found = subprocess.run([LINTIAN, str(deb)], capture_output=True, text=True, check=False)
    tags = [line for line in found.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert tags == [], "\n".join(tags)  # each override is explained in lintian-overrides


@pytest.mark.skipif(not DEBIAN_PYTHON.exists(), reason="no Debian python3 on this machine")
@pytest.mark.parametrize("package", [host_arch()], indirect=True)
def test_the_unpacked_tree_runs_with_debians_python_alone(package, tmp_path):
    _arch, _deb, tree, _fields = package
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no venv, no PYTHONPATH
    launcher = [str(DEBIAN_PYTHON), str(tree / "usr/bin/keybridge")]
    version = subprocess.run([*launcher, "--version"], capture_output=True, text=True,
                             env=env, check=True).stdout
    assert version.strip() == "keybridge %s" % __version__
    config = tmp_path / "keybridge.toml"
    shutil.copyfile(tree / "etc/keybridge/keybridge.toml", config)
    checked = subprocess.run([*launcher, "config", "check", "--config", str(config)],
                             capture_output=True, text=True, env=env, check=False)
    assert checked.returncode == 2 and "[site] id: must be letters" in checked.stderr
    config.write_text(config.read_text().replace('id = ""', 'id = "camping-de-vliet"', 1))
    checked = subprocess.run([*launcher, "config", "check", "--config", str(config)],
                             capture_output=True, text=True, env=env, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert ": OK" in checked.stdout
