"""protocol/ is sans-IO and MicroPython-compatible (CPython-only checks).

(a) AST: the core modules import only each other and call no clock, open or
    print; only aio.py (asyncio, sys, time) and driver.py (relative) may do I/O.
(b) A fresh interpreter importing ``protocol`` loads no I/O or clock module.
(c) No construct MicroPython lacks: dataclasses/enum/typing/__future__,
    f-string ``=``, walrus, ``match``, ``bytes.decode`` with errors,
    ``.encode('latin-1')``, ``del x[...]``.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

import protocol

PACKAGE = pathlib.Path(protocol.__file__).resolve().parent
ALL_MODULES = sorted(PACKAGE.glob("*.py"))
IO_MODULES = {"aio.py", "driver.py"}
CORE_MODULES = [p for p in ALL_MODULES if p.name not in IO_MODULES]

# Modules no file in protocol/ may import, except as allowed per I/O module.
FORBIDDEN_IMPORTS = {
    "asyncio", "socket", "serial", "select", "selectors", "time", "datetime", "threading",
    "os", "io", "sqlite3", "logging", "random", "typing", "dataclasses", "enum",
    "__future__", "sys", "subprocess", "importlib", "pathlib", "signal", "uasyncio",
    "utime", "machine", "network", "usocket", "uselect",
}
ALLOWED_IN_IO = {"aio.py": {"asyncio", "sys", "time"}, "driver.py": set()}
# Names that read a clock, sleep, or do I/O when called.
FORBIDDEN_CALLS = {
    "time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns",
    "process_time", "clock", "ticks_ms", "ticks_us", "ticks_cpu", "ticks_diff", "sleep",
    "sleep_ms", "sleep_us", "now", "utcnow", "today", "open", "print", "input",
    "__import__", "exec", "eval", "compile",
}
MICROPYTHON_MISSING = {"dataclasses", "enum", "typing", "__future__", "abc", "functools"}
LATIN_1 = {"latin-1", "latin1", "latin_1", "iso-8859-1", "iso8859-1", "iso_8859_1", "l1",
           "cp1252", "windows-1252"}


def parse(path):
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imports(tree):
    """(level, top-level module name or '') of every import in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((0, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, (node.module or "").split(".")[0]))
    return found


def called_name(node):
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def test_the_package_has_the_expected_modules():
    names = {p.name for p in ALL_MODULES}
    assert names >= IO_MODULES
    assert {"framing.py", "decoder.py", "link.py", "linkstate.py", "fields.py"} <= names
    assert len(CORE_MODULES) >= 12


# --------------------------------------------------------------------------
# (a) imports and calls
# --------------------------------------------------------------------------


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: p.name)
def test_core_module_imports_only_the_package(path):
    for level, name in imports(parse(path)):
        assert level >= 1, "%s imports %r absolutely" % (path.name, name)
        assert name not in IO_MODULES and name not in ("aio", "driver"), (
            "%s imports the I/O module %s" % (path.name, name)
        )


@pytest.mark.parametrize("path", ALL_MODULES, ids=lambda p: p.name)
def test_no_forbidden_imports(path):
    allowed = ALLOWED_IN_IO.get(path.name, set())
    for level, name in imports(parse(path)):
        if level == 0:
            assert name in allowed, "%s imports %s" % (path.name, name)
            assert name not in FORBIDDEN_IMPORTS - allowed
    if path.name == "driver.py":
        assert all(level >= 1 for level, _ in imports(parse(path)))


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: p.name)
def test_core_module_calls_no_clock_or_io(path):
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Call):
            name = called_name(node)
            assert name not in FORBIDDEN_CALLS, "%s:%d calls %s()" % (
                path.name, node.lineno, name)


def test_the_checks_catch_what_they_look_for():
    """The helpers above do see a clock call and an absolute import."""
    tree = ast.parse("import time\nfrom os import path\nfrom . import x\nt = time.monotonic()\n")
    assert imports(tree) == [(0, "time"), (0, "os"), (1, "")]
    calls = [called_name(n) for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert calls == ["monotonic"]


# --------------------------------------------------------------------------
# (b) importing protocol in a fresh interpreter
# --------------------------------------------------------------------------

WATCHED = ("asyncio", "socket", "time", "select", "selectors", "threading", "serial",
           "datetime", "logging", "random", "sqlite3", "typing", "dataclasses", "enum",
           "subprocess")
PROBE = """
import builtins, sys
watched = %r
loaded_before = sorted(m for m in watched if m in sys.modules)
asked = []
real_import = builtins.__import__
def spy(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name.split('.')[0] in watched:
        asked.append(name.split('.')[0])
    return real_import(name, globals, locals, fromlist, level)
builtins.__import__ = spy
%s
builtins.__import__ = real_import
print(repr((loaded_before, sorted(m for m in watched if m in sys.modules), sorted(set(asked)))))
"""


def run_fresh(statement):
    """(watched modules at startup, after ``statement``, import statements for them)."""
    result = subprocess.run(
        [sys.executable, "-I", "-c", PROBE % (WATCHED, statement)],
        capture_output=True, text=True, timeout=60, cwd=str(PACKAGE.parent.parent), check=False,
    )
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def test_importing_protocol_loads_no_io_or_clock_module():
    baseline_start, baseline_end, baseline_asked = run_fresh("pass")
    start, end, asked = run_fresh(
        "import protocol\nassert protocol.__file__.startswith(%r)" % str(PACKAGE)
    )
    assert start == baseline_start
    # Nothing new in sys.modules compared with an interpreter that imports nothing...
    assert end == baseline_end, sorted(set(end) - set(baseline_end))
    # ...and no import statement for any of them ran, even for a module the
    # interpreter had already loaded at startup (such as time).
    assert asked == baseline_asked == []


def test_the_import_probe_sees_a_clock_import():
    """Control: the probe reports an import of an already-loaded module."""
    _, end, asked = run_fresh("import time\nimport socket")
    assert "time" in asked and "socket" in asked
    assert "socket" in end


def test_importing_the_io_modules_is_explicit():
    """aio (and so asyncio) is loaded only by importing protocol.driver or protocol.aio."""
    _, end, asked = run_fresh("import protocol.driver")
    assert "asyncio" in end
    assert "time" in asked


# --------------------------------------------------------------------------
# (c) MicroPython-incompatible constructs
# --------------------------------------------------------------------------


def micropython_problems(tree, source):
    problems = []
    for node in ast.walk(tree):
        where = getattr(node, "lineno", 0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = (
                [a.name.split(".")[0] for a in node.names]
                if isinstance(node, ast.Import)
                else [(node.module or "").split(".")[0]] if node.level == 0 else []
            )
            problems += ["%d: import %s" % (where, n) for n in names if n in MICROPYTHON_MISSING]
        elif isinstance(node, ast.NamedExpr):
            problems.append("%d: walrus" % where)
        elif isinstance(node, ast.Match):
            problems.append("%d: match statement" % where)
        elif isinstance(node, ast.JoinedStr):
            segment = ast.get_source_segment(source, node) or ""
            if self_documenting(segment):
                problems.append("%d: f-string with '='" % where)
        elif isinstance(node, ast.Delete):
            problems += ["%d: del x[...]" % where for t in node.targets
                         if isinstance(t, ast.Subscript)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            if attr == "decode" and (len(node.args) >= 2
                                     or any(k.arg == "errors" for k in node.keywords)):
                problems.append("%d: decode with an errors argument" % where)
            if attr == "encode":
                args = list(node.args) + [k.value for k in node.keywords if k.arg == "encoding"]
                for arg in args:
                    if isinstance(arg, ast.Constant) and str(arg.value).lower() in LATIN_1:
                        problems.append("%d: encode(%r)" % (where, arg.value))
                if len(node.args) >= 2 or any(k.arg == "errors" for k in node.keywords):
                    problems.append("%d: encode with an errors argument" % where)
    return problems


def self_documenting(fstring):
    """True if an f-string has a ``{expr=}`` field (3.8+, not in MicroPython)."""
    depth, start = 0, None
    for i, char in enumerate(fstring):
        if char == "{":
            if depth == 0:
                start = i
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0 and start is not None:
                field = fstring[start + 1 : i]
                head = field.split("!")[0].split(":")[0].rstrip()
                if head.endswith("=") and not head.endswith(("==", "!=", "<=", ">=")):
                    return True
    return False


@pytest.mark.parametrize("path", ALL_MODULES, ids=lambda p: p.name)
def test_no_micropython_incompatible_constructs(path):
    source = path.read_text(encoding="utf-8")
    assert micropython_problems(ast.parse(source), source) == []


def test_the_construct_checks_catch_each_construct():
    """Control: every construct the check looks for is found in a sample."""
    source = (
        "from dataclasses import dataclass\n"
        "import typing\n"
        "from __future__ import annotations\n"
        "import enum\n"
        "x = f'{y=}'\n"
        "if (n := 3):\n    pass\n"
        "match x:\n    case _:\n        pass\n"
        "b'a'.decode('ascii', 'replace')\n"
        "b'a'.decode(errors='ignore')\n"
        "'a'.encode('latin-1')\n"
        "del buf[0:2]\n"
        "ok = f'{a == b}' + f'{c!r}' + f'{d:>3}'\n"
        "del name\n"
    )
    found = micropython_problems(ast.parse(source), source)
    kinds = [p.split(": ", 1)[1] for p in found]
    assert sorted(kinds) == sorted([
        "import dataclasses", "import typing", "import __future__", "import enum",
        "f-string with '='", "walrus", "match statement", "decode with an errors argument",
        "decode with an errors argument", "encode('latin-1')", "del x[...]",
    ]), found
