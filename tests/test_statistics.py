"""The comparison statistics (training/statistics.py): known answers, and coverage where the truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from kalshi_actor.training.statistics import cluster_bootstrap, compare, holm, iqm, judge


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(4.5)  # the middle four: 3, 4, 5, 6
    assert iqm([0, 0, 0, 100]) == pytest.approx(0.0)  # a wild episode does not move it
    assert iqm([1, 2, 3, 4, 5]) == pytest.approx(3.0)  # the cuts fall inside values: 2 and 4 weigh 3/4
    assert np.isnan(iqm([]))


def test_holm_matches_the_textbook_example() -> None:
    # Holm (1979) step-down: sorted p 0.01, 0.02, 0.03, 0.04 with m = 4 -> 0.04, 0.06, 0.06, 0.06
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_the_bootstrap_draws_whole_sessions() -> None:
    # two sessions: one of +1s, one of -1s; a draw is all of one, all of the other, or both
    values = np.array([1.0] * 3 + [-1.0] * 3)
    boot = cluster_bootstrap(values, np.array([0] * 3 + [1] * 3), samples=2000, seed=1)
    assert set(np.round(boot, 9)) <= {1.0, -1.0, 0.0}
    assert 0.4 < np.mean(boot == 0.0) < 0.6  # both sessions drawn once: half of the draws


def test_the_interval_covers_the_truth_about_95_percent_of_the_time() -> None:
    """Clustered data with a known mean (session effects plus episode noise): a 95% CI that resampled
    episodes would be too narrow; resampling sessions covers the truth in about 95% of replications."""
    rng = np.random.default_rng(7)
    covered = 0
    replications = 300
    for r in range(replications):
        sessions, per = 30, 5
        effects = rng.normal(0.0, 1.0, sessions)
        values = (effects[:, None] + rng.normal(0.0, 1.0, (sessions, per))).ravel() + 0.3
        clusters = np.repeat(np.arange(sessions), per)
        c = compare("x", values, clusters, samples=800, seed=r)
        covered += c.low <= 0.3 <= c.high
    assert 0.90 <= covered / replications <= 0.985, covered


def test_a_real_difference_is_found_and_a_null_one_is_not() -> None:
    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(30), 5)
    better = rng.normal(0.5, 1.0, 150)
    same = rng.normal(0.0, 1.0, 150)
    worse = rng.normal(-0.6, 1.0, 150)
    verdicts = {c.baseline: c for c in judge([("a", better), ("b", same), ("c", worse)], clusters, seed=0)}
    assert verdicts["a"].verdict == "better" and verdicts["a"].low > 0 and verdicts["a"].improvement > 0.5
    assert verdicts["b"].verdict == "not distinguishable" and verdicts["b"].low < 0 < verdicts["b"].high
    assert verdicts["c"].verdict == "worse" and verdicts["c"].high < 0
    assert all(c.p_adjusted >= c.p_value for c in verdicts.values())
    assert verdicts["b"].level < 0.99  # the largest p-value is tested at the plain level


def test_comparisons_are_reproducible_and_refuse_no_data() -> None:
    d = np.array([0.1, -0.2, 0.3, 0.05])
    cl = np.array([0, 0, 1, 1])
    assert compare("x", d, cl, seed=5) == compare("x", d, cl, seed=5)
    with pytest.raises(ValueError):
        compare("x", np.array([]), np.array([]))
