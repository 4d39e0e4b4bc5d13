"""``HOST:PORT`` on a simulator's command line."""


def split_address(text: str, example: str = "127.0.0.1:8090") -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit("address %r: write HOST:PORT, e.g. %s" % (text, example))
    return host, int(port)
