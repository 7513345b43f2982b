"""The simulator's HTTP server: Kalshi's REST and WebSocket protocol on one port, plus an admin API.

``/trade-api/v2/...``     REST, as Kalshi serves it (sim.rest_api)
``/trade-api/ws/v2``      WebSocket, as Kalshi serves it (sim.ws_api)
``/sim/admin/...``        simulator controls (faults, keys, clock, market lifecycle); not part of
                          Kalshi's protocol, unauthenticated, and meant for 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import serving
from ..kalshi.auth import load_public_key
from ..units import format_money
from . import rest_api, ws_api
from .auth import KeyRing
from .faults import Faults
from .feed import FeedHub
from .world import World

log = logging.getLogger(__name__)

REST_PREFIX = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"
ADMIN_PREFIX = "/sim/admin"


class Simulator:
    """One exchange: the world (engine, clock, synthetic traders), its keys, faults and WebSocket feed."""

    def __init__(self, world: World, keyring: KeyRing | None = None, faults: Faults | None = None,
                 initial_balance: int = 10_000 * 1_000_000) -> None:
        self.world = world
        self.engine = world.engine
        self.keyring = keyring or KeyRing()
        self.faults = faults or Faults()
        self.initial_balance = initial_balance
        self.hub = FeedHub(self.engine)
        self.ledger = rest_api.Ledger(self.engine, keep=self.keyring.__contains__)  # fills/settlements history
        for key_id in self.keyring:
            self._open_account(key_id)

    def add_key(self, key_id: str, public_key_pem: str) -> None:
        """Register an API key; each key trades its own account, opened with the initial balance."""
        self.keyring.add(key_id, load_public_key(public_key_pem))
        self._open_account(key_id)

    def _open_account(self, key_id: str) -> None:
        if key_id not in self.engine.accounts:
            self.engine.open_account(key_id, self.initial_balance)


def _error_body(code: str, message: str, details: str = "") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def create_app(sim: Simulator) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sim.world.start()
        try:
            yield
        finally:
            await sim.world.stop()
            await sim.hub.close()

    app = FastAPI(title="Kalshi exchange simulator", lifespan=lifespan,
                  docs_url=f"{ADMIN_PREFIX}/docs", openapi_url=f"{ADMIN_PREFIX}/openapi.json", redoc_url=None)
    app.state.sim = sim

    # Starlette's HTTPException is FastAPI's base class: this also renders the router's own
    # 404 (no such route) and 405 (method not allowed) in Kalshi's shape, not {"detail": ...}.
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, dict) else {"code": _code_for(exc.status_code),
                                                                   "message": str(exc.detail)}
        return JSONResponse(_error_body(detail.get("code", ""), detail.get("message", ""),
                                          detail.get("details", "")), status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse(_error_body("invalid_parameters", "invalid request", problems), status_code=400)

    @app.middleware("http")
    async def _inject_faults(request: Request, call_next):
        # Only Kalshi's REST surface misbehaves; the admin API must stay reachable to switch faults off.
        if request.url.path.startswith(REST_PREFIX):
            if sim.faults.roll(sim.faults.rate_429):
                return JSONResponse(_error_body("too_many_requests", "too many requests"), status_code=429)
            if sim.faults.roll(sim.faults.rate_5xx):
                return JSONResponse(_error_body("service_unavailable", "injected fault"), status_code=503)
        return await call_next(request)

    app.include_router(rest_api.router, prefix=REST_PREFIX)
    app.include_router(ws_api.router)
    app.include_router(_admin_router(sim), prefix=ADMIN_PREFIX)
    return app


def _code_for(status: int) -> str:
    return {400: "bad_request", 401: "authentication_error", 404: "not_found", 405: "method_not_allowed",
            409: "conflict", 429: "too_many_requests"}.get(status, "internal_server_error")


class _NewKey(BaseModel):
    key_id: str
    public_key_pem: str


class _Advance(BaseModel):
    ms: int


def _admin_router(sim: Simulator) -> APIRouter:
    router = APIRouter(tags=["admin"])

    @router.get("")
    async def state() -> dict[str, Any]:
        engine = sim.engine
        return {
            "now_ms": engine.now_ms(),
            "clock": sim.world.clock_kind,
            "markets": len(engine.markets),
            "accounts": {name: format_money(engine.accounts[name].balance) for name in sim.keyring},
            "faults": sim.faults.model_dump(),
            "connections": sim.hub.connection_count,
        }

    @router.get("/faults")
    async def get_faults() -> Faults:
        return sim.faults

    @router.patch("/faults")
    async def set_faults(changes: dict[str, Any]) -> Faults:
        try:
            for name, value in changes.items():
                if name not in Faults.model_fields:
                    raise ValueError(f"unknown fault {name!r}")
                setattr(sim.faults, name, value)
        except ValueError as exc:
            raise HTTPException(400, detail={"code": "invalid_parameters", "message": str(exc)}) from None
        if sim.faults.drop_connections:
            await sim.hub.drop_connections(sim.faults)
        return sim.faults

    @router.post("/keys", status_code=201)
    async def add_key(body: _NewKey) -> dict[str, str]:
        try:
            sim.add_key(body.key_id, body.public_key_pem)
        except ValueError as exc:
            raise HTTPException(400, detail={"code": "invalid_parameters", "message": str(exc)}) from None
        return {"key_id": body.key_id, "balance_dollars": format_money(sim.engine.accounts[body.key_id].balance)}

    @router.post("/clock/advance")
    async def advance(body: _Advance) -> dict[str, int]:
        if sim.world.clock_kind != "virtual":
            raise HTTPException(409, detail={"code": "conflict", "message": "the clock is real time"})
        sim.world.run_for(body.ms)
        return {"now_ms": sim.engine.now_ms()}

    @router.post("/markets/{ticker}/close")
    async def close(ticker: str) -> dict[str, str]:
        _market(ticker)
        sim.engine.close_market(ticker)
        return {"ticker": ticker, "status": sim.engine.markets[ticker].status.value}

    @router.post("/markets/{ticker}/settle")
    async def settle(ticker: str, result: str) -> dict[str, str]:
        _market(ticker)
        if result not in ("yes", "no"):
            raise HTTPException(400, detail={"code": "invalid_parameters", "message": "result must be yes or no"})
        sim.engine.settle_market(ticker, result)  # type: ignore[arg-type]
        return {"ticker": ticker, "status": sim.engine.markets[ticker].status.value}

    def _market(ticker: str) -> None:
        if ticker not in sim.engine.markets:
            raise HTTPException(404, detail={"code": "not_found", "message": f"no market {ticker}"})

    return router


@dataclass(frozen=True)
class Urls:
    rest: str
    ws: str
    admin: str

    def as_dict(self) -> dict[str, str]:
        return {"rest": self.rest, "ws": self.ws, "admin": self.admin}


def urls_of(sock: socket.socket) -> Urls:
    base = serving.base_url(sock)
    ws = serving.base_url(sock, "ws")
    return Urls(f"{base}{REST_PREFIX}", f"{ws}{WS_PATH}", f"{base}{ADMIN_PREFIX}")


def bind(host: str, port: int) -> tuple[socket.socket, Urls]:
    """Bind first, so ``port=0`` yields a known free port (printed) before serving."""
    sock = serving.bind(host, port)
    return sock, urls_of(sock)


_SERVER_OPTIONS = {"ws": "websockets", "ws_ping_interval": None}  # ws_api sends Kalshi's own heartbeat


async def serve(sim: Simulator, sock: socket.socket) -> None:
    """Serve until cancelled (or SIGINT/SIGTERM)."""
    await serving.serve(create_app(sim), sock, **_SERVER_OPTIONS)


@contextlib.asynccontextmanager
async def running(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[Urls]:
    """Run the simulator in the current event loop for the duration of the block (tests, embedding)."""
    async with serving.running(create_app(sim), host, port, **_SERVER_OPTIONS) as sock:
        yield urls_of(sock)
