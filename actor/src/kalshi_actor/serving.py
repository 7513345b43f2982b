"""Serving a FastAPI app with uvicorn: the simulator's and the actor's one way to listen.

The socket is bound first, so ``port=0`` yields a known free port before serving (tests,
``kalshi-actor sim`` printing its endpoints), and with ``IPPROTO_TCP`` so asyncio turns on
TCP_NODELAY (without it every small response waits ~40 ms for Nagle).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import warnings
from collections.abc import AsyncIterator
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI

WsImpl = Literal["websockets", "websockets-sansio"]


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def base_url(sock: socket.socket, scheme: str = "http") -> str:
    host, port = sock.getsockname()[:2]
    return f"{scheme}://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"{scheme}://{host}:{port}"


def server(app: FastAPI, ws: WsImpl = "websockets-sansio", **options: Any) -> uvicorn.Server:
    """``ws``: uvicorn's WebSocket implementation. The simulator keeps the legacy ``websockets`` one,
    the only one that exposes ping() for Kalshi's heartbeat; its deprecation notice is not the user's concern."""
    if ws == "websockets":
        warnings.filterwarnings("ignore", message="The `websockets` implementation is deprecated")
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", ws=ws, lifespan="on", **options))


async def serve(app: FastAPI, sock: socket.socket, ws: WsImpl = "websockets-sansio", **options: Any) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's handlers run the app's shutdown)."""
    try:
        await server(app, ws, **options).serve(sockets=[sock])
    finally:
        sock.close()


@contextlib.asynccontextmanager
async def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0, ws: WsImpl = "websockets-sansio",
                  **options: Any) -> AsyncIterator[socket.socket]:
    """Serve ``app`` in the current event loop for the block (tests, embedding); yields the bound socket."""
    sock = bind(host, port)
    srv = server(app, ws, **options)
    srv.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the host owns signals
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    try:
        while not srv.started:
            if task.done():
                task.result()  # raises the startup error
                raise RuntimeError("the server stopped during startup")
            await asyncio.sleep(0.01)
        yield sock
    finally:
        srv.should_exit = True
        await task
        sock.close()
