"""The actor's exposed surface under hostile and careless use: probes under HTTP load, a ping flood, SIGTERM.

A real ``kalshi-actor run`` process trades ``kalshi-actor sim`` (real clock, 8 markets), both on
127.0.0.1, serving the resting "maker" model of tests/actor_models.py every 0.25 s; this process
is the load and the prober (on a 2-core machine the three share the CPUs, as in the report that
found the holes).

1. ``probes`` -- a prober asks every 20 ms for the liveness answer on the ADMIN port (where the
   pod's probes go; its own thread) and for the public health; quiet first, then while 2,000
   requests at 50 concurrent hit the public ``/rl/actor/health``. The baseline is the public
   port itself, which shares the trading loop (the probes' home before). The decision figure is
   the actor's own ``tick_duration_seconds`` (observe + infer + act), mean over each phase from
   the histogram's sum and count, so the ratio says whether the load slowed the decisions. The load's
   own requests are timed too (each waits its turn among 50).
2. ``ping flood`` -- a client that sends pings and never reads (tests/support.py
   ``stuck_websocket``, up to 60 MB): what it got to send before the actor stopped reading it,
   and the actor's RSS before and after.
3. ``sigterm`` -- with that client still connected: SIGTERM to "orders cancelled" in the actor's
   log, and SIGTERM to the process's exit (status 0), with the orders left resting.

Run alone: ``python -m benchmarks surface``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from ._support import free_port, proc_rss_mb, tests_on_path

BIN = Path(sys.executable).parent
PREFIX = "ka-bench-"
LOAD_REQUESTS = 2000
LOAD_CONCURRENCY = 50
PROBE_EVERY_S = 0.02
QUIET_S = 10.0


def _quantiles(seconds: list[float]) -> dict[str, str]:
    a = np.asarray(seconds) * 1e3
    return {"n": str(len(a)), "p50_ms": f"{np.percentile(a, 50):.1f}", "p99_ms": f"{np.percentile(a, 99):.1f}",
            "max_ms": f"{a.max():.1f}"}


def _tick_totals(metrics: str) -> tuple[float, float]:
    """(sum, count) of the actor's tick-duration histogram."""
    total = re.search(r"^kalshi_actor_tick_duration_seconds_sum (\S+)$", metrics, re.M)
    count = re.search(r"^kalshi_actor_tick_duration_seconds_count (\S+)$", metrics, re.M)
    return float(total.group(1)) if total else 0.0, float(count.group(1)) if count else 0.0


class _Prober:
    """Times the admin port's liveness answer and the public health, every PROBE_EVERY_S."""

    def __init__(self, public: str, admin: str) -> None:
        self.public, self.admin = public, admin
        self.times: dict[str, list[float]] = {"admin live probe": [], "public health": []}

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while not stop.is_set():
                for name, url in (("admin live probe", self.admin + "/rl/actor/health?probe=live"),
                                  ("public health", self.public + "/rl/actor/health")):
                    started = time.perf_counter()
                    await http.get(url)
                    self.times[name].append(time.perf_counter() - started)
                await asyncio.sleep(PROBE_EVERY_S)


async def _phase(public: str, admin: str, load: bool) -> tuple[dict[str, list[float]], float]:
    """One phase: the probes' latencies, and the mean tick duration (s) over it."""
    async with httpx.AsyncClient(timeout=30) as http:
        before = _tick_totals((await http.get(public + "/metrics")).text)
        prober, stop = _Prober(public, admin), asyncio.Event()
        prober.times["the load's own requests"] = []
        probing = asyncio.create_task(prober.run(stop))
        if load:
            limits = httpx.Limits(max_connections=LOAD_CONCURRENCY)
            async with httpx.AsyncClient(timeout=30, limits=limits) as loader:
                sem = asyncio.Semaphore(LOAD_CONCURRENCY)

                async def one() -> None:
                    async with sem:
                        started = time.perf_counter()
                        await loader.get(public + "/rl/actor/health")
                        prober.times["the load's own requests"].append(time.perf_counter() - started)

                await asyncio.gather(*(one() for _ in range(LOAD_REQUESTS)))
        else:
            await asyncio.sleep(QUIET_S)
        stop.set()
        await probing
        after = _tick_totals((await http.get(public + "/metrics")).text)
    ticks = after[1] - before[1]
    return prober.times, (after[0] - before[0]) / ticks if ticks else float("nan")


async def _ready(admin: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(admin + "/rl/actor/health")).json().get("ready"):
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the actor did not become ready")


def _start(root: Path) -> tuple[subprocess.Popen, subprocess.Popen, str, str, Any]:
    tests_on_path()
    from actor_models import build_models
    from kalshi_actor.kalshi.auth import generate_rsa_keypair, new_key_id

    models = build_models(root / "registry")
    private_pem, public_pem = generate_rsa_keypair()
    key_id = new_key_id()
    sim = subprocess.Popen([str(BIN / "kalshi-actor"), "sim", "--markets", "8", "--seed", "4", "--clock", "real",
                            "--key", f"{key_id}={public_pem}"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    urls = json.loads(sim.stdout.readline())
    port, admin = free_port(), free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "RL_ACTOR_ENVIRONMENT": "sim",
           "RL_ACTOR_REST_URL": urls["rest"], "RL_ACTOR_WS_URL": urls["ws"], "RL_ACTOR_API_KEY_ID": key_id,
           "RL_ACTOR_PRIVATE_KEY": private_pem, "RL_ACTOR_REGISTRY": str(models.root),
           "RL_ACTOR_MODEL_ID": models.maker, "RL_ACTOR_TICK_INTERVAL": "0.25", "RL_ACTOR_MARKET_LIMIT": "8",
           "RL_ACTOR_CLIENT_ORDER_PREFIX": PREFIX}
    actor = subprocess.Popen([str(BIN / "kalshi-actor"), "run", "--port", str(port), "--admin-port", str(admin)],
                             env=env, stdout=open(root / "actor.log", "w"), stderr=subprocess.STDOUT)
    from kalshi_actor.kalshi.rest import RestClient
    from kalshi_actor.kalshi.auth import Signer

    rest = RestClient(urls["rest"], Signer.from_pem(key_id, private_pem))
    return sim, actor, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}", rest


async def _resting(rest: Any) -> int:
    return len([o async for o in rest.iter_orders(status="resting") if o.client_order_id.startswith(PREFIX)])


async def _bench(root: Path) -> list[dict[str, Any]]:
    from support import stuck_websocket

    sim, actor, public, admin, rest = _start(root)
    rows: list[dict[str, Any]] = []
    stuck = None
    try:
        await _ready(admin)
        await asyncio.sleep(2)  # orders placed, histograms warm
        quiet, quiet_tick = await _phase(public, admin, load=False)
        loaded, loaded_tick = await _phase(public, admin, load=True)
        for name in loaded:
            for phase, times in (("quiet", quiet[name]), (f"{LOAD_REQUESTS} req @ {LOAD_CONCURRENCY}", loaded[name])):
                if times:
                    rows.append({"benchmark": name, "phase": phase, **_quantiles(times)})
        rows.append({"benchmark": "decision (tick) mean", "phase": "load / quiet",
                     "n": "", "p50_ms": f"{quiet_tick * 1e3:.3f} -> {loaded_tick * 1e3:.3f}",
                     "ratio": f"{loaded_tick / quiet_tick:.2f}x"})

        port = int(public.rsplit(":", 1)[1])
        rss_before = proc_rss_mb(actor.pid)
        stuck, sent = await asyncio.to_thread(stuck_websocket, port, flood_limit=60 << 20)
        await asyncio.sleep(1)
        rows.append({"benchmark": "ping flood (60 MB offered)", "phase": "client never reads",
                     "n": f"{sent / 1e6:.1f} MB taken", "p50_ms": "",
                     "ratio": f"RSS {rss_before:.0f} -> {proc_rss_mb(actor.pid):.0f} MB"})

        resting = await _resting(rest)
        started = time.monotonic()
        actor.send_signal(signal.SIGTERM)
        log = root / "actor.log"
        while "order(s) cancelled" not in log.read_text() and actor.poll() is None:
            await asyncio.sleep(0.005)
        cancelled = time.monotonic() - started
        code = await asyncio.to_thread(actor.wait, 60)
        exited = time.monotonic() - started
        rows.append({"benchmark": "SIGTERM, a non-reading client connected", "phase": f"{resting} orders resting",
                     "n": f"exit {code}", "p50_ms": f"cancelled {cancelled * 1e3:.0f}",
                     "p99_ms": f"exit {exited * 1e3:.0f}", "ratio": f"{await _resting(rest)} left resting"})
    finally:
        if stuck is not None:
            stuck.close()
        for proc in (actor, sim):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        await rest.aclose()
    return rows


def run() -> list[dict[str, Any]]:
    tests_on_path()
    with tempfile.TemporaryDirectory(prefix="bench-surface-") as root:
        return asyncio.run(_bench(Path(root)))
