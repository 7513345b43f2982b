"""The training environment: env steps/s without a policy, observation build per market, PPO throughput.

A simulator session (``N_MARKETS`` markets, ``SIM_SECONDS`` simulated seconds) is indexed
once (``session index``); then episodes run back to back on one core:

- ``env.step`` at ``tick_interval_s`` 0 (every book change) and 1.0 (the live default; a step
  then feeds about ten frames), with HOLD and with uniformly random actions (orders, fills);
- ``observation build``: the env's observation of one market (MarketInput + ObservationBuilder);
- ``PPO learn``: stable-baselines3 PPO (MlpPolicy 64x64, 4 envs, torch on 1 thread) steps/s.

Target: >= 20,000 env steps/s per core. Run alone: ``python -m benchmarks env``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from kalshi_actor.sim.generate import generate_session
from kalshi_actor.training.env import EnvConfig, KalshiMarketEnv, Session

N_MARKETS = 6
SIM_SECONDS = 1200
SEED = 13
STEPS = 60_000


def _steps_per_s(env: KalshiMarketEnv, actions: np.ndarray) -> float:
    env.reset(seed=0)
    step, reset = env.step, env.reset
    started = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = step(a)
        if terminated or truncated:
            reset()
    return len(actions) / (time.perf_counter() - started)


def run(steps: int = STEPS) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.session"
        generate_session(path, n_markets=N_MARKETS, seed=SEED, duration_s=SIM_SECONDS)
        for tick in (0.0, 1.0):
            started = time.perf_counter()
            session = Session(path, round(tick * 1000))
            index_s = time.perf_counter() - started
            rows.append({"benchmark": f"session index (tick {tick:g}s)", "frames": session.frames,
                         "seconds": round(index_s, 3), "frames_per_s": round(session.frames / index_s)})
            env = KalshiMarketEnv([session], EnvConfig(tick_interval_s=tick))
            hold = np.zeros(steps, np.int64)
            rand = np.random.default_rng(0).integers(0, 5, steps)
            for name, actions in (("HOLD", hold), ("random", rand)):
                best = max(_steps_per_s(env, actions) for _ in range(2))
                rows.append({"benchmark": f"env.step tick {tick:g}s, {name} actions (1 core)", "steps": steps,
                             "steps_per_s": round(best), "us_per_step": round(1e6 / best, 2)})
        env = KalshiMarketEnv([session], EnvConfig(tick_interval_s=1.0))
        env.reset(seed=1)
        for a in np.random.default_rng(1).integers(0, 5, 200):  # some position and orders to describe
            if env.step(int(a))[2]:
                env.reset()
        n = 20_000
        started = time.perf_counter()
        for _ in range(n):
            env._observe()
        rows.append({"benchmark": "observation build, one market (env._observe)", "markets": 1,
                     "us_per_market": round((time.perf_counter() - started) / n * 1e6, 2)})
        rows.append(_ppo(session))
    return rows


def _ppo(session: Session) -> dict[str, Any]:
    from kalshi_actor.training.train import PPO_DEFAULTS, TrainConfig, train

    config = TrainConfig(timesteps=16_384, n_envs=4, threads=1, env=EnvConfig(tick_interval_s=1.0),
                         ppo={**PPO_DEFAULTS, "n_steps": 1024})
    result = train([session.path], config, registry=None, progress=False, log=lambda _: None)
    return {"benchmark": "PPO learn (MlpPolicy 64x64, 4 envs, n_steps 1024, 1 torch thread)",
            "steps": config.timesteps, "seconds": round(result.training_time_s, 2),
            "steps_per_s": round(config.timesteps / result.training_time_s)}


if __name__ == "__main__":
    for row in run():
        print(row)
