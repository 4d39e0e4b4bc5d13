"""The local control channel: the command line talking to the running service.

A Unix socket in the service's runtime directory (``[service] control_socket``), mode 0660
so the service user and the members of its group may use it; never TCP. One JSON request per
connection, one JSON answer (``wire.py``); ``server.py`` runs in the service, ``client.py``
in the command line.

Errors (``wire.py``)::

    ControlError              the running service could not be asked
    ├── NotRunning            nothing answers at the socket: the service is not running
    └── ControlRefused        the service answered with an error (the message says why)
"""
