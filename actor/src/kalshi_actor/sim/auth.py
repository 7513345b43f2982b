"""The simulator's side of Kalshi authentication: key id -> public key, each key an account."""

from __future__ import annotations

import time
from collections.abc import Mapping

from fastapi import HTTPException, Request

from ..kalshi.auth import HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, PublicKey, signed_text, verify

MAX_CLOCK_SKEW_MS = 30_000  # a timestamp further than this from the server's clock is stale


class AuthError(Exception):
    """Why a request is not authenticated (becomes a 401)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KeyRing:
    """The registered API keys. The key id names the account it trades."""

    def __init__(self, keys: Mapping[str, PublicKey] | None = None) -> None:
        self._keys: dict[str, PublicKey] = dict(keys or {})

    def add(self, key_id: str, public_key: PublicKey) -> None:
        self._keys[key_id] = public_key

    def __contains__(self, key_id: str) -> bool:
        return key_id in self._keys

    def __iter__(self):
        return iter(self._keys)

    def authenticate(self, method: str, path: str, headers: Mapping[str, str], now_ms: int | None = None) -> str:
        """Check Kalshi's three headers for ``METHOD path``; returns the key id (the account)."""
        key_id = headers.get(HEADER_KEY)
        ts = headers.get(HEADER_TIMESTAMP)
        signature = headers.get(HEADER_SIGNATURE)
        if not key_id or not ts or not signature:
            raise AuthError("missing authentication headers")
        public_key = self._keys.get(key_id)
        if public_key is None:
            raise AuthError("unknown API key")
        if not ts.isdigit():
            raise AuthError("invalid timestamp")
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if abs(now - int(ts)) > MAX_CLOCK_SKEW_MS:
            raise AuthError("stale timestamp")
        if not verify(public_key, signed_text(ts, method, path), signature):
            raise AuthError("invalid signature")
        return key_id


def require_account(request: Request) -> str:
    """FastAPI dependency: the authenticated account of a REST request, or a 401 in Kalshi's shape."""
    try:
        return request.app.state.sim.keyring.authenticate(request.method, request.url.path, request.headers)
    except AuthError as exc:
        raise HTTPException(401, detail={"code": "authentication_error", "message": exc.message}) from None
