"""``kalshi-actor train``: sb3-contrib MaskablePPO over sessions, several seeds at once, published to the registry.

::

    kalshi-actor train --quick                       # the default model: a few simulated sessions, ~1-2 min
    kalshi-actor train --sessions data/ --timesteps 2000000 --seed 3 --seeds 4

Sessions come from ``--sessions`` (files or directories); without any, simulator sessions
are generated (virtual time, :func:`~kalshi_actor.sim.generate.generate_session`) into a
cache directory and reused. Call order: sessions -> (per seed) :func:`fit` -> validation
score -> the best seed -> held-out evaluation -> publish.

* The learner is ``MaskablePPO``: each step's action mask comes from the env
  (:meth:`KalshiMarketEnv.action_masks`), so masked actions are never sampled, and the live
  :meth:`Policy.predict` applies the live mask the same way.
* Observations are normalised by a running mean/std wrapper (:func:`~.env.normalised_vec_env`),
  frozen at the end and stored with the model (``extra.obs_normalisation``); live applies the
  frozen statistics (:class:`~.env.ObsNormalisation`). Rewards are scaled by the running std of
  the return (training only).
* gamma fits the markets' horizon: ``ppo["gamma"] = None`` (the default) means a half-life of
  ``half_life_s`` (10 minutes) of exchange time: ``gamma = 0.5 ** (dt / half_life_s)`` with ``dt``
  the mean exchange time between decisions in the training sessions (about the tick: 1 s
  gives 0.99885; :func:`horizon_gamma`). A number is used as given.
* Seeds: ``seeds`` runs (``seed``, ``seed + 1``, ...) train in parallel processes (at most one
  per core, ``spawn``: no state is shared), each printing its own progress lines. Each is
  scored on VALIDATION sessions (disjoint from training, from the training-time held-out
  evaluation and from the evaluation's TEST set; checked): the mean net P&L per episode in
  micros, played with masks. The best score is chosen (ties: the lower seed). The metadata
  records every seed, its validation score and the choice (``extra.seed_selection``).

Training is deterministic for a seed on one machine: Python, NumPy and torch are seeded,
torch's threads are pinned, and each of the ``n_envs`` environments is seeded ``seed + i``.
The chosen model is evaluated against the baselines on held-out sessions and published with its
metadata: algorithm (``"maskable_ppo"``), hyperparameters (the gamma used), observation schema
hash and size, action config and its hash, the env config (``extra.env_config``, used unchanged
live), the observation statistics, the seed selection, training sessions, time, metrics.
Failures: a worker's exception is re-raised in the parent (the registry is untouched).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..observation import OBS_SIZE, SCHEMA_HASH
from ..registry import ModelMetadata, ModelRecord, Registry
from .env import _FRAME, _TICK, EnvConfig, KalshiMarketEnv, ObsNormalisation, Session, load_session, \
    normalised_vec_env, session_paths

__all__ = ["ALGORITHM", "HALF_LIFE_S", "PPO_DEFAULTS", "PRESETS", "SimSessions", "TrainConfig", "TrainResult",
           "default_cache_dir", "fit", "horizon_gamma", "simulated_sessions", "train", "validation_score"]

ALGORITHM = "maskable_ppo"
HALF_LIFE_S = 600.0
"""The reward horizon's half-life in exchange seconds: markets live 20 min - 2 h, and a maker's profit arrives when
its inventory closes, minutes after the fill (gamma 0.99 at 1 s ticks was a ~100 s horizon)."""

PPO_DEFAULTS: dict[str, Any] = {
    # gamma None: from the horizon (HALF_LIFE_S at the sessions' decision spacing; see horizon_gamma)
    "learning_rate": 3e-4, "n_steps": 1024, "batch_size": 256, "n_epochs": 5, "gamma": None, "gae_lambda": 0.95,
    "clip_range": 0.2, "ent_coef": 0.01, "vf_coef": 0.5, "max_grad_norm": 0.5, "net_arch": [64, 64],
}

TRAINING_ENV = EnvConfig()
"""How new models are trained (EnvConfig's defaults): positions valued at what they would sell for (the held side's
bid), so a passive fill books no profit before the market agrees; 5 cents per contract-hour of inventory; the live
risk layer's default limit (100 contracts); an unresolved market's position sold at the touch with the taker fee."""


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
    seeds: int = 1  # runs to train (seed, seed + 1, ...), in parallel processes; the validation score picks one
    val_sim: SimSessions = field(default_factory=lambda: SimSessions(count=3, seed=20_001))
    half_life_s: float = HALF_LIFE_S  # the horizon when ppo["gamma"] is None


PRESETS: dict[str, TrainConfig] = {
    # the default model of `make run` on a fresh machine: about a minute or two on 2 cores (two seeds, one each)
    # (8 envs: one policy forward pass serves 8 env steps; the env and that pass are most of the time)
    "quick": TrainConfig(timesteps=40_000, n_envs=8, ppo={**PPO_DEFAULTS, "n_steps": 256}, seeds=2,
                         sim=SimSessions(count=4, markets=3, duration_s=900.0),
                         eval_sim=SimSessions(count=2, markets=3, duration_s=600.0, seed=10_001),
                         val_sim=SimSessions(count=2, markets=3, duration_s=600.0, seed=20_001)),
    "default": TrainConfig(seeds=4),
}


@dataclass
class TrainResult:
    record: ModelRecord
    model: Any
    training_time_s: float
    evaluation: dict[str, Any]
    table: str = ""
    normalisation: ObsNormalisation | None = None  # the frozen observation statistics the model was trained with
    selection: dict[str, Any] = field(default_factory=dict)  # extra.seed_selection

    def policy(self, threads: int = 1) -> Any:
        """The trained model as the live actor would run it (its env config and observation statistics)."""
        from .policy import Policy

        return Policy.from_model(self.model, self.env_config, threads=threads, normalisation=self.normalisation)

    env_config: EnvConfig = field(default_factory=EnvConfig)


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

    def __init__(self, total: int, stream: Any = None, label: str = "training", lines: bool = False) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.label = label
        self.tty = not lines and hasattr(self.stream, "isatty") and self.stream.isatty()
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
        eta = max(0.0, (self.total - done) / rate) if rate > 0 else 0.0
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


def _vec_env(sessions: Sequence[Any], config: TrainConfig, seed: int) -> Any:
    from stable_baselines3.common.vec_env import DummyVecEnv

    def make(i: int):
        def build() -> KalshiMarketEnv:
            env = KalshiMarketEnv(sessions, config.env)
            env.reset(seed=seed + i)
            return env
        return build

    return DummyVecEnv([make(i) for i in range(config.n_envs)])


def decision_interval_s(sessions: Sequence[Session]) -> float:
    """The mean exchange time between decision points over the sessions' markets, seconds (an estimate: ticks
    at which a market is due, or its book frames when deciding on every change)."""
    total_ms = decisions = 0
    for session in sessions:
        for stream in session.streams.values():
            if session.tick_interval_ms > 0:
                times = [op[1] for op in stream.ops if op[0] == _TICK]
            else:
                times = [op[2] for op in stream.ops if op[0] == _FRAME and op[2] is not None]
            if len(times) > 1:
                total_ms += times[-1] - times[0]
                decisions += len(times) - 1
    if decisions:
        return total_ms / decisions / 1000
    return max(sessions[0].tick_interval_ms / 1000, 1.0) if sessions else 1.0


def horizon_gamma(interval_s: float, half_life_s: float = HALF_LIFE_S) -> float:
    """The discount whose weight halves after ``half_life_s`` of exchange time at one decision per ``interval_s``."""
    return float(0.5 ** (interval_s / half_life_s))


def _hyper(config: TrainConfig, sessions: Sequence[Session]) -> dict[str, Any]:
    """The PPO hyperparameters to use: ``config.ppo`` with gamma fitted to the horizon when it is None."""
    hyper = dict(config.ppo)
    if hyper.get("gamma") is None:
        hyper["gamma"] = round(horizon_gamma(decision_interval_s(sessions), config.half_life_s), 6)
    return hyper


@dataclass
class _Fit:
    model: Any
    normalisation: ObsNormalisation
    training_time_s: float
    steps: int
    hyper: dict[str, Any]


def fit(sessions: Sequence[Session], config: TrainConfig, seed: int, *, progress: _Progress | None = None) -> _Fit:
    """Train one MaskablePPO run of ``seed`` on loaded sessions; the observation statistics frozen at the end."""
    from sb3_contrib import MaskablePPO

    _seed_everything(seed, config.threads)
    hyper = _hyper(config, sessions)
    vec = normalised_vec_env(_vec_env(sessions, config, seed), gamma=hyper["gamma"])
    ppo = dict(hyper)
    net_arch = ppo.pop("net_arch", [64, 64])
    model = MaskablePPO("MlpPolicy", vec, seed=seed, device="cpu", verbose=0,
                        policy_kwargs={"net_arch": list(net_arch)}, **ppo)
    started = time.perf_counter()
    model.learn(total_timesteps=config.timesteps, callback=_callback(progress))
    elapsed = time.perf_counter() - started
    if progress is not None:
        progress.update(model.num_timesteps, final=True)
    vec.training = False  # frozen: what the model saw last is what live applies
    return _Fit(model, ObsNormalisation.of(vec), elapsed, int(model.num_timesteps), hyper)


def validation_score(policy: Any, sessions: Sequence[Session | str | os.PathLike[str]], config: EnvConfig) -> float:
    """Mean net P&L per episode (micros) of ``policy`` over every market of ``sessions``, played deterministically
    with the env's action masks (as live). Every market with a decision counts once."""
    loaded = [s if isinstance(s, Session) else load_session(s, config.tick_interval_ms) for s in sessions]
    env = KalshiMarketEnv(loaded, config, min_decisions=0)
    total = 0
    for index, ticker in env.episodes:
        obs, info = env.reset(options={"session": index, "ticker": ticker})
        done = env._done
        while not done:
            action = int(policy.predict(obs, env.action_masks())[0])
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        total += info["net_pnl"]
    return total / len(env.episodes)


def _run_seed(paths: Sequence[str], config: TrainConfig, seed: int, val_paths: Sequence[str], out: str,
              progress: bool) -> dict[str, Any]:
    """One seed in a worker process: train, save the model to ``out``, score it on the validation sessions."""
    from .policy import Policy

    loaded = [load_session(p, config.env.tick_interval_ms) for p in paths]
    bar = _Progress(config.timesteps, label=f"seed {seed}", lines=True) if progress else None
    run = fit(loaded, config, seed, progress=bar)
    run.model.save(out)
    score = None
    if val_paths:
        policy = Policy.from_model(run.model, config.env, threads=config.threads, normalisation=run.normalisation)
        score = validation_score(policy, val_paths, config.env)
    return {"seed": seed, "path": out, "normalisation": run.normalisation.to_dict(), "score": score,
            "training_time_s": run.training_time_s, "steps": run.steps, "hyper": run.hyper}


def _check_disjoint(val: Sequence[Path], train: Sequence[Path], others: Sequence[Path]) -> None:
    """Validation sessions must be neither training nor test/evaluation sessions (by resolved path or name)."""
    names = {p.name for p in val}
    paths = {p.resolve() for p in val}
    from .evaluate import TEST  # the test set: never chosen on

    test_names = {TEST.name(s) for s in range(TEST.seed, TEST.seed + TEST.count)}
    clash = sorted({p.name for p in [*train, *others] if p.resolve() in paths or p.name in names}
                   | (names & test_names))
    if clash:
        raise ValueError(f"validation sessions must be disjoint from training, evaluation and test sessions: "
                         f"{', '.join(clash)}")


def _select(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The best validation score (ties and unscored runs: the lower seed)."""
    return max(results, key=lambda r: (r["score"] if r["score"] is not None else float("-inf"), -r["seed"]))


def _train_seeds(paths: Sequence[Path], config: TrainConfig, val_paths: Sequence[Path], progress: bool,
                 log: Any) -> tuple[Any, ObsNormalisation, float, dict[str, Any], dict[str, Any]]:
    """Every seed in its own process; returns the chosen model, its statistics, time, the selection, its hyper."""
    from sb3_contrib import MaskablePPO

    seeds = list(range(config.seed, config.seed + config.seeds))
    workers = max(1, min(len(seeds), os.cpu_count() or 1))
    log(f"training {len(seeds)} seeds ({', '.join(map(str, seeds))}) in {workers} process(es)")
    with tempfile.TemporaryDirectory(prefix="kalshi-train-") as tmp, \
            ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_run_seed, [str(p) for p in paths], config, seed, [str(p) for p in val_paths],
                               os.path.join(tmp, f"seed-{seed}.zip"), progress) for seed in seeds]
        results = [f.result() for f in futures]
        chosen = _select(results)
        model = MaskablePPO.load(chosen["path"], device="cpu")
    for r in results:
        log(f"seed {r['seed']}: validation score {_dollars(r['score'])} per episode, "
            f"{r['steps']:,} steps in {r['training_time_s']:.1f}s ({r['steps'] / r['training_time_s']:,.0f} steps/s)")
    log(f"chose seed {chosen['seed']}")
    selection = _selection(results, chosen, val_paths)
    return (model, ObsNormalisation.from_dict(chosen["normalisation"]), chosen["training_time_s"], selection,
            chosen["hyper"])


def _selection(results: list[dict[str, Any]], chosen: dict[str, Any], val_paths: Sequence[Path]) -> dict[str, Any]:
    return {"seeds": [r["seed"] for r in results], "chosen": chosen["seed"],
            "validation_scores": {str(r["seed"]): r["score"] for r in results},
            "score": "mean net P&L per episode, micros, masked deterministic play",
            "validation_sessions": [p.name for p in val_paths],
            "training_time_s": {str(r["seed"]): round(r["training_time_s"], 3) for r in results}}


def _dollars(micros: float | None) -> str:
    return "n/a" if micros is None else f"${micros / 1e6:,.4f}"


def train(sessions: Sequence[str | os.PathLike[str]], config: TrainConfig, *, registry: Registry | None,
          eval_sessions: Sequence[str | os.PathLike[str]] = (), val_sessions: Sequence[str | os.PathLike[str]] = (),
          progress: bool = True, log: Any = None, extra: dict[str, Any] | None = None) -> TrainResult:
    """Train ``config.seeds`` MaskablePPO runs on ``sessions``; choose by ``val_sessions`` (needed for more than
    one seed); evaluate on ``eval_sessions`` (when given); publish to ``registry`` (when given)."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    paths = [Path(p) for p in sessions]
    if not paths:
        raise ValueError("no training sessions")
    val_paths = [Path(p) for p in val_sessions]
    if config.seeds < 1:
        raise ValueError("seeds must be >= 1")
    if config.seeds > 1 and not val_paths:
        raise ValueError("choosing among seeds needs validation sessions")
    if val_paths:
        _check_disjoint(val_paths, paths, [Path(p) for p in eval_sessions])
    loaded = [load_session(p, config.env.tick_interval_ms) for p in paths]
    log(f"training on {len(loaded)} session(s), {sum(len(s.tickers) for s in loaded)} market episode(s); "
        f"{config.timesteps:,} steps, {config.n_envs} envs, seed {config.seed}"
        + (f" (+{config.seeds - 1} more)" if config.seeds > 1 else ""))
    if config.seeds > 1:
        model, normalisation, training_time, selection, hyper = _train_seeds(paths, config, val_paths, progress, log)
    else:
        run = fit(loaded, config, config.seed, progress=_Progress(config.timesteps) if progress else None)
        model, normalisation, training_time, hyper = run.model, run.normalisation, run.training_time_s, run.hyper
        score = None
        if val_paths:
            from .policy import Policy

            score = validation_score(Policy.from_model(model, config.env, threads=config.threads,
                                                       normalisation=normalisation), val_paths, config.env)
        selection = _selection([{"seed": config.seed, "score": score, "training_time_s": training_time}],
                               {"seed": config.seed}, val_paths)
    _seed_everything(config.seed, config.threads)  # the evaluation's baselines and torch: as for one seed
    evaluation: dict[str, Any] = {}
    table = ""
    if eval_sessions:
        from .baselines import baselines
        from .evaluate import evaluate_policies
        from .policy import Policy

        policy = Policy.from_model(model, config.env, threads=config.threads, normalisation=normalisation)
        entries = [("model", policy.predict)] + [(b.name, b) for b in baselines(config.seed)]
        report = evaluate_policies(entries, list(eval_sessions), config.env)
        evaluation = {**report.to_json(), "sessions": [Path(p).name for p in eval_sessions]}
        table = report.table
        log("held-out evaluation:\n" + table)
    record = None
    if registry is not None:
        action = config.env.action
        hyperparameters = {**hyper, "total_timesteps": config.timesteps, "n_envs": config.n_envs,
                           "seed": selection["chosen"], "seeds": config.seeds, "half_life_s": config.half_life_s,
                           "policy": "MlpPolicy"}
        metadata = ModelMetadata(
            algorithm=ALGORITHM, observation_schema_hash=SCHEMA_HASH, observation_size=OBS_SIZE,
            action_config=action.to_dict(), action_config_hash=action.hash, hyperparameters=hyperparameters,
            training_sessions=[p.name for p in paths], training_time_s=round(training_time, 3),
            evaluation=evaluation, extra={"env_config": config.env.to_dict(),
                                          "obs_normalisation": normalisation.to_dict(),
                                          "seed_selection": selection, **(extra or {})})
        record = registry.add(lambda target: model.save(target), metadata)
        log(f"published model {record.model_id} to {registry.root}")
    return TrainResult(record, model, training_time, evaluation, table,  # type: ignore[arg-type]
                       normalisation=normalisation, selection=selection, env_config=config.env)


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
    val_paths = simulated_sessions(config.val_sim, cache, log=log) if config.seeds > 1 else []
    eval_paths: list[Path] = []
    if not no_eval:
        eval_paths = session_paths(eval_sessions) if eval_sessions else simulated_sessions(config.eval_sim, cache,
                                                                                            log=log)
        overlap = {p.resolve() for p in eval_paths} & {p.resolve() for p in train_paths}
        if overlap:
            raise ValueError(f"evaluation sessions must be held out; also in training: "
                             f"{', '.join(sorted(p.name for p in overlap))}")
    result = train(train_paths, config, registry=registry, eval_sessions=eval_paths, val_sessions=val_paths, log=log,
                   extra={"preset": preset})
    return result.record
