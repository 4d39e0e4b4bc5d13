"""Salto KS Connect: the cloud API client (settings, errors, auth, rate limit, client)."""
