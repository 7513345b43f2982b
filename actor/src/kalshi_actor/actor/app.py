"""The actor's HTTP service: two ports, the public surface and the admin surface.

The public port (``--port``, 8000)
----------------------------------
``GET /rl/actor/health``
    Readiness: 200 when ready, else 503, with a JSON body either way: ``{"ready", "live",
    "reasons"}`` for anyone, and for an authorised caller (below) the whole report
    (:meth:`Health.as_dict` plus the target model, the hot config and the last config
    change). Ready = connected to the exchange, books fresh, a model loaded, not halted and
    not paused; ``reasons`` lists what is missing. ``?probe=live``: liveness, 200 while the
    loop reports itself alive (``Health.alive``), else 503.
``GET /rl/actor/ws``
    The event stream (:mod:`.events`): one snapshot frame, then live events. It takes no
    messages from the client (one closes it with 1008) and frames of at most
    ``MAX_CLIENT_FRAME`` bytes.
``GET /metrics``
    Prometheus text from the actor's own registry.
``GET /``
    The web view's static files, when ``static_dir`` exists (no data: it reads the stream).

The admin port (``--admin-port``, 8081), served from its own thread
---------------------------------------------------------------------
``GET /rl/actor/health`` (and ``?probe=live``)
    The same answers, from a report the loop refreshes every ``HEALTH_REFRESH_S``: it stays
    fast however busy the loop is (Kubernetes probes go here), and a loop that has not
    refreshed it for ``LOOP_STALL_S`` is not live.
``POST /rl/actor/config``
    ``Authorization: Bearer <RL_ACTOR_ADMIN_TOKEN>`` (constant-time compare). Body: a JSON
    object of fields to change (``risk`` may be partial). 401 without or with a wrong token
    (403 when no token is configured: the endpoint is disabled); 400 on malformed JSON, a
    non-object, or unknown fields (nothing applied); 413 over 64 KiB. Otherwise the actor
    applies it (on its own loop) and the reply tells the truth, after the actor's side
    effects (a model reload) are done: ``{"ok", "applied": {field: value}, "refused":
    {field: reason}, "config": {hot fields}}`` with 200 when nothing was refused, 422 when
    something was (the other fields WERE applied).
``GET /metrics``
    As on the public port.

Who sees what
-------------
With ``RL_ACTOR_VIEWER_TOKEN`` set (the operator always sets it), the event stream needs that
token (``Authorization: Bearer``, or the WebSocket subprotocol ``bearer.<token>``, which is how
a browser sends it) and the health report's detail needs the viewer or the admin token.
Without it, the public surface is open: a local run on 127.0.0.1. Either way a browser may
open the event stream only from the page's own origin or one of ``allowed_origins``: a page
elsewhere in the user's browser cannot read positions from ``ws://127.0.0.1``. The admin port
is meant to be reachable by the operator only (the chart's NetworkPolicy); ``/metrics`` by
Prometheus.

The interface the loop implements (:class:`ServedActor`)
---------------------------------------------------------
``create_app(actor)`` needs an object with:

- ``config: ActorConfig`` -- the running configuration (read for the tokens, the config
  file, the target model; replaced by the actor when a change applies).
- ``events: EventHub`` -- created by the actor with ``EventHub(snapshot=self.snapshot)``;
  ``snapshot()`` returns the JSON-able state a web view starts from (status, model,
  positions, P&L); the hub adds the recent events.
- ``metrics: ActorMetrics`` -- the actor's metrics.
- ``health() -> Health`` -- cheap and synchronous.
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
- ``async halt()`` -- the first step of a shutdown, started from the signal handler before
  anything that may wait on a client: stop deciding, cancel own resting orders, bounded.
- ``async stop()`` -- the last step: release the connections. The hub is closed between.

The app also runs the :class:`~.config.ConfigFileWatcher` when ``config.config_file`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import orjson
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import SecretStr

from .. import serving
from .config import ActorConfig, ConfigChange, ConfigError, ConfigFileWatcher, unknown_fields
from .events import CLOSE_POLICY, EventHub
from .metrics import CONTENT_TYPE_LATEST, ActorMetrics

log = logging.getLogger(__name__)

__all__ = [
    "CONFIG_PATH",
    "HEALTH_PATH",
    "METRICS_PATH",
    "SUBPROTOCOL",
    "WS_PATH",
    "Endpoints",
    "Health",
    "ServedActor",
    "create_admin_app",
    "create_app",
    "running",
    "serve",
]

HEALTH_PATH = "/rl/actor/health"
WS_PATH = "/rl/actor/ws"
CONFIG_PATH = "/rl/actor/config"
METRICS_PATH = "/metrics"
SUBPROTOCOL = "kalshi-actor.v1"  # chosen when the client offers it (a browser that sends its token that way)
TOKEN_SUBPROTOCOL = "bearer."
MAX_CONFIG_BODY = 64 * 1024
MAX_CLIENT_FRAME = 4096  # the event stream takes no messages: a small bound for what a client may send
HEALTH_REFRESH_S = 0.5
LOOP_STALL_S = 30.0  # the admin port's liveness fails when the loop has not refreshed the report for this long


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
    async def halt(self) -> None: ...
    async def stop(self) -> None: ...


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=dict(headers or {}))


def _matches(given: str | None, token: SecretStr | None) -> bool:
    return given is not None and token is not None and hmac.compare_digest(
        given.encode(), token.get_secret_value().encode())


def _bearer(headers: Mapping[str, str], subprotocols: Iterable[str] = ()) -> str | None:
    """The token a caller presents: ``Authorization: Bearer``, or a ``bearer.<token>`` subprotocol."""
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and given.strip():
        return given.strip()
    for protocol in subprotocols:
        if protocol.startswith(TOKEN_SUBPROTOCOL):
            return protocol[len(TOKEN_SUBPROTOCOL):]
    return None


def _origin_allowed(headers: Mapping[str, str], allowed: Sequence[str]) -> bool:
    """No Origin (not a browser), the page's own origin, or one the configuration allows."""
    origin = headers.get("origin")
    if origin is None:
        return True
    origin = origin.lower().rstrip("/")
    return origin in allowed or urlsplit(origin).netloc == headers.get("host", "").lower()


@dataclass
class _Report:
    """One health answer: (ready, live, body), and when the loop made it (monotonic)."""

    ready: bool
    alive: bool
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class _Service:
    """The app's own state: the serialised apply path, the file watcher, the last change, the health report."""

    def __init__(self, actor: ServedActor, environ: Mapping[str, str] | None, watch_interval: float) -> None:
        self.actor = actor
        self.environ = environ
        self.watch_interval = watch_interval
        self.lock = asyncio.Lock()
        self.watcher: ConfigFileWatcher | None = None
        self.last_change: dict[str, Any] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the actor's loop (the admin thread calls into it)
        self.report: _Report | None = None  # written on the loop, read by the admin thread
        self.created = time.monotonic()
        self._refresher: asyncio.Task[None] | None = None

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
        self.refresh()
        return change

    async def apply_from_file(self, changes: dict[str, Any]) -> ConfigChange:
        return await self.apply(changes, "file")

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.actor.start()
        path = self.actor.config.config_file
        if path is not None:
            self.watcher = ConfigFileWatcher(path, self.apply_from_file, environ=self.environ,
                                             interval=self.watch_interval)
            self.watcher.start()
        self.refresh()
        self._refresher = asyncio.create_task(self._refresh_every(), name="health-report")

    async def halt(self) -> None:
        """The shutdown's first step (``serving``'s on_exit): the actor halts, then the clients are told."""
        try:
            await self.actor.halt()
        finally:
            await self.actor.events.close()

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        if self.watcher is not None:
            await self.watcher.stop()
        try:
            await self.actor.stop()
        finally:
            await self.actor.events.close()

    async def _refresh_every(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_REFRESH_S)
            self.refresh()

    def refresh(self) -> None:
        self.report = self.health_report()

    def authorised(self, headers: Mapping[str, str], subprotocols: Iterable[str] = ()) -> bool:
        """May this caller see the actor's state (the stream, the health detail)? See the module docstring."""
        config = self.actor.config
        if config.viewer_token is None:
            return True
        given = _bearer(headers, subprotocols)
        return _matches(given, config.viewer_token) or _matches(given, config.admin_token)

    def health_report(self) -> _Report:
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
        return _Report(not reasons, health.alive, body)


def _health_response(report: _Report, probe: str, detail: bool) -> JSONResponse:
    if probe not in ("ready", "live"):
        return _error(400, "bad_request", "probe is 'ready' (default) or 'live'")
    body = report.body if detail else {name: report.body[name] for name in ("ready", "live", "reasons")}
    ok = report.alive if probe == "live" else report.ready
    return JSONResponse(body, status_code=200 if ok else 503)


def create_app(actor: ServedActor, *, static_dir: str | Path | None = None,
               environ: Mapping[str, str] | None = None, watch_interval: float = 1.0) -> FastAPI:
    """The actor's public app (see the module docstring); :func:`create_admin_app` makes its admin twin.
    ``environ``: what the config file watcher treats as set by the environment (default ``os.environ``)."""
    service = _Service(actor, environ, watch_interval)
    actor.metrics.track_event_hub(actor.events)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title="Kalshi RL actor", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service

    @app.get(HEALTH_PATH)
    async def health(request: Request, probe: str = "ready") -> JSONResponse:
        return _health_response(service.health_report(), probe, service.authorised(request.headers))

    @app.websocket(WS_PATH)
    async def events(websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols") or []
        if not _origin_allowed(websocket.headers, actor.config.allowed_origins):
            log.warning("events: refused a WebSocket from origin %r", websocket.headers.get("origin", "")[:200])
            await websocket.close(CLOSE_POLICY)  # before accept: the client gets HTTP 403
            return
        if not service.authorised(websocket.headers, offered):
            await websocket.close(CLOSE_POLICY)
            return
        await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        await actor.events.serve(websocket)

    @app.get(METRICS_PATH)
    async def metrics() -> Response:
        return Response(actor.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    if static_dir is not None and Path(static_dir).is_dir():
        app.mount("/", StaticFiles(directory=static_dir, html=True), name="web")
    return app


def create_admin_app(public: FastAPI) -> FastAPI:
    """The admin app of ``public`` (:func:`create_app`), served from its own thread: it reads the
    report the loop refreshes and hands changes to the loop, never touching the actor's state itself."""
    service: _Service = public.state.service
    actor = service.actor
    app = FastAPI(title="Kalshi RL actor (admin)", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get(HEALTH_PATH)
    async def health(request: Request, probe: str = "ready") -> JSONResponse:
        report = service.report
        stalled = time.monotonic() - (report.at if report is not None else service.created)
        if report is None or stalled > LOOP_STALL_S:
            why = "starting" if report is None else f"the actor's loop has not answered for {stalled:.0f} s"
            report = _Report(False, stalled <= LOOP_STALL_S, {"ready": False, "live": stalled <= LOOP_STALL_S,
                                                               "reasons": [why]})
        return _health_response(report, probe, service.authorised(request.headers))

    @app.post(CONFIG_PATH)
    async def change_config(request: Request) -> Response:
        token = actor.config.admin_token
        if token is None:
            return _error(403, "disabled", "the admin endpoint is disabled: set RL_ACTOR_ADMIN_TOKEN")
        if not _matches(_bearer(request.headers), token):
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
        if service.loop is None:
            return _error(503, "starting", "the actor is starting")
        try:
            body, ok = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_apply(changes), service.loop))
        except ConfigError as exc:
            return _error(400, "unknown_fields", f"unknown fields: {', '.join(exc.problems)}; nothing applied")
        return JSONResponse(body, status_code=200 if ok else 422)

    async def _apply(changes: dict[str, Any]) -> tuple[dict[str, Any], bool]:  # on the actor's loop
        change = await service.apply(changes, "admin")
        return {**change.as_dict(), "config": change.config.hot_dict()}, change.ok

    @app.get(METRICS_PATH)
    async def metrics() -> Response:
        return Response(actor.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app


# --- serving ------------------------------------------------------------------------------------


_PUBLIC_OPTIONS = {"ws_max_size": MAX_CLIENT_FRAME}


async def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, *, admin_host: str = "127.0.0.1",
                admin_port: int = 8081) -> None:
    """Serve both ports until SIGINT/SIGTERM. The shutdown (``serving``'s order) first halts the actor
    (stop deciding, cancel our orders) and tells the stream's clients, then closes connections, bounded.

    uvicorn's ``websockets-sansio`` (with backpressure): a slow client blocks its own send, so its bounded
    queue fills and it is dropped; keepalive pings."""
    service: _Service = app.state.service
    admin = serving.bind(admin_host, admin_port)
    public = serving.bind(host, port)
    with serving.running_in_thread(create_admin_app(app), admin, "actor-admin"):
        await serving.serve(app, public, on_exit=service.halt, **_PUBLIC_OPTIONS)


@dataclass(frozen=True)
class Endpoints:
    """Where :func:`running` serves: the public and the admin base URLs."""

    url: str
    admin_url: str


@contextlib.asynccontextmanager
async def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[Endpoints]:
    """Serve both ports of ``app`` (free ones) in the current process for the block, with the shutdown
    order of :func:`serve`."""
    service: _Service = app.state.service
    admin = serving.bind(host, 0)
    with serving.running_in_thread(create_admin_app(app), admin, "actor-admin"):
        async with serving.running(app, host, port, on_exit=service.halt, **_PUBLIC_OPTIONS) as sock:
            yield Endpoints(serving.base_url(sock), serving.base_url(admin))
