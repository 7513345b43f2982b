"""Evaluation: a model against baselines on the SAME held-out episodes, with statistics that tell them apart.

An episode is one market of one session, played through :class:`~.env.KalshiMarketEnv` (the
training environment: same action mapping, fill model, fees, settlement). Every policy plays
every episode of the held-out set, in the same order, so the comparisons are paired.

Per policy (exact micros inside, dollars in the table and the JSON; positions in contracts):

- ``mean`` and ``IQM`` (:func:`~.stats.iqm`) of the net P&L per episode after fees (settled where the
  session says how the market resolved, else as the env config says), ``Sharpe`` per episode
  (mean / population std; 0 when the std is 0);
- ``|pos|``: the mean absolute position over the episode's decisions, each weighted by the
  exchange time until the next decision (time-weighted); ``end |pos|``: at the last decision;
- ``fills`` (ours), ``fees``, and the fill markouts ``mk10``/``mk60``: each of our fills marked at the
  mid (YES scale, the env's book ``env.md.books.books[env.ticker]`` after every step, as of that
  exchange time) 10 s and 60 s after the fill (the last mid of the episode when it ends sooner):
  ``(mid - price) x count`` for YES bought, ``((1 - mid) - price) x count`` for NO;
- ``edge``: simulator sessions with the latent-probability sidecar only
  (``sessions.format.read_latent``): each fill's edge against the latent YES probability ``p`` at the
  fill time, ``(p - price) x count`` (YES) or ``((1 - p) - price) x count`` (NO): what the fill was
  worth, free of the settlement lottery. Unavailable (None) when the sidecar or the functions
  are missing; the evaluation never fails for it;
- the action shares (names from the action config's ``action_names``, else the five seed actions),
  and for stochastic play the mean entropy of the policy's distribution (nats);
- ``flag``: ``COLLAPSED`` when ONE TRADING action is :data:`COLLAPSE_SHARE` of all decisions, or the only
  action whenever the policy trades. HOLD never counts: a maker holds while its quotes rest.

Then the model (deterministic play: the subject) against EACH baseline: the mean per-episode
difference with a bootstrap CI resampling sessions, Holm-adjusted across the baselines (each CI at
its Holm step's level, plus simultaneous Bonferroni intervals), the probability of improvement
with its CI, and a verdict (:func:`~.stats.judge`); the same for the latent edge when every
episode has it; and per regime (session headers' ``meta["regimes"] = {ticker: regime}``)
descriptive 95% CIs.

Baselines (``training/baselines.py``) are ``policy(obs [n, OBS_SIZE]) -> int64 [n]``; one with an
``action_config`` is played with it (the evaluation's env config otherwise unchanged); one with
``needs_latent = True`` is called ``policy(obs, latent=np.array([p]))`` with the latent probability at
the decision time (skipped, with the reason, when a test session has no latent); one with ``grid()``
(candidate parameter sets, mappings of constructor keywords, or ready policies) has its parameters
chosen on VALIDATION sessions (best mean net P&L per episode), never on the test set.

Held-out sets (simulated, seeds disjoint from training's ``1..`` and its evaluation's ``10_001..``):
:data:`TEST` (30 sessions x 5 markets from seed :data:`TEST_SEED`: >= 150 episodes) and :data:`VALIDATION`
(from :data:`VALIDATION_SEED`). Recorded sessions given explicitly are split walk-forward by time
(:func:`walk_forward`). Outputs: :mod:`.report` (table, JSON, PNG).
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from ..trading.types import Action
from .env import EnvConfig, KalshiMarketEnv, Session, load_session
from .report import EvaluationReport, format_table, plot_report, write_json
from .stats import ALPHA, BOOTSTRAP_SAMPLES, Comparison, compare, iqm, judge

__all__ = ["COLLAPSE_SHARE", "CURVE_POINTS", "MARKOUTS_S", "TEST", "TEST_SEED", "VALIDATION", "VALIDATION_SEED",
           "Episode", "EvaluationReport", "HeldOut", "PolicyResult", "evaluate_model", "evaluate_policies",
           "format_table", "plot_report", "run_policy", "tune", "walk_forward", "write_json"]

COLLAPSE_SHARE = 0.9
MARKOUTS_S = (10, 60)
CURVE_POINTS = 21  # the equity curve of an episode at 0%, 5%, ..., 100% of its decisions
TEST_SEED = 50_001
VALIDATION_SEED = 40_001
VALIDATION_SHARE = 0.3  # of explicitly given sessions, the earliest go to validation
_ONE = 10_000  # $1 in price units (pips); pips x hundredths of a contract = micros
_MICROS = 1_000_000
_SEED_NAMES = tuple(a.name.lower() for a in Action)

PolicyFn = Callable[..., np.ndarray]


def _held_out(seed: int, count: int) -> Any:
    from .train import SimSessions

    return SimSessions(count=count, markets=5, duration_s=1800.0, seed=seed)


TEST = _held_out(TEST_SEED, 30)
VALIDATION = _held_out(VALIDATION_SEED, 12)  # tuning plays every grid candidate: fewer sessions keep it minutes


# --- held-out sessions, with their latent sidecars and regimes ---


@dataclass
class HeldOut:
    """Loaded sessions (reused by every policy), each's latent series by ticker (None: none) and regimes."""

    sessions: list[Session]
    latent: list[dict[str, Any] | None]
    latent_note: str = ""

    @classmethod
    def load(cls, items: Sequence[Session | str | os.PathLike[str]], tick_interval_ms: int) -> HeldOut:
        if isinstance(items, HeldOut):
            return items
        sessions = [s if isinstance(s, Session) else load_session(s, tick_interval_ms) for s in items]
        latent, note = _read_latents(sessions)
        return cls(sessions, latent, note)

    @property
    def names(self) -> list[str]:
        return [s.path.name for s in self.sessions]

    def regime(self, index: int, ticker: str) -> str | None:
        regimes = self.sessions[index].meta.get("regimes")
        return regimes.get(ticker) if isinstance(regimes, Mapping) else None

    def series(self, index: int, ticker: str) -> Any:
        found = self.latent[index]
        return None if found is None else found.get(ticker)


def _read_latents(sessions: Sequence[Session]) -> tuple[list[dict[str, Any] | None], str]:
    try:
        from ..sessions.format import SessionError, read_latent
    except ImportError:
        return [None] * len(sessions), "sessions.format.read_latent does not exist in this build"
    found: list[dict[str, Any] | None] = []
    for s in sessions:
        try:
            found.append(dict(read_latent(s.path)))
        except (SessionError, OSError, ValueError, KeyError):
            found.append(None)
    have = sum(x is not None for x in found)
    return found, f"{have} of {len(found)} sessions have a latent sidecar"


def _latent_at(series: Any, ts_ms: int) -> float:
    from ..sessions.format import latent_at

    return float(latent_at(series, ts_ms))


def walk_forward(paths: Sequence[str | os.PathLike[str]],
                 share: float = VALIDATION_SHARE) -> tuple[list[Path], list[Path]]:
    """``(validation, test)``: sessions in time order (header ``start_ms``, else the first frame's receive time),
    the earliest ``share`` (at least one when there are two or more) for validation, the rest for testing."""
    from ..sessions.format import read_frames, read_header

    def start(p: Path) -> tuple[int, str]:
        ms = read_header(p).get("start_ms")
        if not isinstance(ms, int):
            ms = next((ns // 1_000_000 for ns, _ in read_frames(p)), 0)
        return ms, p.name

    ordered = sorted((Path(p) for p in paths), key=start)
    cut = max(1, int(len(ordered) * share)) if len(ordered) > 1 else 0
    return ordered[:cut], ordered[cut:]


# --- one policy's play ---


@dataclass(frozen=True)
class Episode:
    """One policy's play of one market of one session (money in micros, positions in contracts)."""

    session: int
    ticker: str
    regime: str | None
    pnl: int
    fills: int
    contracts: int  # hundredths of a contract filled
    fees: int
    decisions: int
    mean_abs_position: float  # time-weighted over the decisions
    end_abs_position: float  # at the last decision
    markouts: tuple[int, ...]  # per MARKOUTS_S, summed over the fills
    latent_edge: int | None  # summed over the fills; None: no latent for this market
    curve: tuple[int, ...]  # net P&L at CURVE_POINTS fractions of the decisions (the last: pnl)


@dataclass
class PolicyResult:
    """One policy's evaluation: its episodes in play order and its decisions."""

    name: str
    action_names: tuple[str, ...] = _SEED_NAMES
    episodes: list[Episode] = field(default_factory=list)
    actions: np.ndarray = field(default_factory=lambda: np.zeros(len(Action), np.int64))
    entropy: float | None = None  # mean over decisions, stochastic play only
    parameters: dict[str, Any] | None = None  # chosen on validation sessions, for tuned baselines
    stochastic: bool = False

    def values(self, metric: str) -> np.ndarray:
        """Per-episode ``pnl`` or ``latent_edge`` (micros, float; NaN where an edge is unavailable)."""
        return np.asarray([np.nan if getattr(e, metric) is None else getattr(e, metric) for e in self.episodes],
                          dtype=np.float64)

    @property
    def pnl(self) -> np.ndarray:
        return self.values("pnl")

    @property
    def net_pnl(self) -> int:
        return sum(e.pnl for e in self.episodes)

    @property
    def trades(self) -> int:
        return sum(e.fills for e in self.episodes)

    @property
    def fees(self) -> int:
        return sum(e.fees for e in self.episodes)

    @property
    def sharpe(self) -> float:
        pnl = self.pnl
        return float(pnl.mean() / pnl.std()) if len(pnl) > 1 and pnl.std() > 0 else 0.0

    @property
    def action_share(self) -> np.ndarray:
        total = self.actions.sum()
        return self.actions / total if total else np.zeros(len(self.actions))

    @property
    def collapse_reason(self) -> str:
        """Why the policy looks collapsed ('' when it does not); see the module docstring."""
        total = int(self.actions.sum())
        trading = self.actions[1:]
        if not trading.sum():
            return ""
        top = int(trading.argmax()) + 1
        if trading[top - 1] >= COLLAPSE_SHARE * total:
            return f"{self.action_names[top]} on {trading[top - 1] / total:.0%} of decisions"
        if np.count_nonzero(trading) == 1:
            return f"only ever {self.action_names[top]} when it trades"
        return ""

    @property
    def collapsed(self) -> bool:
        return bool(self.collapse_reason)


def run_policy(name: str, policy: PolicyFn, sessions: Sequence[Session | str | os.PathLike[str]] | HeldOut,
               config: EnvConfig, *, max_steps: int | None = None) -> PolicyResult:
    """Play every market of every session once with ``policy`` (one decision at a time).

    ``policy.action_config`` (when present) replaces ``config.action``; ``policy.needs_latent`` gets the
    latent probability at each decision (:class:`LatentMissing` when a market has none); a stochastic player
    (:class:`_Sampled`) reports its entropy."""
    if getattr(policy, "action_config", None) is not None:
        config = replace(config, action=policy.action_config)
    held = HeldOut.load(sessions, config.tick_interval_ms)
    env = KalshiMarketEnv(held.sessions, config, min_decisions=0)
    n = int(env.action_space.n)
    names = tuple(getattr(config.action, "action_names", None) or _SEED_NAMES)
    names = (names + tuple(f"action_{i}" for i in range(len(names), n)))[:n]
    result = PolicyResult(name, names, actions=np.zeros(n, np.int64), stochastic=isinstance(policy, _Sampled))
    needs_latent = bool(getattr(policy, "needs_latent", False))
    for index, ticker in env.episodes:
        series = held.series(index, ticker)
        if needs_latent and series is None:
            raise LatentMissing(f"{name} needs the latent probability; {held.names[index]} {ticker} has none")
        result.episodes.append(_play(env, index, ticker, held.regime(index, ticker), policy, result.actions,
                                     series, needs_latent, max_steps))
    entropy = getattr(policy, "mean_entropy", None)
    result.entropy = entropy() if callable(entropy) else None
    return result


class LatentMissing(LookupError):
    """A policy that needs the latent probability met a market without one."""


def _mid(book: Any) -> float | None:
    """The YES mid in pips, or None when a side is empty."""
    if book is None:
        return None
    bid, no_bid = book.best_yes_bid_price, book.best_no_bid_price
    return None if bid is None or no_bid is None else (bid + _ONE - no_bid) / 2


class _Tape:
    """What an episode saw: the mid after every step (exchange ms, pips), our fills, and positions at decisions."""

    def __init__(self) -> None:
        self.times: list[int] = []
        self.mids: list[float] = []
        self.fills: list[Any] = []

    def see(self, now_ms: int, book: Any) -> None:
        mid = _mid(book)
        if mid is not None:
            self.times.append(now_ms)
            self.mids.append(mid)

    def mid_at(self, ts_ms: int) -> float | None:
        """The mid as of ``ts_ms`` (the last one seen at or before it; the first one when none is)."""
        if not self.mids:
            return None
        return self.mids[max(bisect.bisect_right(self.times, ts_ms) - 1, 0)]

    def markouts(self) -> tuple[int, ...]:
        return tuple(round(sum(_value(f, self.mid_at(f.ts_ms + s * 1000)) for f in self.fills)) for s in MARKOUTS_S)

    def latent_edge(self, series: Any) -> int | None:
        if series is None:
            return None
        return round(sum(_value(f, _ONE * _latent_at(series, f.ts_ms)) for f in self.fills))


def _value(fill: Any, yes_value: float | None) -> float:
    """A fill's worth (micros) if a YES contract is worth ``yes_value`` pips: ``(value - price) x count``."""
    if yes_value is None:
        return 0.0
    worth = yes_value if fill.side == "yes" else _ONE - yes_value
    return (worth - fill.price) * fill.count


def _play(env: KalshiMarketEnv, index: int, ticker: str, regime: str | None, policy: PolicyFn, actions: np.ndarray,
          series: Any, needs_latent: bool, max_steps: int | None) -> Episode:
    obs, info = env.reset(options={"session": index, "ticker": ticker})
    tape = _Tape()
    tape.see(info["now_ms"], env.md.books.books.get(ticker))
    times: list[int] = []
    positions: list[int] = []
    pnl: list[int] = []
    cash = env.config.initial_cash
    done = env._done
    while not done:
        times.append(info["now_ms"])
        positions.append(abs(info["position"]))
        pnl.append(info["equity"] - cash)
        if needs_latent:
            action = int(policy(obs[None, :], latent=np.array([_latent_at(series, info["now_ms"])]))[0])
        else:
            action = int(policy(obs[None, :])[0])
        actions[action] += 1
        obs, _, terminated, truncated, info = env.step(action)
        tape.fills.extend(env.step_fills)
        tape.see(info["now_ms"], env.md.books.books.get(ticker))
        done = terminated or truncated or (max_steps is not None and len(times) >= max_steps)
    final = info["equity"] - cash
    return Episode(index, ticker, regime, final, len(tape.fills), sum(f.count for f in tape.fills), info["fees"],
                   len(times), _time_weighted(times, positions, info["now_ms"]) / 100,
                   positions[-1] / 100 if positions else 0.0, tape.markouts(), tape.latent_edge(series),
                   _curve(pnl, final))


def _time_weighted(times: list[int], values: list[int], end_ms: int) -> float:
    """The mean of ``values[i]``, each held from ``times[i]`` to the next time (the last to ``end_ms``)."""
    if not values:
        return 0.0
    t = np.asarray([*times, max(end_ms, times[-1])], dtype=np.float64)
    dt = np.diff(t)
    return float(np.dot(values, dt) / dt.sum()) if dt.sum() > 0 else float(np.mean(values))


def _curve(pnl: list[int], final: int) -> tuple[int, ...]:
    """Net P&L at CURVE_POINTS evenly spaced fractions of the episode's decisions (the last point: the final)."""
    path = [0, *pnl[1:], final]  # before the first decision nothing is made yet
    at = np.linspace(0, len(path) - 1, CURVE_POINTS).round().astype(int)
    return tuple(int(path[i]) for i in at)


# --- stochastic play ---


class _Sampled:
    """A registry model played stochastically: actions drawn from its distribution (seeded), entropy kept.

    The probabilities come from ``policy.probabilities`` when the Policy has it, else from the SB3
    model's ``policy.get_distribution`` (torch; :class:`~.policy.Policy` itself predicts argmax only)."""

    def __init__(self, policy: Any, seed: int) -> None:
        self.policy = policy
        self.action_config = policy.action_config
        self.rng = np.random.default_rng(seed)
        self.entropy_sum = 0.0
        self.decisions = 0

    def probabilities(self, obs: np.ndarray) -> np.ndarray:
        if hasattr(self.policy, "probabilities"):
            return np.asarray(self.policy.probabilities(obs), dtype=np.float64)
        return _sb3_probs(self.policy.model, obs)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        probs = self.probabilities(obs)
        self.entropy_sum += float(-(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum())
        self.decisions += len(probs)
        draws = self.rng.random((len(probs), 1))
        return (draws > probs.cumsum(axis=1)).sum(axis=1).clip(0, probs.shape[1] - 1).astype(np.int64)

    def mean_entropy(self) -> float | None:
        return self.entropy_sum / self.decisions if self.decisions else None


def _sb3_probs(model: Any, obs: np.ndarray) -> np.ndarray:
    """The action probabilities of an SB3 model's policy network (float64 ``[n, actions]``)."""
    import torch

    with torch.inference_mode():
        tensor, _ = model.policy.obs_to_tensor(np.asarray(obs, np.float32))
        return model.policy.get_distribution(tensor).distribution.probs.cpu().numpy().astype(np.float64)


# --- many policies: in parallel processes sharing the loaded sessions ---

_JOBS: list[tuple[str, PolicyFn, EnvConfig]] = []
_HELD: list[HeldOut] = []


def _run_job(i: int) -> PolicyResult | str:
    name, policy, config = _JOBS[i]
    try:
        return run_policy(name, policy, _HELD[0], config)
    except LatentMissing as exc:
        return str(exc)


def _play_all(jobs: list[tuple[str, PolicyFn, EnvConfig]], held: HeldOut,
              workers: int) -> list[PolicyResult | str]:
    """Each job's result (a reason string when it could not be played), in job order. ``workers > 1`` forks
    processes that inherit the loaded sessions and the policies (nothing is pickled but the results)."""
    _JOBS[:] = jobs
    _HELD[:] = [held]
    try:
        if workers <= 1 or len(jobs) <= 1:
            return [_run_job(i) for i in range(len(jobs))]
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=get_context("fork")) as pool:
            return list(pool.map(_run_job, range(len(jobs))))
    finally:
        _JOBS.clear()
        _HELD.clear()


def _candidates(policy: PolicyFn) -> list[tuple[dict[str, Any], PolicyFn]]:
    """A tunable baseline's grid as ``(parameters, policy)``: mappings are constructor keywords of its class."""
    out = []
    for item in policy.grid():
        if isinstance(item, Mapping):
            out.append((dict(item), type(policy)(**item)))
        else:
            out.append((dict(getattr(item, "params", None) or {"candidate": repr(item)}), item))
    return out


def tune(policy: PolicyFn, validation: HeldOut | None, config: EnvConfig, *,
         workers: int = 1) -> tuple[PolicyFn, dict[str, Any]]:
    """Choose a ``grid()`` baseline's parameters on the validation sessions: the best mean net P&L per episode
    (the first on ties). Returns the chosen policy and the tuning record (chosen and every candidate's score).
    Without validation sessions the baseline is played as given (``"chosen": None``)."""
    if validation is None or not validation.sessions:
        return policy, {"chosen": None, "note": "no validation sessions: played with its default parameters"}
    candidates = _candidates(policy)
    results = _play_all([(policy.name, p, config) for _, p in candidates], validation, workers)
    scores = [{"params": params, "mean_pnl": None if isinstance(r, str) else float(r.pnl.mean()) / _MICROS,
               "episodes": 0 if isinstance(r, str) else len(r.episodes)} for (params, _), r in zip(candidates, results)]
    playable = [i for i, s in enumerate(scores) if s["mean_pnl"] is not None]
    if not playable:
        return policy, {"chosen": None, "note": "no candidate could be played on the validation sessions",
                        "candidates": scores}
    best = max(playable, key=lambda i: (scores[i]["mean_pnl"], -i))
    return candidates[best][1], {"chosen": candidates[best][0], "candidates": scores}


# --- the evaluation ---


def evaluate_policies(policies: Sequence[tuple[str, PolicyFn]],
                      sessions: Sequence[Session | str | os.PathLike[str]] | HeldOut, config: EnvConfig, *,
                      validation: Sequence[Session | str | os.PathLike[str]] | HeldOut | None = None,
                      png: str | os.PathLike[str] | None = None, title: str = "", seed: int = 0,
                      samples: int = BOOTSTRAP_SAMPLES, workers: int = 1) -> EvaluationReport:
    """Play each policy on the same episodes; the first is the subject, compared with every other one that is not
    a play of the subject itself (stochastic). Tunable baselines are tuned on ``validation`` first."""
    started = time.perf_counter()
    held = HeldOut.load(sessions, config.tick_interval_ms)
    checked = HeldOut.load(validation, config.tick_interval_ms) if validation else None
    tuning: dict[str, Any] = {}
    entries = []
    for name, fn in policies:
        if hasattr(fn, "grid"):
            fn, tuning[name] = tune(fn, checked, config, workers=workers)
        entries.append((name, fn))
    played = _play_all([(name, fn, config) for name, fn in entries], held, workers)
    results, skipped = [], {}
    for (name, _), r in zip(entries, played):
        if isinstance(r, str):
            skipped[name] = r
        else:
            r.parameters = tuning.get(name, {}).get("chosen")
            results.append(r)
    comparisons = _comparisons(results, seed, samples)
    report = EvaluationReport(results, comparisons["pnl"], comparisons.get("latent_edge"), title=title, meta={
        "title": title, "seed": seed, "bootstrap_samples": samples, "alpha": ALPHA,
        "sessions": {"test": held.names, "validation": checked.names if checked else []},
        "episodes": len(results[0].episodes) if results else 0, "env_config": config.to_dict(),
        "latent": {"available": comparisons.get("latent_edge") is not None, "note": held.latent_note},
        "tuning": tuning, "skipped": skipped, "per_regime": _per_regime(results, seed, samples)})
    report.table = format_table(report)
    if png is not None:
        report.png = plot_report(report, png, title=title)
    report.meta["wall_s"] = round(time.perf_counter() - started, 1)
    return report


def _clusters(result: PolicyResult) -> np.ndarray:
    return np.asarray([e.session for e in result.episodes])


def _baselines(results: Sequence[PolicyResult]) -> list[PolicyResult]:
    """Every result but the subject and the subject's stochastic play."""
    return [r for r in results[1:] if not r.stochastic]


def _differences(subject: PolicyResult, others: Sequence[PolicyResult], metric: str) -> list[tuple[str, np.ndarray]]:
    keys = [(e.session, e.ticker) for e in subject.episodes]
    out = []
    for other in others:
        if [(e.session, e.ticker) for e in other.episodes] != keys:
            raise ValueError(f"{other.name} played other episodes than {subject.name}: not a paired comparison")
        out.append((other.name, (subject.values(metric) - other.values(metric)) / _MICROS))
    return out


def _comparisons(results: Sequence[PolicyResult], seed: int, samples: int) -> dict[str, list[Comparison] | None]:
    """Holm-judged comparisons of the subject with each baseline: P&L, and latent edge when every episode has it."""
    others = _baselines(results)
    if not results or not others:
        return {"pnl": [], "latent_edge": None}
    subject, clusters = results[0], _clusters(results[0])
    out: dict[str, list[Comparison] | None] = {
        "pnl": judge(_differences(subject, others, "pnl"), clusters, samples=samples, seed=seed)}
    edge = _differences(subject, others, "latent_edge")
    available = len(clusters) and all(not np.isnan(d).any() for _, d in edge)
    out["latent_edge"] = judge(edge, clusters, samples=samples, seed=seed) if available else None
    return out


def _per_regime(results: Sequence[PolicyResult], seed: int, samples: int) -> dict[str, Any]:
    """By regime: episodes, each policy's mean P&L (and edge), the subject minus each baseline (95%, descriptive)."""
    if not results:
        return {}
    regimes = [e.regime for e in results[0].episodes]
    out: dict[str, Any] = {}
    for regime in sorted({r for r in regimes if r is not None}):
        mask = np.asarray([r == regime for r in regimes])
        clusters = _clusters(results[0])[mask]
        policies = {}
        for r in results:
            pnl, edge = r.pnl[mask] / _MICROS, r.values("latent_edge")[mask] / _MICROS
            policies[r.name] = {"mean_pnl": float(pnl.mean()), "iqm_pnl": iqm(pnl),
                                "mean_latent_edge": None if np.isnan(edge).any() else float(edge.mean())}
        diffs = _differences(results[0], _baselines(results), "pnl")
        out[regime] = {"episodes": int(mask.sum()), "sessions": len(set(clusters.tolist())), "policies": policies,
                       "comparisons": [compare(name, d[mask], clusters, samples=samples, seed=seed).as_dict()
                                       for name, d in diffs]}
    return out


def evaluate_model(registry: Any, model_id: str | None, sessions: Sequence[str | os.PathLike[str]], *,
                   validation: Sequence[str | os.PathLike[str]] | None = None,
                   png: str | os.PathLike[str] | None = None, seed: int = 0, threads: int = 1,
                   stochastic: bool = True, workers: int = 1) -> EvaluationReport:
    """``kalshi-actor evaluate``: the registry model (validated on load) played deterministically (the subject of
    the comparisons) and stochastically, and the baselines (``baselines(seed)``), with the model's env config."""
    from .baselines import baselines
    from .policy import Policy

    policy = Policy.load(registry, model_id, threads=threads)
    name = f"model {policy.model_id}"
    entries: list[tuple[str, PolicyFn]] = [(name, policy.predict)]
    if stochastic and getattr(policy, "model", None) is not None:
        entries.append((f"{name} (stochastic)", _Sampled(policy, seed)))
    entries += [(b.name, b) for b in baselines(seed)]
    return evaluate_policies(entries, sessions, policy.env_config, validation=validation, png=png, seed=seed,
                             workers=workers, title=f"{policy.model_id} on {len(sessions)} held-out session(s)")
