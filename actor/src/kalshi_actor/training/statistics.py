"""The statistics that decide whether one trading policy beats another.

Episodes of one session share its market regime, its news and its clock, so they are not
independent: every interval here resamples SESSIONS (a cluster bootstrap: a session's
episodes are drawn together), never single episodes. Comparisons are paired: both policies
played the same episodes, and the statistic is the mean per-episode difference.

- :func:`iqm`: the interquartile mean (the mean of the middle 50%), robust to a few wild episodes.
- :func:`cluster_bootstrap`: resampled means of per-episode values, clusters drawn with replacement.
- :func:`compare`: a paired comparison (mean difference, percentile CI, two-sided bootstrap
  p-value, probability of improvement with its own CI).
- :func:`holm`: Holm's step-down adjustment of p-values across the baselines one model is
  compared with; :func:`judge` turns adjusted comparisons into verdicts and reports each CI at
  its Holm level (``1 - alpha / (m - rank + 1)``), so an interval excludes 0 when its test rejects
  at that level (the verdict also needs every smaller p-value rejected: Holm's step-down).

Inputs are float arrays (dollars, or micros: the unit passes through); a fixed ``seed`` makes
every figure reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Comparison", "BOOTSTRAP_SAMPLES", "cluster_bootstrap", "compare", "holm", "iqm", "judge"]

BOOTSTRAP_SAMPLES = 4000
ALPHA = 0.05
MIN_SESSIONS = 8  # fewer clusters than this: the bootstrap is too coarse for a verdict


def iqm(values: Sequence[float] | np.ndarray) -> float:
    """The mean of the values between the 25th and 75th percentiles (inclusive of ties at the cut by weight)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    if n == 0:
        return float("nan")
    lo, hi = 0.25 * n, 0.75 * n
    # each value covers [i, i+1) of the rank axis; weight = its overlap with [lo, hi)
    ranks = np.arange(n)
    weights = np.clip(np.minimum(ranks + 1, hi) - np.maximum(ranks, lo), 0.0, 1.0)
    return float((x * weights).sum() / weights.sum())


def cluster_bootstrap(values: np.ndarray, clusters: np.ndarray, *, samples: int = BOOTSTRAP_SAMPLES,
                      seed: int = 0) -> np.ndarray:
    """``samples`` resampled means of ``values``: clusters drawn with replacement, all of a drawn cluster's
    values kept (the mean over the drawn values, so bigger sessions weigh more, as in the point estimate)."""
    values = np.asarray(values, dtype=np.float64)
    ids, index = np.unique(np.asarray(clusters), return_inverse=True)
    sums = np.bincount(index, weights=values, minlength=len(ids))
    counts = np.bincount(index, minlength=len(ids)).astype(np.float64)
    draws = np.random.default_rng(seed).integers(0, len(ids), size=(samples, len(ids)))
    return sums[draws].sum(axis=1) / counts[draws].sum(axis=1)


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of a model with one baseline over the same episodes (``model - baseline``).

    ``mean``: the mean per-episode difference; ``low``/``high``: its bootstrap CI at ``level``;
    ``p_value``: two-sided bootstrap p-value of "no difference" (``p_adjusted`` after Holm, when judged);
    ``improvement``: the share of episodes where the model did better (ties count half), with its CI.
    """

    baseline: str
    episodes: int
    sessions: int
    mean: float
    low: float
    high: float
    level: float
    p_value: float
    improvement: float
    improvement_low: float
    improvement_high: float
    p_adjusted: float | None = None
    verdict: str = ""

    def as_dict(self) -> dict[str, object]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def compare(baseline: str, differences: np.ndarray, clusters: np.ndarray, *, level: float = 1 - ALPHA,
            samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> Comparison:
    """The paired comparison of per-episode ``differences`` (model minus baseline), resampled by ``clusters``."""
    d = np.asarray(differences, dtype=np.float64)
    if len(d) == 0:
        raise ValueError("no episodes to compare")
    boot = cluster_bootstrap(d, clusters, samples=samples, seed=seed)
    wins = np.where(d > 0, 1.0, np.where(d < 0, 0.0, 0.5))
    wins_boot = cluster_bootstrap(wins, clusters, samples=samples, seed=seed + 1)
    low, high = _interval(boot, level)
    w_low, w_high = _interval(wins_boot, level)
    return Comparison(baseline, len(d), len(np.unique(clusters)), float(d.mean()), low, high, level,
                      _p_value(boot), float(wins.mean()), w_low, w_high)


def _interval(boot: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = np.quantile(boot, [tail, 1 - tail])
    return float(low), float(high)


def _p_value(boot: np.ndarray) -> float:
    """Two-sided: twice the smaller share of resampled means on either side of 0 (the CI-inversion p-value)."""
    below = (np.count_nonzero(boot < 0) + 0.5 * np.count_nonzero(boot == 0)) / len(boot)
    return float(min(1.0, 2 * min(below, 1 - below)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given): ``max_{j<=i} (m - j + 1) p_(j)``, capped at 1."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def judge(differences: Sequence[tuple[str, np.ndarray]], clusters: np.ndarray, *, alpha: float = ALPHA,
          samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> list[Comparison]:
    """Compare the model with every baseline; Holm-adjust across them; a verdict each.

    ``better`` / ``worse``: the adjusted p-value is below ``alpha`` and the mean is above / below 0;
    else ``not distinguishable``; ``too few sessions`` below :data:`MIN_SESSIONS` (a bootstrap over two or
    three sessions says nothing). Each CI is at its Holm level (see the module docstring).
    """
    plain = [compare(name, d, clusters, samples=samples, seed=seed) for name, d in differences]
    adjusted = holm([c.p_value for c in plain])
    ranks = {i: r for r, i in enumerate(np.argsort([c.p_value for c in plain], kind="stable"))}
    m = len(plain)
    judged = []
    for i, ((name, d), p_adj) in enumerate(zip(differences, adjusted)):
        level = 1 - alpha / (m - ranks[i])
        c = compare(name, d, clusters, level=level, samples=samples, seed=seed)
        if c.sessions < MIN_SESSIONS:
            verdict = "too few sessions"
        else:
            verdict = "not distinguishable" if p_adj >= alpha else ("better" if c.mean > 0 else "worse")
        judged.append(Comparison(**{**c.__dict__, "p_adjusted": p_adj, "verdict": verdict}))
    return judged
