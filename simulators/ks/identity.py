"""The identity server: ``/connect/token``, discovery, JWKS, and access-token validation.

Shaped like the IdentityServer that fronts KS (notes §1.2, §6.1): RS256 JWT access tokens
(``typ: at+jwt``, ``aud: user_api``, a ``scope`` list, ``sub`` that is neither the platform
nor the site-user id) and OAuth error bodies ``{error, error_description}``. The JWT is
built by hand (base64url header and payload, RSA PKCS#1 v1.5 over SHA-256) so a test can
check it against the JWKS with nothing but ``cryptography``.

Token lifetimes are judged by REAL wall time, not the simulated clock: moving the clock
days ahead for a stay must not expire the appliance's token. There is no clock skew
allowance (ASP.NET's default is 5 minutes), so short ``token_ttl_s`` values bite exactly.
Refresh tokens are one-time use (IdentityServer's default): each refresh returns a new one.
"""

import base64
import binascii
import dataclasses
import datetime
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simulators.ks import defaults
from simulators.ks.knobs import Knobs

_KEY: rsa.RSAPrivateKey | None = None
_KEY_LOCK = threading.Lock()


def signing_key() -> rsa.RSAPrivateKey:
    """One RSA key per process: generating one takes a noticeable fraction of a second."""
    global _KEY
    with _KEY_LOCK:
        if _KEY is None:
            _KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return _KEY


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_bytes(number: int) -> bytes:
    return number.to_bytes((number.bit_length() + 7) // 8, "big")


class OAuthError(Exception):
    """An error answer of the token endpoint: status and ``{error, error_description}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(error)
        self.status = status
        self.body = {"error": error, "error_description": description}


class TokenRejected(Exception):
    """The Connect API does not accept this bearer token; the text is error_description."""


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who a valid access token speaks for; ``subject`` is None for client_credentials."""

    subject: str | None
    client_id: str
    scopes: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class _Grant:
    client_id: str
    subject: str
    scopes: tuple[str, ...]


class Identity:
    """Issues and validates tokens for the one client and the one system user.

    Args:
        knobs: read for ``token_ttl_s`` at issue time.
        wall: real time in seconds since the epoch (injected in tests).
    """

    def __init__(self, knobs: Knobs, wall: Callable[[], float] = time.time) -> None:
        self.knobs = knobs
        self._wall = wall
        self._key = signing_key()
        public = self._key.public_key()
        der = public.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = hashlib.sha256(der).hexdigest()[:32].upper()
        self._refresh: dict[str, _Grant] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._refresh.clear()

    # -- the token endpoint -------------------------------------------------------------

    def token(self, form: dict[str, str], authorization: str | None, issuer: str
              ) -> dict[str, Any]:
        """Answer a token request; raises OAuthError for every refusal."""
        client_id = _client(form, authorization)
        grant = form.get("grant_type", "")
        if grant == "password":
            scopes = _scopes(form.get("scope"))
            if (form.get("username"), form.get("password")) != (defaults.USERNAME,
                                                                 defaults.PASSWORD):
                raise OAuthError(400, "invalid_grant", "invalid_username_or_password")
            return self._issue(_Grant(client_id, defaults.SYSTEM_SUBJECT, scopes), issuer)
        if grant == "refresh_token":
            return self._refresh_grant(client_id, form, issuer)
        if grant == "client_credentials":
            return self._issue_access(client_id, None, _scopes(form.get("scope")), issuer)
        raise OAuthError(400, "unsupported_grant_type",
                         "grant_type %r is not supported" % grant if grant else "no grant_type")

    def _refresh_grant(self, client_id: str, form: dict[str, str], issuer: str
                       ) -> dict[str, Any]:
        with self._lock:
            grant = self._refresh.get(form.get("refresh_token", ""))
            if grant is None or grant.client_id != client_id:
                raise OAuthError(400, "invalid_grant", "invalid refresh token")
            del self._refresh[form["refresh_token"]]
        scopes = grant.scopes
        if form.get("scope"):
            scopes = _scopes(form["scope"])
            if not set(scopes) <= set(grant.scopes):
                raise OAuthError(400, "invalid_scope", "scope exceeds the original grant")
        return self._issue(dataclasses.replace(grant, scopes=scopes), issuer)

    def _issue(self, grant: _Grant, issuer: str) -> dict[str, Any]:
        reply = self._issue_access(grant.client_id, grant.subject, grant.scopes, issuer)
        if "offline_access" in grant.scopes:
            refresh = secrets.token_hex(32).upper()
            with self._lock:
                self._refresh[refresh] = grant
            reply["refresh_token"] = refresh
        return reply

    def _issue_access(self, client_id: str, subject: str | None, scopes: tuple[str, ...],
                      issuer: str) -> dict[str, Any]:
        now = self._wall()
        ttl = self.knobs.token_ttl_s
        claims: dict[str, Any] = {"iss": issuer, "nbf": int(now), "iat": int(now),
                                  "exp": int(now + ttl)}
        if defaults.FULL_ACCESS in scopes:
            claims["aud"] = defaults.AUDIENCE
        claims |= {"scope": list(scopes), "client_id": client_id}
        if subject is not None:
            claims |= {"sub": subject, "auth_time": int(now), "idp": "local",
                       "amr": ["password"], "identity_id": defaults.SYSTEM_USER_ID,
                       "skip_email": "False"}
        claims |= {"tenant_id": defaults.TENANT_ID, "product_id": defaults.PRODUCT_ID,
                   "jti": uuid.uuid4().hex.upper()}
        return {"access_token": self.encode(claims), "expires_in": int(ttl),
                "token_type": "Bearer", "scope": " ".join(scopes)}

    # -- JWT -----------------------------------------------------------------------------

    def encode(self, claims: dict[str, Any]) -> str:
        header = {"alg": "RS256", "kid": self.kid, "typ": "at+jwt"}
        signing_input = "%s.%s" % (b64url(json.dumps(header).encode()),
                                   b64url(json.dumps(claims).encode()))
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)

    def validate(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization: Bearer`` header; raises TokenRejected."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenRejected("No bearer token was presented")
        claims = self._verified_claims(token.strip())
        now = self._wall()
        if not isinstance(claims.get("exp"), int) or now >= claims["exp"]:
            expired = datetime.datetime.fromtimestamp(claims.get("exp", 0), datetime.UTC)
            raise TokenRejected("The token expired at '%s'" % expired.strftime(
                "%m/%d/%Y %H:%M:%S"))
        if claims.get("nbf", 0) > now:
            raise TokenRejected("The token is not valid yet")
        audience = claims.get("aud")
        if defaults.AUDIENCE not in (audience if isinstance(audience, list) else [audience]):
            raise TokenRejected("The audience '%s' is invalid" % (audience or "empty"))
        if not isinstance(claims.get("sub"), str):
            raise TokenRejected("The token has no user (client_credentials is not for Connect)")
        return Principal(claims["sub"], str(claims.get("client_id")),
                         tuple(claims.get("scope", ())))

    def _verified_claims(self, token: str) -> dict[str, Any]:
        try:
            header_part, claims_part, signature_part = token.split(".")
            header = json.loads(b64url_decode(header_part))
            claims = json.loads(b64url_decode(claims_part))
            signature = b64url_decode(signature_part)
        except (ValueError, binascii.Error):
            raise TokenRejected("The token is malformed") from None
        if not isinstance(header, dict) or header.get("kid") != self.kid or header.get(
                "alg") != "RS256" or not isinstance(claims, dict):
            raise TokenRejected("The signature key was not found")
        try:
            self._key.public_key().verify(signature, (header_part + "." + claims_part).encode(),
                                          padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise TokenRejected("The signature is invalid") from None
        return claims

    # -- discovery -----------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.kid, "alg": "RS256",
                          "e": b64url(_int_bytes(numbers.e)),
                          "n": b64url(_int_bytes(numbers.n))}]}

    def discovery(self, base: str) -> dict[str, Any]:
        return {
            "issuer": base, "jwks_uri": base + "/.well-known/openid-configuration/jwks",
            "authorization_endpoint": base + "/connect/authorize",
            "token_endpoint": base + "/connect/token",
            "userinfo_endpoint": base + "/connect/userinfo",
            "scopes_supported": sorted(defaults.ALLOWED_SCOPES),
            "claims_supported": ["sub", "tenant_id", "product_id", "identity_id"],
            "grant_types_supported": ["authorization_code", "client_credentials",
                                      "refresh_token", "password"],
            "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
            "code_challenge_methods_supported": ["plain", "S256"],
        }


def _client(form: dict[str, str], authorization: str | None) -> str:
    """The authenticated client id (Basic header first, then the form)."""
    client_id, secret = form.get("client_id"), form.get("client_secret")
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, binascii.Error):
            raise OAuthError(401, "invalid_client", "malformed Basic credentials") from None
        raw_id, _, raw_secret = pair.partition(":")
        client_id, secret = urllib.parse.unquote(raw_id), urllib.parse.unquote(raw_secret)
    if (client_id, secret) != (defaults.CLIENT_ID, defaults.CLIENT_SECRET):
        raise OAuthError(401, "invalid_client", "unknown client or wrong secret")
    return defaults.CLIENT_ID


def _scopes(requested: str | None) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys((requested or defaults.FULL_ACCESS).split()))
    unknown = [scope for scope in scopes if scope not in defaults.ALLOWED_SCOPES]
    if unknown or not scopes:
        raise OAuthError(400, "invalid_scope", "scope not allowed: %s" % " ".join(unknown))
    return scopes
