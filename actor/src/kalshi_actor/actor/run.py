"""``kalshi-actor run``: the actor under uvicorn, optionally with the built-in simulator alongside."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..kalshi.auth import generate_rsa_keypair, new_key_id
from .app import create_app, serve
from .config import ActorConfig, configure_logging, load_config
from .loop import Actor

WEB_DIR_ENV = "KALSHI_ACTOR_WEB_DIR"  # not RL_ACTOR_*: the config refuses unknown RL_ACTOR_ variables


@dataclass(frozen=True)
class Listen:
    """Where the actor listens: the public port and the admin port."""

    host: str = "127.0.0.1"
    port: int = 8000
    admin_host: str = "127.0.0.1"
    admin_port: int = 8081


def run(config: ActorConfig, listen: Listen) -> None:
    """Serve the actor until SIGINT/SIGTERM (then it cancels its orders and returns)."""
    static = os.environ.get(WEB_DIR_ENV) or Path(__file__).resolve().parents[3] / "web" / "dist"  # actor/web
    app = create_app(Actor(config), static_dir=static)
    asyncio.run(serve(app, listen.host, listen.port, admin_host=listen.admin_host, admin_port=listen.admin_port))


@contextlib.contextmanager
def simulator(markets: int, seed: int, initial_balance: str) -> Iterator[Mapping[str, str]]:
    """Start ``kalshi-actor sim`` (real clock, a fresh key) as a child process; yields the actor's env settings."""
    with tempfile.TemporaryDirectory(prefix="kalshi-actor-") as keys:
        private_pem, public_pem = generate_rsa_keypair()
        key_id = new_key_id()
        private = Path(keys) / "private.pem"
        private.touch(mode=0o600)
        private.write_text(private_pem)
        proc = subprocess.Popen(
            [sys.executable, "-m", "kalshi_actor.cli", "sim", "--markets", str(markets), "--seed", str(seed),
             "--clock", "real", "--key", f"{key_id}={public_pem}", "--initial-balance", initial_balance],
            stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line:
                raise RuntimeError(f"the simulator did not start (exit status {proc.wait()})")
            urls = json.loads(line)
            print(f"simulator: {urls['rest']} (admin {urls['admin']})", file=sys.stderr, flush=True)
            yield {"RL_ACTOR_ENVIRONMENT": "sim", "RL_ACTOR_REST_URL": urls["rest"], "RL_ACTOR_WS_URL": urls["ws"],
                   "RL_ACTOR_API_KEY_ID": key_id, "RL_ACTOR_PRIVATE_KEY_FILE": str(private)}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def run_with_simulator(environ: Mapping[str, str], listen: Listen, markets: int, seed: int,
                       log_level: str = "INFO") -> None:
    """The local run: a simulator with ``markets`` live markets and an actor trading it. Logging follows the
    configuration (``log_format`` from the environment or the config file), as without the simulator."""
    with simulator(markets, seed, environ.get("RL_ACTOR_INITIAL_CASH", "10000")) as settings:
        config = load_config({**environ, **settings})
        configure_logging(config.log_format, log_level)
        run(config, listen)
