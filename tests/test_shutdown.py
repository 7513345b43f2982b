"""SIGTERM, as Kubernetes sends it, to a real ``kalshi-actor run`` process trading the simulator.

Shutdown cancels first (invariant 7): whatever else is connected, the actor stops deciding and
cancels its resting orders before anything that may wait, then closes its clients (bounded), then
exits 0. The hostile case is a client of the event stream that stopped reading (a browser tab in
the background): uvicorn alone waits for it forever, past the pod's grace period, and SIGKILL
leaves every order resting.

Real parts: the actor and the simulator are separate processes on 127.0.0.1; the exchange's view
is read with signed REST calls.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actor_models import Models, build_models
from kalshi_actor.kalshi.rest import RestClient
from support import actor_health, free_port, stuck_websocket

BIN = Path(sys.executable).parent
PREFIX = "ka-term-"
EXIT_WAIT_S = 40  # below the pod's 45 s grace period: past it, SIGKILL would leave the orders resting


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return build_models(tmp_path_factory.mktemp("registry"))



async def _wait(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached; the actor's log:\n{log.read_text()[-4000:]}")
        await asyncio.sleep(0.1)


async def _resting(rest: RestClient) -> list:
    return [o async for o in rest.iter_orders(status="resting") if o.client_order_id.startswith(PREFIX)]


async def test_sigterm_with_a_client_that_never_reads_cancels_every_order_and_exits_0(
        sim_process, api_key, models: Models, tmp_path: Path) -> None:
    port, admin = free_port(), free_port()
    log = tmp_path / "actor.log"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "RL_ACTOR_ENVIRONMENT": "sim",
           "RL_ACTOR_REST_URL": sim_process["rest"], "RL_ACTOR_WS_URL": sim_process["ws"],
           "RL_ACTOR_API_KEY_ID": api_key.key_id, "RL_ACTOR_PRIVATE_KEY": api_key.private_pem,
           "RL_ACTOR_REGISTRY": str(models.root), "RL_ACTOR_MODEL_ID": models.maker,  # one resting bid a market
           "RL_ACTOR_TICK_INTERVAL": "0.2", "RL_ACTOR_CLIENT_ORDER_PREFIX": PREFIX}
    actor = subprocess.Popen([str(BIN / "kalshi-actor"), "run", "--port", str(port), "--admin-port", str(admin)],
                             env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    rest = RestClient(sim_process["rest"], api_key.signer())
    stuck = None
    try:
        async def ready() -> bool:
            return bool(actor_health(admin).get("ready"))

        async def resting() -> bool:
            return len(await _resting(rest)) >= 2

        await _wait(ready, 60, "the actor ready", log)
        await _wait(resting, 30, "orders resting on the exchange", log)
        stuck, sent = stuck_websocket(port)
        assert sent > 0
        signalled_at = time.time()
        started = time.monotonic()
        actor.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(actor.wait, EXIT_WAIT_S)
        took = time.monotonic() - started
        assert code == 0, log.read_text()[-3000:]
        assert await _resting(rest) == []
        created_after = [o for o in [o async for o in rest.iter_orders()] if o.client_order_id.startswith(PREFIX)
                         and o.created_time is not None and o.created_time.timestamp() > signalled_at + 0.05]
        assert created_after == []  # it stopped deciding at once
        text = log.read_text()
        assert "shutdown:" in text and "order(s) cancelled" in text
        print(f"SIGTERM to exit with a non-reading client: {took:.2f} s")
    finally:
        if stuck is not None:
            stuck.close()
        if actor.poll() is None:
            actor.kill()
            actor.wait()
        await rest.aclose()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


async def test_sigterm_to_a_local_run_stops_its_simulator_removes_its_key_and_it_logs_as_configured(models: Models, tmp_path: Path) -> None:
    port, admin = free_port(), free_port()
    log = tmp_path / "actor.log"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    config = tmp_path / "actor.yaml"  # as the pod gets it: a ConfigMap's file (its log format counts with --sim too)
    config.write_text("log_format: json\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TMPDIR": str(tmpdir), "RL_ACTOR_CONFIG_FILE": str(config),
           "RL_ACTOR_REGISTRY": str(models.root), "RL_ACTOR_MODEL_ID": models.hold}
    actor = subprocess.Popen([str(BIN / "kalshi-actor"), "run", "--sim", "--sim-markets", "2", "--port", str(port),
                              "--admin-port", str(admin)], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        async def ready() -> bool:
            return bool(actor_health(admin).get("ready"))

        await _wait(ready, 60, "the actor ready", log)
        (child,) = _children(actor.pid)
        assert list(tmpdir.glob("kalshi-actor-*/private.pem"))  # the simulator's generated key
        actor.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(actor.wait, EXIT_WAIT_S) == 0, log.read_text()[-3000:]
        assert not Path(f"/proc/{child}").exists()  # the simulator stopped with it
        assert list(tmpdir.glob("kalshi-actor-*")) == []  # the key is gone with its directory
        records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        assert any(r["message"].startswith("serving model") for r in records), log.read_text()[-2000:]
    finally:
        if actor.poll() is None:
            actor.kill()
            actor.wait()
