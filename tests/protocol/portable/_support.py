"""Helpers for the portable protocol tests (run on CPython and MicroPython).

Portable tests are plain functions named ``test_*`` using ``assert``; async
ones are ``async def``. They import nothing but ``protocol`` and these
helpers: no pytest, no hypothesis, no typing, no dataclasses.
"""


def raises(exc_type, fn, *args, **kwargs):
    """Call ``fn``; return the exception it raised, which must be ``exc_type``."""
    try:
        fn(*args, **kwargs)
    except exc_type as err:
        return err
    raise AssertionError("%s did not raise %s" % (fn, exc_type.__name__))


def here(name):
    """Path of ``name`` relative to this folder (works on both interpreters)."""
    folder = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    return folder + "/" + name


def chunkings(data):
    """The ways the golden tests deliver a byte string: whole and byte by byte."""
    return [[data], [data[i : i + 1] for i in range(len(data))]]


def feed_all(decoder, chunks):
    out = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out
