"""``kalshi-actor train``: PPO (stable-baselines3) over sessions, published to the model registry.

::

    kalshi-actor train --quick                       # the default model: a few simulated sessions, ~1-2 min
    kalshi-actor train --sessions data/ --timesteps 2000000 --seed 3

Sessions come from ``--sessions`` (files or directories); without any, simulator sessions
are generated (virtual time, :func:`~kalshi_actor.sim.generate.generate_session`) into a
cache directory and reused. Training is deterministic for a seed on one machine: Python,
NumPy and torch are seeded, torch's threads are pinned, and each of the ``n_envs``
environments is seeded ``seed + i``. The model is evaluated against the baselines on
held-out sessions (other seeds) and published with its metadata: algorithm,
hyperparameters, observation schema hash and size, action config and its hash, the env
config (``extra.env_config``, used unchanged live), training sessions, time, metrics.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..observation import OBS_SIZE, SCHEMA_HASH
from ..registry import ModelMetadata, ModelRecord, Registry
from .env import EnvConfig, KalshiMarketEnv, load_session, session_paths

__all__ = ["PPO_DEFAULTS", "PRESETS", "SimSessions", "TrainConfig", "TrainResult", "default_cache_dir",
           "simulated_sessions", "train"]

PPO_DEFAULTS: dict[str, Any] = {
    # gamma 0.999 at 1 s ticks: a ~17 minute horizon (half-life ~11.5 min), markets live 20 min - 2 h, and a
    # maker's profit arrives when its inventory closes, minutes after the fill
    "learning_rate": 3e-4, "n_steps": 1024, "batch_size": 256, "n_epochs": 5, "gamma": 0.999, "gae_lambda": 0.95,
    "clip_range": 0.2, "ent_coef": 0.01, "vf_coef": 0.5, "max_grad_norm": 0.5, "net_arch": [64, 64],
}

TRAINING_ENV = EnvConfig(mark="bid", inventory_penalty=0.05, max_position=10_000, liquidate=True)
"""How new models are trained: positions valued at what they would sell for (the held side's bid), so a passive
fill books no profit before the market agrees; 5 cents per contract-hour of inventory; the live risk layer's
default limit (100 contracts); an unresolved market's position sold at the touch with the taker fee at the end."""


@dataclass(frozen=True)
class SimSessions:
    """Simulator sessions to generate when none are given: ``count`` sessions from ``seed`` on."""

    count: int = 8
    markets: int = 4
    duration_s: float = 1800.0
    seed: int = 1
    lifetime_s: tuple[int, int] = (1200, 7200)  # markets close (and settle) within the session now and then

    def name(self, seed: int) -> str:
        lo, hi = self.lifetime_s
        return f"sim-s{seed}-m{self.markets}-d{int(self.duration_s)}-l{lo}-{hi}.session"


@dataclass(frozen=True)
class TrainConfig:
    timesteps: int = 500_000
    seed: int = 0
    n_envs: int = 4
    threads: int = 1
    ppo: dict[str, Any] = field(default_factory=lambda: dict(PPO_DEFAULTS))
    env: EnvConfig = field(default_factory=lambda: TRAINING_ENV)
    sim: SimSessions = field(default_factory=SimSessions)
    eval_sim: SimSessions = field(default_factory=lambda: SimSessions(count=4, seed=10_001))


PRESETS: dict[str, TrainConfig] = {
    # the default model of `make run` on a fresh machine: about a minute or two on 2 cores
    "quick": TrainConfig(timesteps=150_000, n_envs=4, ppo={**PPO_DEFAULTS, "n_steps": 512},
                         sim=SimSessions(count=4, markets=3, duration_s=900.0),
                         eval_sim=SimSessions(count=2, markets=3, duration_s=600.0, seed=10_001)),
    "default": TrainConfig(),
}


@dataclass
class TrainResult:
    record: ModelRecord
    model: Any
    training_time_s: float
    evaluation: dict[str, Any]
    table: str = ""


def default_cache_dir() -> Path:
    """Where generated sessions are kept: ``$KALSHI_SESSION_CACHE``, else ``$XDG_CACHE_HOME/kalshi-actor/sessions``."""
    env = os.environ.get("KALSHI_SESSION_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kalshi-actor" / "sessions"


def simulated_sessions(spec: SimSessions, cache_dir: str | os.PathLike[str], *, log: Any = None) -> list[Path]:
    """Generate (or reuse) ``spec.count`` simulator sessions in ``cache_dir``; returns their paths."""
    from ..sim.generate import generate_session
    from ..sim.world import World

    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    lo, hi = spec.lifetime_s
    for seed in range(spec.seed, spec.seed + spec.count):
        path = folder / spec.name(seed)
        if not path.exists():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            world = World(seed=seed, n_markets=spec.markets, clock="virtual", lifetime_ms=(lo * 1000, hi * 1000))
            generate_session(tmp, n_markets=spec.markets, seed=seed, duration_s=spec.duration_s, world=world)
            os.replace(tmp, path)  # whole sessions only: a crash leaves a hidden temp file
            if log:
                log(f"generated {path}")
        paths.append(path)
    return paths


def _seed_everything(seed: int, threads: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)


class _Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal, every 10% otherwise)."""

    def __init__(self, total: int, stream: Any = None, label: str = "training") -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.label = label
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.perf_counter()
        self._last = 0.0
        self._decile = -1

    def update(self, done: int, *, final: bool = False) -> None:
        now = time.perf_counter()
        frac = min(1.0, done / self.total) if self.total else 1.0
        if self.tty:
            if not final and now - self._last < 0.25:
                return
        else:
            decile = int(frac * 10)
            if not final and decile == self._decile:
                return
            self._decile = decile
        self._last = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        line = (f"{self.label} [{bar}] {100 * frac:5.1f}%  {done:,}/{self.total:,} steps  "
                f"{rate:,.0f} steps/s  elapsed {elapsed:,.0f}s  eta {eta:,.0f}s")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _callback(progress: _Progress | None) -> Any:
    from stable_baselines3.common.callbacks import BaseCallback

    class ProgressCallback(BaseCallback):
        def _on_step(self) -> bool:
            if progress is not None:
                progress.update(self.num_timesteps)
            return True

    return ProgressCallback()


def _vec_env(sessions: Sequence[Any], config: TrainConfig) -> Any:
    from stable_baselines3.common.vec_env import DummyVecEnv

    def make(i: int):
        def build() -> KalshiMarketEnv:
            env = KalshiMarketEnv(sessions, config.env)
            env.reset(seed=config.seed + i)
            return env
        return build

    return DummyVecEnv([make(i) for i in range(config.n_envs)])


def train(sessions: Sequence[str | os.PathLike[str]], config: TrainConfig, *, registry: Registry | None,
          eval_sessions: Sequence[str | os.PathLike[str]] = (), progress: bool = True, log: Any = None,
          extra: dict[str, Any] | None = None) -> TrainResult:
    """Train PPO on ``sessions``; evaluate on ``eval_sessions`` (when given); publish to ``registry`` (when given)."""
    from stable_baselines3 import PPO

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    paths = [Path(p) for p in sessions]
    if not paths:
        raise ValueError("no training sessions")
    _seed_everything(config.seed, config.threads)
    loaded = [load_session(p, config.env.tick_interval_ms) for p in paths]
    log(f"training on {len(loaded)} session(s), {sum(len(s.tickers) for s in loaded)} market episode(s); "
        f"{config.timesteps:,} steps, {config.n_envs} envs, seed {config.seed}")
    vec = _vec_env(loaded, config)
    hyper = dict(config.ppo)
    net_arch = hyper.pop("net_arch", [64, 64])
    model = PPO("MlpPolicy", vec, seed=config.seed, device="cpu", verbose=0,
                policy_kwargs={"net_arch": list(net_arch)}, **hyper)
    bar = _Progress(config.timesteps) if progress else None
    started = time.perf_counter()
    model.learn(total_timesteps=config.timesteps, callback=_callback(bar))
    training_time = time.perf_counter() - started
    if bar is not None:
        bar.update(model.num_timesteps, final=True)
    evaluation: dict[str, Any] = {}
    table = ""
    if eval_sessions:
        from .baselines import baselines
        from .evaluate import evaluate_policies
        from .policy import Policy

        policy = Policy.from_model(model, config.env, threads=config.threads)
        entries = [("model", policy.predict)] + [(b.name, b) for b in baselines(config.seed)]
        report = evaluate_policies(entries, list(eval_sessions), config.env)
        evaluation = {**report.to_json(), "sessions": [Path(p).name for p in eval_sessions]}
        table = report.table
        log("held-out evaluation:\n" + table)
    record = None
    if registry is not None:
        action = config.env.action
        hyperparameters = {**config.ppo, "total_timesteps": config.timesteps, "n_envs": config.n_envs,
                           "seed": config.seed, "policy": "MlpPolicy"}
        metadata = ModelMetadata(
            algorithm="ppo", observation_schema_hash=SCHEMA_HASH, observation_size=OBS_SIZE,
            action_config=action.to_dict(), action_config_hash=action.hash, hyperparameters=hyperparameters,
            training_sessions=[p.name for p in paths], training_time_s=round(training_time, 3),
            evaluation=evaluation, extra={"env_config": config.env.to_dict(), **(extra or {})})
        record = registry.add(lambda target: model.save(target), metadata)
        log(f"published model {record.model_id} to {registry.root}")
    return TrainResult(record, model, training_time, evaluation, table)  # type: ignore[arg-type]


def run_cli(*, sessions: Sequence[str], preset: str, registry: Registry, cache_dir: Path | None,
            eval_sessions: Sequence[str], no_eval: bool, if_missing: bool, overrides: dict[str, Any],
            env_overrides: dict[str, Any], ppo_overrides: dict[str, Any]) -> ModelRecord | None:
    """What ``kalshi-actor train`` does (the CLI only parses arguments)."""
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    if if_missing and registry.ids():
        log(f"{registry.root} already has a model ({registry.latest_id() or registry.ids()[0]}): not training")
        return None
    config = PRESETS[preset]
    if env_overrides:
        config = replace(config, env=replace(config.env, **env_overrides))
    if ppo_overrides:
        config = replace(config, ppo={**config.ppo, **ppo_overrides})
    if overrides:
        config = replace(config, **overrides)
    cache = cache_dir or default_cache_dir()
    train_paths = session_paths(sessions) if sessions else []
    if sessions and not train_paths:
        raise FileNotFoundError(f"no session files in {', '.join(sessions)}")
    if not train_paths:
        log(f"no sessions given: simulating {config.sim.count} session(s) into {cache}")
        train_paths = simulated_sessions(config.sim, cache, log=log)
    eval_paths: list[Path] = []
    if not no_eval:
        eval_paths = session_paths(eval_sessions) if eval_sessions else simulated_sessions(config.eval_sim, cache,
                                                                                            log=log)
        overlap = {p.resolve() for p in eval_paths} & {p.resolve() for p in train_paths}
        if overlap:
            raise ValueError(f"evaluation sessions must be held out; also in training: "
                             f"{', '.join(sorted(p.name for p in overlap))}")
    result = train(train_paths, config, registry=registry, eval_sessions=eval_paths, log=log,
                   extra={"preset": preset})
    return result.record
