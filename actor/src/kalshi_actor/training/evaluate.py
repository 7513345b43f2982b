"""Evaluation: a model against baselines on the SAME held-out episodes, with statistics that tell them apart.

Every policy plays every market of every session once (one episode each, same order), through
the same environment, action mapping and fill model, so they face identical markets. Per policy
(money per episode, net of fees, dollars in the table; exact micros inside):

- ``mean`` and ``IQM`` of net P&L per episode (settled where the session says how the market
  resolved, else marked at the env config's mark), ``Sharpe`` per episode (mean / std);
- ``|pos|``: mean absolute position over decisions, and ``end |pos|`` at the last decision
  (what is carried into settlement), contracts;
- ``fills``, ``fees``, and the fill markouts ``mk10``/``mk60``: each fill of ours marked at the
  mid 10 s and 60 s of exchange time later (the last mid of the episode when it ends sooner),
  summed per episode: a maker whose fills are picked off shows it here first;
- the action shares, and for stochastic play the policy's mean entropy (nats);
- ``flag``: ``COLLAPSED`` when one TRADING action makes up :data:`COLLAPSE_SHARE` of the
  decisions that trade (a constant policy); HOLD does not count (a maker holds while its quotes
  rest).

Then the subject (the first policy: the model) against EACH other policy: the mean per-episode
difference with a 95% bootstrap CI resampling sessions, Holm-adjusted across the baselines, the
probability of improvement, and a verdict (:func:`~.statistics.judge`).

Outputs: :attr:`EvaluationReport.table` (text), :meth:`EvaluationReport.to_json` (everything,
machine-readable) and a PNG (:func:`plot_report`): cumulative P&L with the CI of the mean as a
cone, the forest plot of the differences, the action shares.

Default held-out sets (simulated, disjoint from training's seeds 1.. and the training-time
evaluation's 10_001..): :data:`VALIDATION` (choosing baselines' parameters) and :data:`TEST`
(reporting), 30 sessions of 5 markets each.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..trading.types import Action
from .env import EnvConfig, KalshiMarketEnv, Session, load_session
from .statistics import Comparison, iqm, judge

__all__ = ["COLLAPSE_SHARE", "TEST", "VALIDATION", "Episode", "EvaluationReport", "PolicyResult",
           "evaluate_model", "evaluate_policies", "format_table", "plot_report", "run_policy", "write_json"]

COLLAPSE_SHARE = 0.95
MARKOUTS_S = (10, 60)
_MICROS = 1_000_000
_SEED_NAMES = tuple(a.name.lower() for a in Action)

PolicyFn = Callable[[np.ndarray], np.ndarray]


def _held_out(seed: int) -> Any:
    from .train import SimSessions

    return SimSessions(count=30, markets=5, duration_s=1800.0, seed=seed)


VALIDATION = _held_out(40_001)
TEST = _held_out(50_001)


@dataclass(frozen=True)
class Episode:
    """One policy's play of one market of one session (money in micros, positions in contracts)."""

    session: int
    ticker: str
    pnl: int
    fills: int
    fees: int
    decisions: int
    mean_abs_position: float
    end_abs_position: float
    markouts: tuple[int, ...]  # per MARKOUTS_S


@dataclass
class PolicyResult:
    """One policy's evaluation: its episodes in play order and its decisions."""

    name: str
    action_names: tuple[str, ...] = _SEED_NAMES
    episodes: list[Episode] = field(default_factory=list)
    actions: np.ndarray = field(default_factory=lambda: np.zeros(len(Action), np.int64))
    entropy: float | None = None  # mean over decisions, stochastic play only
    parameters: dict[str, Any] | None = None  # chosen on validation sessions, for tuned baselines

    @property
    def pnl(self) -> np.ndarray:
        return np.asarray([e.pnl for e in self.episodes], dtype=np.float64)

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
    def collapsed(self) -> bool:
        """One trading action is (nearly) all of the decisions that trade (see the module docstring)."""
        trading = self.actions[1:]
        return bool(trading.sum() and trading.max() >= COLLAPSE_SHARE * trading.sum())

    def as_dict(self) -> dict[str, Any]:
        pnl = self.pnl / _MICROS
        mean = lambda name: float(np.mean([getattr(e, name) for e in self.episodes])) if self.episodes else 0.0  # noqa: E731
        return {
            "episodes": len(self.episodes), "net_pnl": self.net_pnl / _MICROS,
            "mean_pnl": float(pnl.mean()) if len(pnl) else 0.0, "iqm_pnl": iqm(pnl) if len(pnl) else 0.0,
            "sharpe": round(self.sharpe, 4), "trades": self.trades, "fees": self.fees / _MICROS,
            "mean_abs_position": round(mean("mean_abs_position"), 4),
            "end_abs_position": round(mean("end_abs_position"), 4),
            **{f"markout_{s}s": sum(e.markouts[i] for e in self.episodes) / _MICROS for i, s in enumerate(MARKOUTS_S)},
            "actions": {n: round(float(s), 4) for n, s in zip(self.action_names, self.action_share)},
            "entropy": None if self.entropy is None else round(self.entropy, 4),
            "collapsed": self.collapsed, "parameters": self.parameters,
        }


# --- playing ---


class _Markouts:
    """The mids an episode saw (exchange ms, pips; YES scale) and its fills, for markouts at the end."""

    def __init__(self) -> None:
        self.times: list[int] = []
        self.mids: list[float] = []
        self.fills: list[Any] = []

    def see(self, now_ms: int, book: Any) -> None:
        bid, no_bid = (book.best_yes_bid_price, book.best_no_bid_price) if book is not None else (None, None)
        if bid is not None and no_bid is not None:
            self.times.append(now_ms)
            self.mids.append((bid + 10_000 - no_bid) / 2)

    def totals(self) -> tuple[int, ...]:
        if not self.mids:
            return tuple(0 for _ in MARKOUTS_S)
        out = []
        for seconds in MARKOUTS_S:
            total = 0.0
            for f in self.fills:
                i = min(bisect.bisect_left(self.times, f.ts_ms + seconds * 1000), len(self.mids) - 1)
                value = self.mids[i] if f.side == "yes" else 10_000 - self.mids[i]
                total += (value - f.price) * f.count  # pips x hundredths = micros
            out.append(round(total))
        return tuple(out)


def run_policy(name: str, policy: PolicyFn, sessions: Sequence[Session | str | os.PathLike[str]],
               config: EnvConfig, *, max_steps: int | None = None) -> PolicyResult:
    """Play every market of every session once with ``policy`` (one decision at a time).

    ``policy`` may carry ``action_config`` (played with it instead of ``config.action``) and
    ``action_names``; a stochastic player (:class:`_Sampled`) reports its entropy."""
    if getattr(policy, "action_config", None) is not None:
        config = replace(config, action=policy.action_config)
    loaded = [s if isinstance(s, Session) else load_session(s, config.tick_interval_ms) for s in sessions]
    env = KalshiMarketEnv(loaded, config, min_decisions=0)
    names = tuple(getattr(config.action, "action_names", _SEED_NAMES))
    result = PolicyResult(name, names, actions=np.zeros(len(names), np.int64))
    for index, ticker in env.episodes:
        result.episodes.append(_play(env, index, ticker, policy, result.actions, max_steps))
    entropy = getattr(policy, "mean_entropy", None)
    result.entropy = entropy() if callable(entropy) else None
    return result


def _play(env: KalshiMarketEnv, index: int, ticker: str, policy: PolicyFn, actions: np.ndarray,
          max_steps: int | None) -> Episode:
    obs, info = env.reset(options={"session": index, "ticker": ticker})
    marks = _Markouts()
    positions: list[int] = []
    done = env._done
    steps = 0
    while not done:
        marks.see(info["now_ms"], env.book)
        positions.append(abs(info["position"]))
        action = int(policy(obs[None, :])[0])
        actions[action] += 1
        obs, _, terminated, truncated, info = env.step(action)
        marks.fills.extend(env.step_fills)
        steps += 1
        done = terminated or truncated or (max_steps is not None and steps >= max_steps)
    return Episode(index, ticker, info["equity"] - env.config.initial_cash, info["fills"], info["fees"], steps,
                   float(np.mean(positions)) / 100 if positions else 0.0,
                   positions[-1] / 100 if positions else 0.0, marks.totals())


class _Sampled:
    """A registry model played stochastically: actions drawn from its distribution (seeded), entropy kept."""

    def __init__(self, policy: Any, seed: int) -> None:
        self.policy = policy
        self.action_config = policy.action_config
        self.rng = np.random.default_rng(seed)
        self.entropies: list[float] = []

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        probs = self.policy.probabilities(obs) if hasattr(self.policy, "probabilities") else _sb3_probs(self.policy, obs)
        self.entropies.append(float(-(probs * np.log(np.clip(probs, 1e-12, 1))).sum(axis=1).mean()))
        cumulative = probs.cumsum(axis=1)
        draws = self.rng.random((len(probs), 1))
        return (draws > cumulative).sum(axis=1).clip(0, probs.shape[1] - 1).astype(np.int64)

    def mean_entropy(self) -> float | None:
        return float(np.mean(self.entropies)) if self.entropies else None


def _sb3_probs(policy: Any, obs: np.ndarray) -> np.ndarray:
    """The action probabilities of an SB3 model's policy network (torch; evaluation only)."""
    import torch

    model = policy.model
    with torch.no_grad():
        tensor, _ = model.policy.obs_to_tensor(np.asarray(obs, np.float32))
        return model.policy.get_distribution(tensor).distribution.probs.cpu().numpy().astype(np.float64)


# --- the report ---


@dataclass
class EvaluationReport:
    results: list[PolicyResult]
    comparisons: list[Comparison]
    table: str
    png: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        """JSON-ready metrics by policy name (what the registry stores as ``evaluation``)."""
        return {r.name: r.as_dict() for r in self.results}

    def to_json(self) -> dict[str, Any]:
        return {**self.meta, "policies": self.metrics(),
                "subject": self.results[0].name if self.results else None,
                "comparisons": [c.as_dict() for c in self.comparisons],
                "per_regime": self.meta.get("per_regime", {})}


def evaluate_policies(policies: Sequence[tuple[str, PolicyFn]], sessions: Sequence[Session | str | os.PathLike[str]],
                      config: EnvConfig, *, png: str | os.PathLike[str] | None = None, title: str = "",
                      seed: int = 0) -> EvaluationReport:
    """Play each policy on the same episodes; the first is the subject compared with every other."""
    loaded = [s if isinstance(s, Session) else load_session(s, config.tick_interval_ms) for s in sessions]
    results = [run_policy(name, fn, loaded, config) for name, fn in policies]
    comparisons = _compare(results, seed) if len(results) > 1 else []
    report = EvaluationReport(results, comparisons, format_table(results, comparisons),
                              meta={"title": title, "sessions": len(loaded),
                                    "episodes": len(results[0].episodes) if results else 0})
    if png is not None:
        report.png = plot_report(report, png, title=title)
    return report


def _compare(results: Sequence[PolicyResult], seed: int) -> list[Comparison]:
    subject = results[0]
    clusters = np.asarray([e.session for e in subject.episodes])
    for other in results[1:]:
        if [(e.session, e.ticker) for e in other.episodes] != [(e.session, e.ticker) for e in subject.episodes]:
            raise ValueError(f"{other.name} played other episodes than {subject.name}: not a paired comparison")
    diffs = [(r.name, (subject.pnl - r.pnl) / _MICROS) for r in results[1:]]
    return judge(diffs, clusters, seed=seed)


def evaluate_model(registry: Any, model_id: str | None, sessions: Sequence[str | os.PathLike[str]], *,
                   png: str | os.PathLike[str] | None = None, seed: int = 0, threads: int = 1,
                   stochastic: bool = True) -> EvaluationReport:
    """``kalshi-actor evaluate``: the registry model (validated on load), deterministic and stochastic, vs the
    baselines, with the model's own env config. Comparisons are of the deterministic play."""
    from .baselines import baselines
    from .policy import Policy

    policy = Policy.load(registry, model_id, threads=threads)
    entries: list[tuple[str, PolicyFn]] = [(f"model {policy.model_id}", policy.predict)]
    entries += [(b.name, b) for b in baselines(seed)]
    if stochastic and getattr(policy, "model", None) is not None:
        entries.append((f"model {policy.model_id} (stochastic)", _Sampled(policy, seed)))
    return evaluate_policies(entries, sessions, policy.env_config, png=png, seed=seed,
                             title=f"{policy.model_id} on {len(sessions)} held-out session(s)")


def format_table(results: Sequence[PolicyResult], comparisons: Sequence[Comparison] = ()) -> str:
    """One row per policy, then the subject against each other policy."""
    header = ["policy", "mean $/ep", "IQM $/ep", "Sharpe", "|pos|", "end |pos|", "fills", "fees $",
              *(f"mk{s} $" for s in MARKOUTS_S), "episodes", "actions %", "entropy", "flag"]
    rows = [header]
    for r in results:
        d = r.as_dict()
        shares = "/".join(f"{100 * s:.0f}" for s in r.action_share)
        rows.append([r.name, f"{d['mean_pnl']:+.3f}", f"{d['iqm_pnl']:+.3f}", f"{r.sharpe:.3f}",
                     f"{d['mean_abs_position']:.2f}", f"{d['end_abs_position']:.2f}", str(r.trades),
                     f"{r.fees / _MICROS:,.2f}", *(f"{d[f'markout_{s}s']:+,.2f}" for s in MARKOUTS_S),
                     str(len(r.episodes)), shares, "" if r.entropy is None else f"{r.entropy:.2f}",
                     "COLLAPSED" if r.collapsed else ""])
    lines = _columns(rows)
    if results:
        lines.append(f"actions %: {'/'.join(results[0].action_names)}")
    if comparisons:
        lines.append("")
        lines.append(f"{results[0].name} minus each policy: mean $/episode, CI resampling sessions (Holm level),"
                     " P(better episode)")
        rows = [["vs", "mean", "CI", "level", "p (Holm)", "P(improve)", "verdict"]]
        for c in comparisons:
            rows.append([c.baseline, f"{c.mean:+.3f}", f"[{c.low:+.3f}, {c.high:+.3f}]", f"{100 * c.level:.1f}%",
                         f"{c.p_adjusted:.3f}", f"{c.improvement:.2f} [{c.improvement_low:.2f}, "
                         f"{c.improvement_high:.2f}]", c.verdict])
        lines += _columns(rows)
    return "\n".join(lines)


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def plot_report(report: EvaluationReport, path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Three panels: cumulative P&L per policy (with the subject's 95% cone), the differences' CIs, action shares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (equity, forest, shares) = plt.subplots(1, 3, figsize=(16, 5.5), dpi=100,
                                                 gridspec_kw={"width_ratios": [2.2, 1.4, 1.4]})
    for r in report.results:
        curve = np.concatenate([[0.0], np.cumsum(r.pnl) / _MICROS])
        equity.plot(curve, label=f"{r.name} ({r.net_pnl / _MICROS:+,.2f} $){' COLLAPSED' if r.collapsed else ''}",
                    linewidth=1.3)
    if report.comparisons:
        subject = report.results[0]
        n = np.arange(len(subject.episodes) + 1)
        sd = subject.pnl.std() / _MICROS if len(subject.episodes) > 1 else 0.0
        mean = subject.pnl.mean() / _MICROS if len(subject.episodes) else 0.0
        equity.fill_between(n, n * mean - 1.96 * sd * np.sqrt(n), n * mean + 1.96 * sd * np.sqrt(n), alpha=0.12,
                            label=f"{subject.name}: 95% band")
    equity.axhline(0.0, color="grey", linewidth=0.6)
    equity.set(xlabel="episodes (held-out markets, in play order)", ylabel="cumulative net P&L after fees ($)",
               title=title or "equity")
    equity.legend(loc="best", fontsize=7)
    for y, c in enumerate(report.comparisons):
        color = {"better": "tab:green", "worse": "tab:red"}.get(c.verdict, "tab:grey")
        forest.errorbar(c.mean, y, xerr=[[c.mean - c.low], [c.high - c.mean]], fmt="o", color=color, capsize=3)
    forest.axvline(0.0, color="grey", linewidth=0.6)
    forest.set_yticks(range(len(report.comparisons)), [c.baseline for c in report.comparisons], fontsize=8)
    forest.set(xlabel="$/episode, model minus baseline (Holm CI)", title="differences")
    names = [r.name for r in report.results]
    left = np.zeros(len(names))
    labels = report.results[0].action_names if report.results else ()
    for a, label in enumerate(labels):
        share = np.asarray([r.action_share[a] if a < len(r.action_share) else 0.0 for r in report.results])
        shares.barh(names, share, left=left, label=label)
        left += share
    shares.set(xlabel="share of decisions", title="actions")
    shares.tick_params(axis="y", labelsize=7)
    shares.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def write_json(report: EvaluationReport, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report.to_json(), indent=2, default=str))
    return out
