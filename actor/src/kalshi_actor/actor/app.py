"""The actor's HTTP service: health, the events WebSocket, the admin endpoint, metrics, the web view.

Endpoints
---------
``GET /rl/actor/health``
    Readiness: 200 when ready, else 503, with a JSON body either way (:meth:`Health.as_dict`
    plus the target model, the hot config and the last config change). Ready = connected to
    the exchange, books fresh, a model loaded, not halted and not paused; ``reasons`` lists
    what is missing.
``GET /rl/actor/health?probe=live``
    Liveness: 200 while the process serves requests and the loop reports itself alive
    (``Health.alive``), else 503. Kubernetes: ``livenessProbe`` on ``?probe=live``,
    ``readinessProbe`` on the plain path. A halted actor is not ready, so a Service that
    must keep showing its web view should set ``publishNotReadyAddresses: true``.
``GET /rl/actor/ws``
    The event stream (:mod:`.events`): one snapshot frame, then live events.
``POST /rl/actor/config``
    ``Authorization: Bearer <RL_ACTOR_ADMIN_TOKEN>`` (constant-time compare). Body: a JSON
    object of fields to change (``risk`` may be partial). 401 without or with a wrong token
    (403 when no token is configured: the endpoint is disabled); 400 on malformed JSON, a
    non-object, or unknown fields (nothing applied); 413 over 64 KiB. Otherwise the actor
    applies it and the reply tells the truth, after the actor's side effects (a model
    reload) are done: ``{"ok", "applied": {field: value}, "refused": {field: reason},
    "config": {hot fields}}`` with 200 when nothing was refused, 422 when something was
    (the other fields WERE applied).
``GET /metrics``
    Prometheus text from the actor's own registry.
``GET /``
    The web view's static files, when ``static_dir`` exists.

The interface the loop implements (:class:`ServedActor`)
---------------------------------------------------------
``create_app(actor)`` needs an object with:

- ``config: ActorConfig`` -- the running configuration (read for the admin token, the
  config file, the target model; replaced by the actor when a change applies).
- ``events: EventHub`` -- created by the actor with ``EventHub(snapshot=self.snapshot)``;
  ``snapshot()`` returns the JSON-able state a web view starts from (status, model,
  positions, P&L); the hub adds the recent events.
- ``metrics: ActorMetrics`` -- the actor's metrics.
- ``health() -> Health`` -- cheap and synchronous (called on every probe).
- ``async apply_config(changes: dict) -> ConfigChange`` -- the ONE path of a live change
  (admin endpoint and config file watcher both call it, never concurrently: the app
  serialises calls). It calls :func:`~.config.apply_changes` on ``self.config``, performs
  the side effects of ``change.applied`` (model reload off the loop, validated, swapped
  between ticks; markets re-subscribed; risk limits; pause), turns a failed side effect
  into ``change.refuse(field, reason)``, installs ``change.config`` and returns the change.
  A re-sent ``model_id`` equal to the current one is not in ``applied``; the actor may
  still look at ``changes`` (e.g. ``""`` = re-resolve ``latest``).
- ``async start()`` -- called at app startup; returns promptly (start background tasks:
  model load, reconciliation, subscriptions), so health is served while starting.
- ``async stop()`` -- called at shutdown (SIGTERM): stop deciding, cancel own resting
  orders, within a bounded time. The hub is closed after it.

The app also runs the :class:`~.config.ConfigFileWatcher` when ``config.config_file`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from .. import serving
from .config import ActorConfig, ConfigChange, ConfigError, ConfigFileWatcher, unknown_fields
from .events import EventHub
from .metrics import CONTENT_TYPE_LATEST, ActorMetrics

log = logging.getLogger(__name__)

__all__ = [
    "CONFIG_PATH",
    "HEALTH_PATH",
    "METRICS_PATH",
    "WS_PATH",
    "Health",
    "ServedActor",
    "create_app",
    "running",
    "serve",
]

HEALTH_PATH = "/rl/actor/health"
WS_PATH = "/rl/actor/ws"
CONFIG_PATH = "/rl/actor/config"
METRICS_PATH = "/metrics"
MAX_CONFIG_BODY = 64 * 1024


@dataclass(frozen=True)
class Health:
    """What the loop reports about itself (``ServedActor.health()``).

    ``connected``: the exchange WebSocket is connected (and REST reachable). ``books_fresh``:
    every subscribed book is live (snapshot received, no unhealed gap); False when none is
    subscribed. ``risk_state``: ``"ACTIVE"`` | ``"REDUCING"`` | ``"HALTED"`` (or a
    :class:`~.risk.RiskState`).
    ``active_model``: the serving model, e.g. ``{"id", "algorithm", "loaded_at_ms"}``, or None.
    ``last_reload``: e.g. ``{"ok": False, "model_id", "message", "ts_ms"}``. ``last_error``:
    e.g. ``{"message", "ts_ms"}``. ``alive``: False only when the loop cannot recover (the
    liveness probe fails and the pod restarts). ``details``: anything else worth showing.
    Never a secret.
    """

    connected: bool
    books_fresh: bool
    risk_state: str
    active_model: Mapping[str, Any] | None = None
    markets: Sequence[str] = ()
    last_reload: Mapping[str, Any] | None = None
    last_error: Mapping[str, Any] | None = None
    alive: bool = True
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # accept the risk module's enum (its ``name`` is the state) as well as a string
        object.__setattr__(self, "risk_state", str(getattr(self.risk_state, "name", self.risk_state)).upper())

    def not_ready_reasons(self, paused: bool = False) -> list[str]:
        """Why the actor is not ready (empty when it is)."""
        reasons = []
        if not self.alive:
            reasons.append("the loop is not alive")
        if not self.connected:
            reasons.append("not connected to the exchange")
        if not self.books_fresh:
            reasons.append("books not fresh" if self.markets else "no market subscribed")
        if self.active_model is None:
            reasons.append("no model loaded")
        if self.risk_state == "HALTED":
            reasons.append("halted")
        if paused:
            reasons.append("paused")
        return reasons

    def as_dict(self) -> dict[str, Any]:
        return {
            "connected": self.connected, "books_fresh": self.books_fresh, "risk_state": self.risk_state,
            "active_model": dict(self.active_model) if self.active_model is not None else None,
            "active_model_id": (self.active_model or {}).get("id"),
            "markets": list(self.markets), "last_reload": _plain(self.last_reload),
            "last_error": _plain(self.last_error), "alive": self.alive, "details": dict(self.details),
        }


def _plain(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(value) if value is not None else None


@runtime_checkable
class ServedActor(Protocol):
    """The loop, as the service sees it (see the module docstring)."""

    config: ActorConfig
    events: EventHub
    metrics: ActorMetrics

    def health(self) -> Health: ...
    async def apply_config(self, changes: dict[str, Any]) -> ConfigChange: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=dict(headers or {}))


class _Service:
    """The app's own state: the serialised apply path, the file watcher, the last change."""

    def __init__(self, actor: ServedActor, environ: Mapping[str, str] | None, watch_interval: float) -> None:
        self.actor = actor
        self.environ = environ
        self.watch_interval = watch_interval
        self.lock = asyncio.Lock()
        self.watcher: ConfigFileWatcher | None = None
        self.last_change: dict[str, Any] | None = None

    async def apply(self, changes: dict[str, Any], source: str) -> ConfigChange:
        """The one path of a live change (admin endpoint and config file)."""
        unknown = unknown_fields(changes)
        if unknown:
            raise ConfigError({name: "unknown field" for name in unknown}, title="unknown configuration fields")
        async with self.lock:
            change = await self.actor.apply_config(changes)
        self.actor.metrics.config_change(len(change.applied), len(change.refused))
        self.last_change = {"source": source, "ts_ms": time.time_ns() // 1_000_000, **change.as_dict()}
        log.info("config change from %s: applied %s; refused %s", source, sorted(change.applied) or "nothing",
                 change.refused or "nothing")
        return change

    async def apply_from_file(self, changes: dict[str, Any]) -> ConfigChange:
        return await self.apply(changes, "file")

    def start_watcher(self) -> None:
        path = self.actor.config.config_file
        if path is not None:
            self.watcher = ConfigFileWatcher(path, self.apply_from_file, environ=self.environ,
                                             interval=self.watch_interval)
            self.watcher.start()

    def health_body(self) -> tuple[bool, bool, dict[str, Any]]:
        config = self.actor.config
        try:
            health = self.actor.health()
        except Exception as exc:
            log.exception("health(): the actor's report failed")
            health = Health(connected=False, books_fresh=False, risk_state="UNKNOWN",
                            last_error={"message": f"health report failed: {type(exc).__name__}"})
        reasons = health.not_ready_reasons(paused=config.paused)
        body = {
            "ready": not reasons, "live": health.alive, "reasons": reasons,
            "name": config.name, "environment": config.environment,
            "target_model_id": config.model_id, "paused": config.paused,
            **health.as_dict(),
            "config": config.hot_dict(),
            "last_config_change": self.last_change,
            "config_file": None if self.watcher is None else {
                "path": str(self.watcher.path), "last_error": self.watcher.last_error},
            "ws_clients": self.actor.events.client_count,
        }
        return not reasons, health.alive, body


def create_app(actor: ServedActor, *, static_dir: str | Path | None = None,
               environ: Mapping[str, str] | None = None, watch_interval: float = 1.0) -> FastAPI:
    """The actor's FastAPI app (see the module docstring). ``environ``: what the config file
    watcher treats as set by the environment (default ``os.environ``)."""
    service = _Service(actor, environ, watch_interval)
    actor.metrics.track_event_hub(actor.events)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await actor.start()
        service.start_watcher()
        try:
            yield
        finally:
            if service.watcher is not None:
                await service.watcher.stop()
            try:
                await actor.stop()
            finally:
                await actor.events.close()

    app = FastAPI(title="Kalshi RL actor", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service

    @app.get(HEALTH_PATH)
    async def health(probe: str = "ready") -> JSONResponse:
        if probe not in ("ready", "live"):
            return _error(400, "bad_request", "probe is 'ready' (default) or 'live'")
        ready, alive, body = service.health_body()
        ok = alive if probe == "live" else ready
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.websocket(WS_PATH)
    async def events(websocket: WebSocket) -> None:
        await websocket.accept()
        await actor.events.serve(websocket)

    @app.post(CONFIG_PATH)
    async def change_config(request: Request) -> Response:
        token = actor.config.admin_token
        if token is None:
            return _error(403, "disabled", "the admin endpoint is disabled: set RL_ACTOR_ADMIN_TOKEN")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            return _error(401, "unauthorized", "a valid bearer token is required",
                          {"WWW-Authenticate": 'Bearer realm="kalshi-actor"'})
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_CONFIG_BODY:
            return _error(413, "too_large", f"the body is over {MAX_CONFIG_BODY} bytes")
        raw = await request.body()
        if len(raw) > MAX_CONFIG_BODY:
            return _error(413, "too_large", f"the body is over {MAX_CONFIG_BODY} bytes")
        try:
            changes = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return _error(400, "malformed_json", f"the body is not valid JSON: {exc}")
        if not isinstance(changes, dict):
            return _error(400, "bad_request", f"expected a JSON object of fields to change, got "
                                              f"{type(changes).__name__}")
        try:
            change = await service.apply(changes, "admin")
        except ConfigError as exc:
            return _error(400, "unknown_fields", f"unknown fields: {', '.join(exc.problems)}; nothing applied")
        body = {**change.as_dict(), "config": change.config.hot_dict()}
        return JSONResponse(body, status_code=200 if change.ok else 422)

    @app.get(METRICS_PATH)
    async def metrics() -> Response:
        return Response(actor.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    if static_dir is not None and Path(static_dir).is_dir():
        app.mount("/", StaticFiles(directory=static_dir, html=True), name="web")
    return app


# --- serving ------------------------------------------------------------------------------------


async def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's handlers; shutdown runs the actor's ``stop``).

    uvicorn's ``websockets-sansio``: flow control (a slow client blocks its own send, so its bounded
    queue fills and it is dropped) and keepalive pings."""
    await serving.serve(app, serving.bind(host, port), **options)


@contextlib.asynccontextmanager
async def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` in the current event loop for the block; yields ``http://host:port``."""
    async with serving.running(app, host, port) as sock:
        yield serving.base_url(sock)
