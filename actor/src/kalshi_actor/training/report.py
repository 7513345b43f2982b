"""The evaluation's outputs: a plain-text table, a JSON report, and a PNG a person reads at a glance.

Money is exact micros in the results and dollars here. :meth:`EvaluationReport.to_json` (schema
:data:`SCHEMA`)::

    {"schema": "kalshi-actor/evaluation/2", "title", "subject": policy name, "seed", "bootstrap_samples",
     "alpha", "episodes", "wall_s", "env_config": {...},
     "sessions": {"test": [file names], "validation": [file names]},
     "latent": {"available": bool, "note": str},
     "policies": {name: {"episodes", "decisions", "net_pnl", "mean_pnl", "iqm_pnl", "std_pnl", "sharpe",
                         "mean_abs_position", "end_abs_position", "fills", "contracts", "fees",
                         "markout_10s", "markout_60s" (dollars, summed), "markout_10s_per_contract", ... (dollars),
                         "latent_edge", "mean_latent_edge" (dollars; null: unavailable),
                         "actions": {name: share}, "entropy" (nats; null: deterministic), "stochastic",
                         "collapsed", "collapse_reason", "parameters" (chosen on validation; null)}},
     "comparisons": [C] (net P&L), "latent_comparisons": [C] | null (latent edge)
         (the subject minus each baseline, dollars per episode; a list, as the actor's status reads it)
         C = {"baseline", "episodes", "sessions", "mean", "low", "high", "level" (the Holm step's),
              "p_value", "p_adjusted" (Holm), "simultaneous_low", "simultaneous_high", "simultaneous_level",
              "improvement", "improvement_low", "improvement_high", "verdict", "note"},
     "per_regime": {regime: {"episodes", "sessions", "policies": {name: {"mean_pnl", "iqm_pnl",
                    "mean_latent_edge"}}, "comparisons": [C without Holm fields]}},
     "tuning": {baseline: {"chosen": params | null, "candidates": [{"params", "mean_pnl", "episodes"}], "note"?}},
     "skipped": {policy: reason}}
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .stats import Comparison, cluster_draws, iqm

__all__ = ["SCHEMA", "EvaluationReport", "format_table", "plot_report", "policy_metrics", "write_json"]

SCHEMA = "kalshi-actor/evaluation/2"
_MICROS = 1_000_000
_VERDICT_COLORS = {"better": "tab:green", "worse": "tab:red"}


def _dollars(micros: float) -> float:
    return round(micros / _MICROS, 6)


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def policy_metrics(r: Any) -> dict[str, Any]:
    """One :class:`~.evaluate.PolicyResult` as JSON-ready numbers (dollars per episode unless said)."""
    eps = r.episodes
    pnl = r.pnl / _MICROS
    contracts = sum(e.contracts for e in eps) / 100
    horizons = _horizons(r)
    edge = r.values("latent_edge")
    has_edge = bool(eps) and not np.isnan(edge).any()
    out = {
        "episodes": len(eps), "decisions": sum(e.decisions for e in eps), "net_pnl": _dollars(r.net_pnl),
        "mean_pnl": _finite(pnl.mean()) if eps else None, "iqm_pnl": _finite(iqm(pnl)) if eps else None,
        "std_pnl": _finite(pnl.std()) if eps else None, "sharpe": round(r.sharpe, 4),
        "mean_abs_position": round(float(np.mean([e.mean_abs_position for e in eps])), 4) if eps else 0.0,
        "end_abs_position": round(float(np.mean([e.end_abs_position for e in eps])), 4) if eps else 0.0,
        "fills": r.trades, "contracts": contracts, "fees": _dollars(r.fees),
    }
    for i, s in enumerate(horizons):
        total = sum(e.markouts[i] for e in eps)
        out[f"markout_{s}s"] = _dollars(total)
        out[f"markout_{s}s_per_contract"] = _dollars(total / contracts) if contracts else None
    out["latent_edge"] = _dollars(float(edge.sum())) if has_edge else None
    out["mean_latent_edge"] = _dollars(float(edge.mean())) if has_edge else None
    out.update({"actions": {n: round(float(s), 4) for n, s in zip(r.action_names, r.action_share)},
                "entropy": None if r.entropy is None else round(r.entropy, 4), "stochastic": r.stochastic,
                "collapsed": r.collapsed, "collapse_reason": r.collapse_reason, "parameters": r.parameters})
    return out


def _horizons(r: Any) -> tuple[int, ...]:
    from .evaluate import MARKOUTS_S

    return MARKOUTS_S


@dataclass
class EvaluationReport:
    """Everything the evaluation found; ``comparisons``: the subject minus each baseline (P&L), and by latent
    edge (``latent_comparisons``, None when unavailable)."""

    results: list[Any]
    comparisons: list[Comparison]
    latent_comparisons: list[Comparison] | None = None
    title: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    table: str = ""
    png: Path | None = None

    @property
    def subject(self) -> str | None:
        return self.results[0].name if self.results else None

    def metrics(self) -> dict[str, Any]:
        """JSON-ready metrics by policy name (what the registry stores as ``evaluation``)."""
        return {r.name: policy_metrics(r) for r in self.results}

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **self.meta, "subject": self.subject, "png": None if self.png is None else str(self.png),
                "policies": self.metrics(),
                "comparisons": [c.as_dict() for c in self.comparisons],
                "latent_comparisons": None if self.latent_comparisons is None
                else [c.as_dict() for c in self.latent_comparisons]}


# --- the table ---


def format_table(report: EvaluationReport) -> str:
    """One row per policy, then the subject against each baseline (P&L, and latent edge when available)."""
    results = report.results
    if not results:
        return "(no policy was played)"
    horizons = _horizons(results[0])
    header = ["policy", "mean $/ep", "IQM $/ep", "Sharpe", "|pos|", "end |pos|", "fills", "fees $",
              *(f"mk{s} $" for s in horizons), "edge $/ep", "hold %", "top trading action", "entropy", "flag"]
    rows = [header]
    for r in results:
        d = policy_metrics(r)
        rows.append([r.name, f"{d['mean_pnl']:+.3f}", f"{d['iqm_pnl']:+.3f}", f"{r.sharpe:+.3f}",
                     f"{d['mean_abs_position']:.2f}", f"{d['end_abs_position']:.2f}", str(r.trades),
                     f"{d['fees']:,.2f}", *(f"{d[f'markout_{s}s']:+,.2f}" for s in horizons),
                     "n/a" if d["mean_latent_edge"] is None else f"{d['mean_latent_edge']:+.3f}",
                     f"{100 * r.action_share[0]:.0f}" if len(r.action_share) else "", _top_trade(r),
                     "" if r.entropy is None else f"{r.entropy:.2f}", "COLLAPSED" if r.collapsed else ""])
    lines = _columns(rows)
    lines.append(f"{len(results[0].episodes)} episodes in {len(set(e.session for e in results[0].episodes))} "
                 "sessions; |pos| time-weighted (contracts); mk = fill markouts (summed); edge = vs the latent "
                 "probability; top trading action: its share of all decisions")
    for r in results:
        if r.collapsed:
            lines.append(f"{r.name}: COLLAPSED: {r.collapse_reason}")
    for r in results:
        if r.parameters:
            lines.append(f"{r.name}: parameters chosen on validation: {r.parameters}")
    for name, why in report.meta.get("skipped", {}).items():
        lines.append(f"{name}: not played: {why}")
    for label, comparisons in (("net P&L", report.comparisons), ("latent edge", report.latent_comparisons)):
        if comparisons:
            lines += ["", *_comparison_rows(report.subject, label, comparisons)]
    if report.latent_comparisons is None:
        lines.append(f"latent edge: unavailable ({report.meta.get('latent', {}).get('note', '')})")
    return "\n".join(lines)


def _top_trade(r: Any) -> str:
    trading = r.actions[1:]
    if not trading.sum():
        return "-"
    top = int(trading.argmax()) + 1
    return f"{r.action_names[top]} {100 * r.action_share[top]:.0f}%"


def _comparison_rows(subject: str | None, label: str, comparisons: Sequence[Comparison]) -> list[str]:
    rows = [["vs", "mean $/ep", "CI (Holm level)", "level", "p Holm", "P(improve)", "verdict"]]
    for c in comparisons:
        rows.append([c.baseline, f"{c.mean:+.4f}", f"[{c.low:+.4f}, {c.high:+.4f}]", f"{100 * c.level:.2f}%",
                     f"{c.p_adjusted:.3f}", f"{c.improvement:.2f} [{c.improvement_low:.2f}, {c.improvement_high:.2f}]",
                     c.verdict + (f" ({c.note})" if c.note else "")])
    return [f"{subject} minus each baseline, {label} per episode (CI resamples sessions, Holm across baselines):",
            *_columns(rows)]


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


# --- the PNG ---


def mean_curve(result: Any, *, samples: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean equity curve over episodes (dollars at each fraction of an episode) and its 95% band
    (sessions resampled)."""
    curves = np.asarray([e.curve for e in result.episodes], dtype=np.float64) / _MICROS
    index, draws = cluster_draws([e.session for e in result.episodes], samples=samples, seed=seed)
    k = draws.shape[1]
    sums = np.zeros((k, curves.shape[1]))
    np.add.at(sums, index, curves)
    counts = np.bincount(index, minlength=k).astype(np.float64)
    boot = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)[:, None]
    low, high = np.quantile(boot, [0.025, 0.975], axis=0)
    return curves.mean(axis=0), low, high


def plot_report(report: EvaluationReport, path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Three panels: each policy's mean equity curve through an episode with its 95% bootstrap band, the forest
    plot of the subject's differences (Holm CIs; green better, red worse), and the action shares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (equity, forest, shares) = plt.subplots(1, 3, figsize=(18, 6), dpi=100,
                                                 gridspec_kw={"width_ratios": [2.0, 1.5, 1.3]})
    _plot_curves(equity, report)
    equity.set_title(title or report.title or "mean equity curve per episode")
    _plot_forest(forest, report)
    _plot_shares(shares, report)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _plot_curves(ax: Any, report: EvaluationReport) -> None:
    for r in report.results:
        if not r.episodes:
            continue
        mean, low, high = mean_curve(r)
        x = np.linspace(0, 100, len(mean))
        line, = ax.plot(x, mean, linewidth=1.4, label=f"{r.name} ({mean[-1]:+.3f} $/ep)"
                        + (" COLLAPSED" if r.collapsed else ""))
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.12)
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set(xlabel="% of the episode's decisions", ylabel="mean net P&L after fees ($ per episode, 95% band)")
    ax.legend(loc="best", fontsize=7)


def _plot_forest(ax: Any, report: EvaluationReport) -> None:
    families = [("P&L", report.comparisons, 0.0), ("latent edge", report.latent_comparisons or [], 0.25)]
    names = [c.baseline for c in report.comparisons]
    for label, comparisons, offset in families:
        for c in comparisons:
            y = names.index(c.baseline) + offset
            ax.errorbar(c.mean, y, xerr=[[c.mean - c.low], [c.high - c.mean]], fmt="o" if offset == 0 else "s",
                        color=_VERDICT_COLORS.get(c.verdict, "tab:grey"), capsize=3, markersize=4)
    ax.axvline(0.0, color="grey", linewidth=0.6)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    suffix = " (o P&L, s latent edge)" if report.latent_comparisons else ""
    ax.set(xlabel=f"$/episode, {report.subject} minus baseline{suffix}", title="differences (Holm CIs)")


def _plot_shares(ax: Any, report: EvaluationReport) -> None:
    """Stacked shares by action NAME (policies may play different action spaces)."""
    names = [r.name for r in report.results]
    left = np.zeros(len(names))
    labels = list(dict.fromkeys(n for r in report.results for n in r.action_names))
    colors = matplotlib_colors(len(labels))
    for label, color in zip(labels, colors):
        share = np.asarray([dict(zip(r.action_names, r.action_share)).get(label, 0.0) for r in report.results])
        ax.barh(names, share, left=left, label=label, color=color)
        left += share
    ax.invert_yaxis()
    ax.set(xlabel="share of decisions", title="actions")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), ncol=1 + len(labels) // 24)


def matplotlib_colors(n: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    return [cmap(i % 20) for i in range(n)]


def write_json(report: EvaluationReport, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report.to_json(), indent=2, default=str, allow_nan=False))
    return out
