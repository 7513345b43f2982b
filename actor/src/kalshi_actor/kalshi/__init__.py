"""The Kalshi adapter: wire models, request signing, tick grids and the REST client.

Everything venue-specific lives here; the rest of the project sees exact integers
(prices in pips, counts in hundredths, money in micros) and never JSON or HTTP.
"""

from .auth import KeyLoadError, Signer
from .errors import (
    AuthenticationError,
    BadRequest,
    Conflict,
    KalshiError,
    NotFound,
    PermissionDenied,
    RateLimited,
    RequestTimeout,
    ResponseFormatError,
    ServerError,
    TransportError,
    UnknownOrderOutcome,
)
from .grid import GridError, TickGrid
from .rest import DEMO_URL, PRODUCTION_URL, RateLimits, RestClient, RetryPolicy

__all__ = [
    "DEMO_URL",
    "PRODUCTION_URL",
    "AuthenticationError",
    "BadRequest",
    "Conflict",
    "GridError",
    "KalshiError",
    "KeyLoadError",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "RateLimits",
    "RequestTimeout",
    "ResponseFormatError",
    "RestClient",
    "RetryPolicy",
    "ServerError",
    "Signer",
    "TickGrid",
    "TransportError",
    "UnknownOrderOutcome",
]
