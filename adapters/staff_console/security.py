"""The console's cookie and form tokens: an HMAC under the session secret.

The cookie carries the session token and its signature (`token.signature`); the database keeps
only the token's hash (bot/services/console_auth.py). A form's CSRF token is derived from the
session token, so it needs no storage and dies with the session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

COOKIE = "nippo_console"
COOKIE_PATH = "/console"


class Signer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def cookie(self, token: str) -> str:
        return f"{token}.{self._mac('cookie', token)}"

    def token_of(self, cookie: str | None) -> str | None:
        """The session token of a cookie signed here, else None."""
        token, dot, signature = (cookie or "").rpartition(".")
        if not dot or not token:
            return None
        return token if hmac.compare_digest(signature, self._mac("cookie", token)) else None

    def csrf(self, token: str) -> str:
        return self._mac("csrf", token)

    def csrf_ok(self, token: str, given: str | None) -> bool:
        return hmac.compare_digest(self.csrf(token), given or "")
