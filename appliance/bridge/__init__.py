"""The MQTT bridge to the PMS: contract v1 (``contract``), the paho link (``mqtt``), the
outbox publisher (``publisher``) and the retained status (``status``)."""
