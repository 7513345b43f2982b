"""Signed calls to a running simulator's REST API, as a Kalshi client makes them (for the contract tests)."""

from __future__ import annotations

from typing import Any

import httpx

from kalshi_actor.kalshi.auth import Signer

REST_PREFIX = "/trade-api/v2"


async def kalshi_request(http: httpx.AsyncClient, rest_url: str, signer: Signer | None, method: str, path: str, *,
                         params: dict[str, Any] | None = None, body: Any = None) -> httpx.Response:
    """``METHOD {rest_url}{path}``; signed over ``/trade-api/v2{path}`` (no query string) unless ``signer`` is None."""
    headers = signer.headers(method, REST_PREFIX + path) if signer is not None else {}
    return await http.request(method, rest_url + path, params=params, json=body, headers=headers)
