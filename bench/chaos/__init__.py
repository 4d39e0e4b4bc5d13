"""``make chaos``: a campsite day under faults, and proof that nothing was lost or done twice.

``day.py`` writes the day (seeded), ``site.py`` runs the real parts (Mosquitto, the KS and
Space simulators, ``keybridge run`` under a clock shim on a small tmpfs), ``pms.py`` plays
the PMS, ``faults.py`` injects the faults on a seeded schedule, ``verdict.py`` compares what
the PMS, KS and Space ended with and prints the table. ``python -m bench.chaos --help``.
"""
