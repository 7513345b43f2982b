"""Evaluation: a model against baselines on held-out sessions, all through the same environment.

Every policy plays every market of every session once (one episode each, same order),
so they face identical markets. Per policy the table shows:

- ``net P&L``: the sum of the episodes' net P&L after fees (exact, dollars; settled where the
  session says how the market resolved, else marked at the env config's mark);
- ``Sharpe``: mean / standard deviation of the per-episode net P&L (not annualised; 0 when
  every episode made the same);
- ``max DD``: the largest drop of the cumulative P&L curve (episodes played one after another);
- ``trades`` (our fills), ``fees`` (dollars), and the action distribution (share of each action);
- ``flag``: ``COLLAPSED`` when one action is at least :data:`COLLAPSE_SHARE` of all decisions.

The PNG plots each policy's cumulative P&L against decisions (matplotlib, Agg backend).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..trading.types import Action
from .env import EnvConfig, KalshiMarketEnv, Session, load_session

__all__ = ["COLLAPSE_SHARE", "PolicyResult", "EvaluationReport", "run_policy", "evaluate_policies",
           "evaluate_model", "format_table", "plot_equity"]

COLLAPSE_SHARE = 0.9
_ACTION_NAMES = ("hold", "buy_yes", "sell_yes", "buy_no", "sell_no")
_MICROS = 1_000_000

PolicyFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class PolicyResult:
    """One policy's evaluation (money in micros)."""

    name: str
    episode_pnl: list[int] = field(default_factory=list)
    curve: list[int] = field(default_factory=list)  # cumulative net P&L after every decision
    trades: int = 0
    fees: int = 0
    actions: np.ndarray = field(default_factory=lambda: np.zeros(len(Action), np.int64))

    @property
    def net_pnl(self) -> int:
        return sum(self.episode_pnl)

    @property
    def sharpe(self) -> float:
        pnl = np.asarray(self.episode_pnl, dtype=np.float64)
        if len(pnl) < 2 or pnl.std() == 0:
            return 0.0
        return float(pnl.mean() / pnl.std())

    @property
    def max_drawdown(self) -> int:
        if not self.curve:
            return 0
        curve = np.asarray([0, *self.curve], dtype=np.int64)
        return int((np.maximum.accumulate(curve) - curve).max())

    @property
    def action_share(self) -> np.ndarray:
        total = self.actions.sum()
        return self.actions / total if total else np.zeros(len(self.actions))

    @property
    def collapsed(self) -> bool:
        return bool(self.actions.sum()) and float(self.action_share.max()) >= COLLAPSE_SHARE

    def as_dict(self) -> dict[str, Any]:
        return {"net_pnl": self.net_pnl / _MICROS, "sharpe": round(self.sharpe, 4),
                "max_drawdown": self.max_drawdown / _MICROS, "trades": self.trades, "fees": self.fees / _MICROS,
                "episodes": len(self.episode_pnl),
                "actions": {n: round(float(s), 4) for n, s in zip(_ACTION_NAMES, self.action_share)},
                "collapsed": self.collapsed}


def run_policy(name: str, policy: PolicyFn, sessions: Sequence[Session | str | os.PathLike[str]],
               config: EnvConfig, *, max_steps: int | None = None) -> PolicyResult:
    """Play every market of every session once with ``policy`` (one decision at a time)."""
    loaded = [s if isinstance(s, Session) else load_session(s, config.tick_interval_ms) for s in sessions]
    env = KalshiMarketEnv(loaded, config, min_decisions=0)
    result = PolicyResult(name)
    curve = result.curve
    total = 0
    for index, ticker in env.episodes:
        obs, info = env.reset(options={"session": index, "ticker": ticker})
        done = env._done
        steps = 0
        while not done:
            action = int(policy(obs[None, :])[0])
            result.actions[action] += 1
            obs, _, terminated, truncated, info = env.step(action)
            steps += 1
            curve.append(total + info["equity"] - config.initial_cash)
            done = terminated or truncated or (max_steps is not None and steps >= max_steps)
        pnl = info["equity"] - config.initial_cash
        total += pnl
        result.episode_pnl.append(pnl)
        result.trades += info["fills"]
        result.fees += info["fees"]
    return result


@dataclass
class EvaluationReport:
    results: list[PolicyResult]
    table: str
    png: Path | None

    def metrics(self) -> dict[str, Any]:
        """JSON-ready metrics by policy name (what the registry stores as ``evaluation``)."""
        return {r.name: r.as_dict() for r in self.results}


def evaluate_policies(policies: Sequence[tuple[str, PolicyFn]], sessions: Sequence[Session | str | os.PathLike[str]],
                      config: EnvConfig, *, png: str | os.PathLike[str] | None = None,
                      title: str = "") -> EvaluationReport:
    results = [run_policy(name, fn, sessions, config) for name, fn in policies]
    out = None
    if png is not None:
        out = plot_equity(results, png, title=title)
    return EvaluationReport(results, format_table(results), out)


def evaluate_model(registry: Any, model_id: str | None, sessions: Sequence[str | os.PathLike[str]], *,
                   png: str | os.PathLike[str] | None = None, seed: int = 0, threads: int = 1) -> EvaluationReport:
    """``kalshi-actor evaluate``: the registry model (validated on load) vs the baselines, with its env config."""
    from .baselines import baselines
    from .policy import Policy

    policy = Policy.load(registry, model_id, threads=threads)
    entries: list[tuple[str, PolicyFn]] = [(f"model {policy.model_id}", policy.predict)]
    entries += [(b.name, b) for b in baselines(seed)]
    return evaluate_policies(entries, sessions, policy.env_config, png=png,
                             title=f"{policy.model_id} on {len(sessions)} held-out session(s)")


def format_table(results: Sequence[PolicyResult]) -> str:
    header = ["policy", "net P&L $", "Sharpe", "max DD $", "trades", "fees $", "episodes",
              "hold/buyY/sellY/buyN/sellN %", "flag"]
    rows = [header]
    for r in results:
        share = "/".join(f"{100 * s:.0f}" for s in r.action_share)
        rows.append([r.name, f"{r.net_pnl / _MICROS:,.2f}", f"{r.sharpe:.3f}", f"{r.max_drawdown / _MICROS:,.2f}",
                     str(r.trades), f"{r.fees / _MICROS:,.2f}", str(len(r.episode_pnl)), share,
                     "COLLAPSED" if r.collapsed else ""])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot_equity(results: Sequence[PolicyResult], path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Cumulative net P&L (dollars) of each policy against decisions, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5), dpi=100)
    for r in results:
        curve = np.asarray([0, *r.curve], dtype=np.float64) / _MICROS
        label = f"{r.name} ({r.net_pnl / _MICROS:+,.2f} $){' COLLAPSED' if r.collapsed else ''}"
        ax.plot(np.arange(len(curve)), curve, label=label, linewidth=1.2)
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xlabel("decisions (episodes back to back)")
    ax.set_ylabel("cumulative net P&L after fees ($)")
    ax.set_title(title or "equity curves")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
