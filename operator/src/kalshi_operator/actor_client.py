"""Talking to a running actor over HTTP: its health, its config pushes, its metrics.

The operator never imports the actor's code: it uses the actor's ADMIN port
(``GET /rl/actor/health``, ``POST /rl/actor/config``, ``GET /metrics``), sending the admin token
on every request: without it the health is only ``{ready, live, reasons}`` (what the kubelet
needs), not the model, config and risk state the status is made of.

Addresses
---------
An actor is reached through its Service's admin port (``http://NAME.NAMESPACE.svc:8081``; the
Service publishes not-ready addresses, so a paused or halted actor is still reachable; the
actor's NetworkPolicy admits only the operator's pods to it). :func:`set_resolver` replaces
that mapping, and ``KALSHI_OPERATOR_ENDPOINTS`` (JSON, ``{"namespace/name":
"http://127.0.0.1:ADMIN_PORT"}``) overrides it per actor: the one stand-in the cluster-less
tests use, where no cluster DNS exists and the actor listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from .builders import ADMIN_PORT

__all__ = ["ActorClient", "ActorUnreachable", "Health", "PushResult", "resolve", "same_config", "set_resolver"]

ENDPOINTS_ENV = "KALSHI_OPERATOR_ENDPOINTS"
_HEALTH = "/rl/actor/health"
_CONFIG = "/rl/actor/config"
_METRICS = "/metrics"
_READ_TIMEOUT = aiohttp.ClientTimeout(total=5, sock_connect=2)
_PUSH_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=2)  # the reply waits for the model to load

Resolver = Callable[[str, str], str]


def service_url(namespace: str, name: str) -> str:
    return f"http://{name}.{namespace}.svc:{ADMIN_PORT}"


_resolver: Resolver = service_url


def set_resolver(resolver: Resolver | None) -> None:
    """Replace how an actor's base URL is found (``None``: back to its Service's DNS name)."""
    global _resolver
    _resolver = resolver or service_url


def resolve(namespace: str, name: str) -> str:
    """The base URL of actor ``namespace/name``."""
    overrides = os.environ.get(ENDPOINTS_ENV)
    if overrides:
        url = json.loads(overrides).get(f"{namespace}/{name}")
        if url:
            return url.rstrip("/")
    return _resolver(namespace, name).rstrip("/")


class ActorUnreachable(Exception):
    """No answer from the actor (no pod yet, starting, or the network)."""


@dataclass(frozen=True)
class Health:
    """The actor's health report (``GET /rl/actor/health``) and its account figures from ``/metrics``."""

    ready: bool
    body: Mapping[str, Any]
    pnl_total: str | None = None

    @property
    def active_model_id(self) -> str | None:
        return self.body.get("active_model_id")

    @property
    def config(self) -> Mapping[str, Any]:
        return self.body.get("config") or {}


@dataclass(frozen=True)
class PushResult:
    status: int
    applied: Mapping[str, Any]
    refused: Mapping[str, str]


class ActorClient:
    """One actor's admin port. ``token``: the admin bearer token (from the per-actor Secret), sent every time."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self._token = token
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def health(self, *, with_metrics: bool = True) -> Health:
        """The full health (and the P&L from ``/metrics``); ActorUnreachable when the token is not accepted."""
        try:
            async with aiohttp.ClientSession(timeout=_READ_TIMEOUT, headers=self._headers) as session:
                async with session.get(self.base_url + _HEALTH) as response:
                    if response.status not in (200, 503):
                        raise ActorUnreachable(f"health answered {response.status}")
                    body = await response.json(content_type=None)
                if not isinstance(body, dict) or "config" not in body:
                    # the summary anyone gets: a status made from it would claim "no model", so say why instead
                    raise ActorUnreachable(f"{self.base_url}: the health gave only its public summary (the admin "
                                           f"token was {'refused' if self._token else 'not known'})")
                pnl = None
                if with_metrics:
                    async with session.get(self.base_url + _METRICS) as response:
                        if response.status == 200:
                            pnl = _pnl_total(await response.text())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ActorUnreachable(f"{self.base_url}: {type(exc).__name__}: {exc}") from None
        return Health(ready=bool(body.get("ready")), body=body, pnl_total=pnl)

    async def push(self, changes: Mapping[str, Any]) -> PushResult:
        """``POST /rl/actor/config``: the actor applies what it can (200) or says what it refused (422)."""
        if not self._token:
            raise ActorUnreachable("no admin token")
        try:
            async with aiohttp.ClientSession(timeout=_PUSH_TIMEOUT, headers=self._headers) as session:
                async with session.post(self.base_url + _CONFIG, json=dict(changes)) as response:
                    body = await response.json(content_type=None)
                    status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ActorUnreachable(f"{self.base_url}: {type(exc).__name__}: {exc}") from None
        if status in (200, 422):
            return PushResult(status, body.get("applied") or {}, body.get("refused") or {})
        message = (body.get("error") or {}).get("message", "") if isinstance(body, dict) else ""
        return PushResult(status, {}, {"request": f"the admin endpoint answered {status}: {message}"})


def _pnl_total(text: str) -> str | None:
    for family in text_string_to_metric_families(text):
        if family.name == "kalshi_actor_pnl_dollars":
            for sample in family.samples:
                if sample.labels.get("kind") == "total":
                    return f"{sample.value:.2f}"
    return None


def _normal(value: Any) -> Any:
    """Numbers in any spelling compare equal (``"100"`` == ``"100.00"`` == ``100``)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, str)):
        try:
            return Decimal(str(value)).normalize()
        except InvalidOperation:
            return value
    if isinstance(value, Mapping):
        return {key: _normal(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normal(item) for item in value]
    return value


def same_config(wanted: Mapping[str, Any], reported: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``wanted`` whose value differs from what the actor reports (``{}``: in effect)."""
    return {key: value for key, value in wanted.items() if _normal(value) != _normal(reported.get(key))}
