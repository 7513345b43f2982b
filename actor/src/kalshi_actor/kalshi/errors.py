"""One exception tree for everything the Kalshi client can raise.

::

    KalshiError                    status, code, message, details
    ├── BadRequest                 400 (and other 4xx without a class of their own)
    ├── AuthenticationError        401: unsigned, bad signature, unknown key, stale timestamp
    ├── PermissionDenied           403
    ├── NotFound                   404
    ├── Conflict                   409 (e.g. a duplicate client_order_id)
    ├── RateLimited                429 (Kalshi sends no Retry-After)
    ├── ServerError                5xx
    ├── TransportError             no HTTP answer: connection refused, reset, timed out
    │   └── RequestTimeout
    ├── ResponseFormatError        an answer that is not the JSON the spec promises
    └── UnknownOrderOutcome        an order create whose fate could not be resolved

Kalshi's error bodies come in two shapes, ``{"code", "message", "details"}`` and
``{"error": {"code", "message", "details"}}``; :func:`error_from_response` reads both.
"""

from __future__ import annotations

import json
from typing import Any


class KalshiError(Exception):
    """Base of every client error. ``status`` is the HTTP status, or None when there was no answer."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "", details: str = "",
                 method: str = "", path: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.method = method
        self.path = path
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.path else ""
        status = f"{self.status} " if self.status is not None else ""
        code = f"{self.code}: " if self.code else ""
        details = f" ({self.details})" if self.details else ""
        return f"{where}{status}{code}{self.message}{details}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class BadRequest(KalshiError):
    pass


class AuthenticationError(KalshiError):
    pass


class PermissionDenied(KalshiError):
    pass


class NotFound(KalshiError):
    pass


class Conflict(KalshiError):
    pass


class RateLimited(KalshiError):
    pass


class ServerError(KalshiError):
    pass


class TransportError(KalshiError):
    """The request got no HTTP answer. ``sent`` says whether it may have reached the server."""

    def __init__(self, message: str, *, sent: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.sent = sent


class RequestTimeout(TransportError):
    pass


class ResponseFormatError(KalshiError):
    pass


class UnknownOrderOutcome(KalshiError):
    """An order was sent, no answer said whether it exists, and looking it up did not settle it.

    The order may or may not rest on the exchange: reconcile (``client_order_id``) before
    sending anything that depends on it.
    """

    def __init__(self, message: str, *, client_order_ids: list[str], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.client_order_ids = client_order_ids


_BY_STATUS: dict[int, type[KalshiError]] = {
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def parse_error_body(body: bytes | str | Any) -> tuple[str, str, str]:
    """``(code, message, details)`` from either of Kalshi's error shapes; empty strings when absent."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body or b"null")
        except ValueError:
            text = body.decode(errors="replace") if isinstance(body, bytes) else body
            return "", text.strip()[:500], ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if not isinstance(body, dict):
        return "", "", ""
    return str(body.get("code") or ""), str(body.get("message") or ""), _text(body.get("details"))


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def error_from_response(status: int, body: bytes | str | Any, *, method: str = "", path: str = "") -> KalshiError:
    """The exception for an HTTP error answer (status >= 400)."""
    code, message, details = parse_error_body(body)
    if status >= 500:
        cls: type[KalshiError] = ServerError
    else:
        cls = _BY_STATUS.get(status, BadRequest)
    return cls(message or f"HTTP {status}", status=status, code=code, details=details, method=method, path=path)
