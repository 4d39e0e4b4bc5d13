"""Runs the portable protocol tests inside MicroPython (see run.mjs).

Imports each test module named in ``MODULES``, calls every ``test_*``
function (awaiting the async ones), and prints one summary line that
run.mjs parses: ``PORTABLE RESULT passed=N failed=M``.
"""

import sys


def _is_awaitable(obj):
    # MicroPython's coroutines are generators; CPython's have __await__.
    return hasattr(obj, "send") or hasattr(obj, "__await__")


async def _run_module(name, counts):
    try:
        module = __import__(name)
    except Exception as err:  # a module that does not import fails the run
        counts[1] += 1
        print("FAIL import", name)
        sys.print_exception(err)
        return
    for attr in sorted(dir(module)):
        if not attr.startswith("test_"):
            continue
        fn = getattr(module, attr)
        try:
            result = fn()
            if _is_awaitable(result):
                await result
            counts[0] += 1
        except Exception as err:
            counts[1] += 1
            print("FAIL", name + "." + attr)
            sys.print_exception(err)


async def main(modules):
    counts = [0, 0]
    for name in modules:
        await _run_module(name, counts)
    print("PORTABLE RESULT passed=%d failed=%d" % (counts[0], counts[1]))
