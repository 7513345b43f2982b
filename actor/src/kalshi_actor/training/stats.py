"""The statistics that decide whether one trading policy beats another (pure NumPy, no I/O).

Episodes of one session share its market regime, its news and its clock, so they are not
independent: every interval here resamples SESSIONS (a cluster bootstrap: a drawn session
brings all of its episodes), never single episodes. Comparisons are PAIRED: both policies
played the same episodes, and the statistic is the mean per-episode difference.

- :func:`iqm`: the interquartile mean (the mean of the middle 50%, fractional weights at the cuts).
- :func:`cluster_draws` / :func:`cluster_bootstrap`: resampled means, clusters drawn with
  replacement; one set of draws can be shared by several statistics (same seed, same draws).
- :func:`percentile_interval`: the EXPANDED percentile interval (Hesterberg 2015): the plain
  percentile bootstrap undercovers with a few dozen clusters (its spread is ``(k-1)/k`` of the
  unbiased one and its tails are normal, not t), so the tail is taken at ``sqrt(k/(k-1)) t_{k-1}``.
- :func:`bootstrap_p_value`: the two-sided p-value of "the mean is 0" by inverting that interval
  (the smallest ``1 - level`` whose interval reaches 0).
- :func:`holm`: Holm's step-down adjusted p-values; :func:`holm_levels`: the confidence level of
  each hypothesis' step (``1 - alpha / (m - rank)``, rank 0 = smallest p).
- :func:`compare` (one paired comparison) and :func:`judge` (a model against m baselines:
  Holm across them, a CI at each step's level, and a verdict ``better`` / ``not
  distinguishable`` / ``worse``).

Units pass through (dollars in, dollars out). A fixed ``seed`` makes every figure reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from math import sqrt
from statistics import NormalDist

import numpy as np

__all__ = ["ALPHA", "BOOTSTRAP_SAMPLES", "MIN_SESSIONS", "Comparison", "bootstrap_p_value", "cluster_bootstrap",
           "cluster_draws", "compare", "holm", "holm_levels", "iqm", "judge", "resampled_means"]

BOOTSTRAP_SAMPLES = 4000
ALPHA = 0.05
MIN_SESSIONS = 8
"""Fewer sessions than this: a verdict is never ``better``/``worse`` (a bootstrap over a handful of clusters is
too coarse; the comparison carries ``note = "few sessions"``)."""

_NORMAL = NormalDist()
VERDICTS = ("better", "not distinguishable", "worse")


def iqm(values: Sequence[float] | np.ndarray) -> float:
    """The mean of the middle half: each sorted value covers ``[i, i + 1)`` of the rank axis and weighs its
    overlap with ``[n/4, 3n/4)`` (so ``n`` need not be a multiple of 4). NaN when empty."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    if n == 0:
        return float("nan")
    ranks = np.arange(n)
    weights = np.clip(np.minimum(ranks + 1, 0.75 * n) - np.maximum(ranks, 0.25 * n), 0.0, 1.0)
    return float((x * weights).sum() / weights.sum())


def cluster_draws(clusters: Sequence | np.ndarray, *, samples: int = BOOTSTRAP_SAMPLES,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(index, draws)``: each value's cluster number (0..k-1) and ``samples x k`` cluster numbers drawn with
    replacement. Reuse them for every statistic that must share the resampling."""
    _, index = np.unique(np.asarray(clusters), return_inverse=True)
    k = int(index.max()) + 1 if len(index) else 0
    draws = np.random.default_rng(seed).integers(0, k, size=(samples, k)) if k else np.zeros((samples, 0), np.int64)
    return index, draws


def resampled_means(values: np.ndarray, index: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """The mean of ``values`` over each draw's clusters (all of a drawn cluster's values, so bigger
    sessions weigh more, as in the point estimate: the mean over episodes)."""
    values = np.asarray(values, dtype=np.float64)
    k = draws.shape[1]
    sums = np.bincount(index, weights=values, minlength=k)
    counts = np.bincount(index, minlength=k).astype(np.float64)
    return sums[draws].sum(axis=1) / counts[draws].sum(axis=1)


def cluster_bootstrap(values: Sequence[float] | np.ndarray, clusters: Sequence | np.ndarray, *,
                      samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> np.ndarray:
    """``samples`` resampled means of ``values``, clusters drawn with replacement."""
    index, draws = cluster_draws(clusters, samples=samples, seed=seed)
    return resampled_means(np.asarray(values, dtype=np.float64), index, draws)


def _t_quantile(z: float, df: float) -> float:
    """Student's t quantile at the normal quantile ``z`` (Cornish-Fisher, Abramowitz & Stegun 26.7.5; within
    1e-3 for df >= 5)."""
    z2 = z * z
    return z * (1 + (z2 + 1) / (4 * df) + (5 * z2 * z2 + 16 * z2 + 3) / (96 * df ** 2)
                + (3 * z2 ** 3 + 19 * z2 * z2 + 17 * z2 - 15) / (384 * df ** 3)
                + (79 * z2 ** 4 + 776 * z2 ** 3 + 1482 * z2 * z2 - 1920 * z2 - 945) / (92160 * df ** 4))


def expanded_level(level: float, clusters: int | None) -> float:
    """The percentile level that gives a ``level`` interval with ``clusters`` clusters (Hesterberg's expanded
    percentile interval): the plain percentile bootstrap of a mean is too narrow with few clusters (its
    variance is ``(k - 1) / k`` of the unbiased one and it uses normal, not t, tails), so the tail is taken at
    ``z' = sqrt(k / (k - 1)) * t_{k-1}``. ``None`` or fewer than 2 clusters: ``level`` unchanged."""
    if clusters is None or clusters < 2:
        return level
    z = _NORMAL.inv_cdf(1.0 - (1.0 - level) / 2.0)
    wide = sqrt(clusters / (clusters - 1)) * _t_quantile(z, max(clusters - 1, 1))
    return 2.0 * _NORMAL.cdf(wide) - 1.0


def percentile_interval(boot: np.ndarray, level: float, clusters: int | None = None) -> tuple[float, float]:
    """The (expanded, see :func:`expanded_level`) percentile interval of the resampled statistic."""
    tail = (1.0 - expanded_level(level, clusters)) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_p_value(boot: np.ndarray, clusters: int | None = None) -> float:
    """Two-sided p-value of "the mean is 0": the ``1 - level`` of the interval (:func:`percentile_interval`,
    with the same ``clusters``) whose end just reaches 0. Its raw form is twice the smaller share of resampled
    means beyond 0 (ties count half), capped at 1; with ``clusters`` that share is mapped back through the
    expansion."""
    boot = np.asarray(boot, dtype=np.float64)
    below = (np.count_nonzero(boot < 0) + 0.5 * np.count_nonzero(boot == 0)) / len(boot)
    raw = float(min(1.0, 2.0 * min(below, 1.0 - below)))
    if clusters is None or clusters < 2 or raw in (0.0, 1.0):
        return raw
    lo, hi = 0.0, 1.0  # the level whose expanded level is 1 - raw (expanded_level is increasing)
    for _ in range(60):
        mid = (lo + hi) / 2
        if expanded_level(mid, clusters) < 1.0 - raw:
            lo = mid
        else:
            hi = mid
    return float(1.0 - (lo + hi) / 2)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: ``max_{j <= i} min(1, (m - j) p_(j))`` over the
    sorted p-values (``j`` from 0). Reject hypothesis i at family-wise level alpha iff its adjusted p < alpha."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(np.argsort(p, kind="stable")):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def holm_levels(p_values: Sequence[float], alpha: float = ALPHA) -> list[float]:
    """The confidence level of each hypothesis' Holm step, in the order given: ``1 - alpha / (m - rank)``
    (the smallest p-value is tested at ``1 - alpha / m``, the largest at ``1 - alpha``)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    levels = np.empty(m)
    for rank, i in enumerate(np.argsort(p, kind="stable")):
        levels[i] = 1.0 - alpha / (m - rank)
    return levels.tolist()


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of a subject with one baseline over the same episodes (``subject - baseline``).

    ``mean``: the mean per-episode difference; ``low``/``high``: its bootstrap CI at ``level`` (after
    :func:`judge`: the Holm step's level); ``simultaneous_low``/``high``: at ``1 - alpha / m`` (Bonferroni:
    all m intervals cover their truths together with probability >= 1 - alpha); ``p_value``: two-sided
    bootstrap p-value, ``p_adjusted``: Holm's; ``improvement``: the share of episodes where the subject did
    better (ties half), with its CI at ``level``; ``verdict``: one of :data:`VERDICTS`.
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
    simultaneous_low: float | None = None
    simultaneous_high: float | None = None
    simultaneous_level: float | None = None
    verdict: str = ""
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def compare(baseline: str, differences: Sequence[float] | np.ndarray, clusters: Sequence | np.ndarray, *,
            level: float = 1 - ALPHA, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> Comparison:
    """The paired comparison of per-episode ``differences`` (subject minus baseline), resampled by ``clusters``.
    The difference and the probability of improvement share one set of draws."""
    d = np.asarray(differences, dtype=np.float64)
    if len(d) == 0:
        raise ValueError("no episodes to compare")
    if len(d) != len(clusters):
        raise ValueError(f"{len(d)} differences but {len(clusters)} cluster labels")
    index, draws = cluster_draws(clusters, samples=samples, seed=seed)
    boot = resampled_means(d, index, draws)
    wins = np.where(d > 0, 1.0, np.where(d < 0, 0.0, 0.5))
    wins_boot = resampled_means(wins, index, draws)
    k = draws.shape[1]
    low, high = percentile_interval(boot, level, k)
    w_low, w_high = percentile_interval(wins_boot, level, k)
    return Comparison(baseline, len(d), k, float(d.mean()), low, high, level, bootstrap_p_value(boot, k),
                      float(wins.mean()), w_low, w_high)


def judge(differences: Sequence[tuple[str, np.ndarray]], clusters: Sequence | np.ndarray, *, alpha: float = ALPHA,
          samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> list[Comparison]:
    """A subject against every baseline (``differences``: ``(baseline, subject - baseline per episode)``, all on
    the same episodes and ``clusters``): Holm across the baselines, each CI at its step's level plus the
    simultaneous (Bonferroni) interval, and a verdict: ``better``/``worse`` when Holm rejects "no difference"
    at ``alpha`` (the sign of the mean), else ``not distinguishable``. Every comparison resamples with the same
    seed: the same sessions in every draw, so the comparisons are as correlated as the truth makes them."""
    if not differences:
        return []
    plain = [compare(name, d, clusters, samples=samples, seed=seed) for name, d in differences]
    p = [c.p_value for c in plain]
    adjusted = holm(p)
    levels = holm_levels(p, alpha)
    simultaneous = 1.0 - alpha / len(plain)
    judged = []
    for (name, d), c, p_adj, level in zip(differences, plain, adjusted, levels):
        at_level = compare(name, d, clusters, level=level, samples=samples, seed=seed)
        both = compare(name, d, clusters, level=simultaneous, samples=samples, seed=seed)
        verdict, note = _verdict(c, p_adj, alpha)
        judged.append(replace(at_level, p_adjusted=p_adj, simultaneous_low=both.low, simultaneous_high=both.high,
                              simultaneous_level=simultaneous, verdict=verdict, note=note))
    return judged


def _verdict(c: Comparison, p_adjusted: float, alpha: float) -> tuple[str, str]:
    if c.sessions < MIN_SESSIONS:
        return "not distinguishable", "few sessions"
    if p_adjusted >= alpha or c.mean == 0:
        return "not distinguishable", ""
    return ("better" if c.mean > 0 else "worse"), ""
