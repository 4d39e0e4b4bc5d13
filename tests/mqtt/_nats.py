"""NATS test brokers: the launcher ``make fleet`` uses too (``bench/nats.py``)."""

from bench.nats import NatsNode, free_port, user

__all__ = ["NatsNode", "free_port", "user"]
