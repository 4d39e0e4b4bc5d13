"""A simulated property-management system (PMS) that speaks MQTT contract v1 to keybridge.

``day.py`` is a campsite's day as data (bookings, revisions, desk commands, what must come
back), made of the steps in ``actions.py``; ``client.py`` is the PMS's MQTT connection and
live printout; ``__main__.py`` runs the day and checks it, ``guests.py`` plays its guests.
``python -m simulators.demo`` (``make run``) runs it against a whole simulated site;
``python -m simulators.pms --help`` points it at a real appliance.
"""
