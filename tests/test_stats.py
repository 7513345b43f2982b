"""training/stats.py: known answers, and coverage / error rates where the truth is known (fixed seeds: no flakes)."""

from __future__ import annotations

import numpy as np
import pytest

from kalshi_actor.training.stats import (bootstrap_p_value, cluster_bootstrap, cluster_draws, compare, holm,
                                         holm_levels, iqm, judge, resampled_means)


def test_iqm_known_answers() -> None:
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(4.5)  # the middle four: 3, 4, 5, 6
    assert iqm([0, 0, 0, 100]) == pytest.approx(0.0)  # a wild episode does not move it
    assert iqm([1, 2, 3, 4, 5]) == pytest.approx(3.0)  # cuts at 1.25 and 3.75: 2 and 4 weigh 3/4 each
    assert iqm([5, 1, 3, 2, 4, 100, -100, 0]) == pytest.approx(2.5)  # unsorted input: the middle 1, 2, 3, 4
    assert iqm([7.0]) == 7.0
    assert np.isnan(iqm([]))


def test_holm_textbook_example_and_levels() -> None:
    # sorted p 0.01, 0.02, 0.03, 0.04 (m = 4): 4 x 0.01, max(3 x 0.02, .04), max(2 x 0.03, .06), max(0.04, .06)
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([0.001]) == pytest.approx([0.001])
    assert holm([]) == []
    assert holm_levels([0.03, 0.01, 0.04, 0.02]) == pytest.approx([1 - 0.05 / 2, 1 - 0.05 / 4, 0.95, 1 - 0.05 / 3])


def test_bootstrap_p_value_known_answers() -> None:
    assert bootstrap_p_value(np.array([1.0, 2.0, 3.0, 4.0])) == 0.0
    assert bootstrap_p_value(np.array([-1.0, 1.0, 2.0, 3.0])) == pytest.approx(0.5)  # 1/4 below 0, twice
    assert bootstrap_p_value(np.array([0.0, 0.0])) == 1.0


def test_the_bootstrap_draws_whole_sessions() -> None:
    # two sessions: one of +1s, one of -1s; a draw is all of one, all of the other, or both
    values = np.array([1.0] * 3 + [-1.0] * 3)
    boot = cluster_bootstrap(values, np.array(["a"] * 3 + ["b"] * 3), samples=2000, seed=1)
    assert set(np.round(boot, 9)) <= {1.0, -1.0, 0.0}
    assert 0.4 < np.mean(boot == 0.0) < 0.6  # both sessions drawn once: half of the draws
    # sessions of unequal size weigh by their episodes: {+1 x 3} and {-1 x 1} drawn once each -> 0.5
    index, draws = cluster_draws(np.array([0, 0, 0, 1]), samples=1, seed=0)
    assert resampled_means(np.array([1.0, 1.0, 1.0, -1.0]), index, np.array([[0, 1]])) == pytest.approx([0.5])
    assert draws.shape == (1, 2)


def test_comparisons_are_reproducible_and_refuse_bad_input() -> None:
    d = np.array([0.1, -0.2, 0.3, 0.05])
    cl = np.array([0, 0, 1, 1])
    assert compare("x", d, cl, seed=5) == compare("x", d, cl, seed=5)
    c = compare("x", d, cl, seed=5)
    assert c.mean == pytest.approx(0.0625) and c.improvement == pytest.approx(0.75) and c.sessions == 2
    with pytest.raises(ValueError):
        compare("x", np.array([]), np.array([]))
    with pytest.raises(ValueError):
        compare("x", d, cl[:3])


def _clustered(rng: np.random.Generator, truth: float, sessions: int = 30, per: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Session effects (sd 1) plus episode noise (sd 1) around ``truth``: episodes are far from independent."""
    effects = rng.normal(0.0, 1.0, sessions)
    values = (effects[:, None] + rng.normal(0.0, 1.0, (sessions, per))).ravel() + truth
    return values, np.repeat(np.arange(sessions), per)


def test_the_cluster_interval_covers_the_truth_about_95_percent_and_the_naive_one_does_not() -> None:
    rng = np.random.default_rng(7)
    replications = 400
    covered = naive_covered = 0
    for r in range(replications):
        values, clusters = _clustered(rng, 0.3)
        c = compare("x", values, clusters, samples=1000, seed=r)
        covered += c.low <= 0.3 <= c.high
        naive = compare("x", values, np.arange(len(values)), samples=1000, seed=r)  # episodes as if independent
        naive_covered += naive.low <= 0.3 <= naive.high
    # binomial sd at 95% of 400 is 1.1%: [0.91, 0.985] is > 3 sd wide each side of the percentile bootstrap's
    # known slight undercoverage at 30 clusters
    assert 0.91 <= covered / replications <= 0.985, covered
    assert naive_covered / replications < 0.85, naive_covered  # ignoring the sessions is overconfident


def test_holm_keeps_the_family_wise_error_rate_and_plain_tests_do_not() -> None:
    rng = np.random.default_rng(11)
    replications, m = 400, 4
    any_holm = any_plain = 0
    for r in range(replications):
        diffs = [(f"b{j}", _clustered(rng, 0.0)[0]) for j in range(m)]  # every null is true
        clusters = np.repeat(np.arange(30), 5)
        judged = judge(diffs, clusters, samples=1000, seed=r)
        any_holm += any(c.verdict != "not distinguishable" for c in judged)
        any_plain += any(c.p_value < 0.05 for c in judged)
    assert any_holm / replications <= 0.085, any_holm  # ~5% (4 tests); 8.5% is > 3 sd above
    assert any_plain / replications >= 0.12, any_plain  # ~1 - 0.95^4 = 18.5%


def test_judge_finds_a_real_difference_and_not_a_null_one() -> None:
    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(30), 5)
    better, same, worse = rng.normal(0.5, 1.0, 150), rng.normal(0.0, 1.0, 150), rng.normal(-0.6, 1.0, 150)
    verdicts = {c.baseline: c for c in judge([("a", better), ("b", same), ("c", worse)], clusters, seed=0)}
    assert verdicts["a"].verdict == "better" and verdicts["a"].low > 0 and verdicts["a"].improvement > 0.5
    assert verdicts["b"].verdict == "not distinguishable" and verdicts["b"].low < 0 < verdicts["b"].high
    assert verdicts["c"].verdict == "worse" and verdicts["c"].high < 0 and verdicts["c"].improvement < 0.5
    for c in verdicts.values():
        assert c.p_adjusted >= c.p_value
        assert c.simultaneous_level == pytest.approx(1 - 0.05 / 3)
        assert c.simultaneous_low <= c.low <= c.mean <= c.high <= c.simultaneous_high
        assert c.improvement_low <= c.improvement <= c.improvement_high
    assert verdicts["b"].level == pytest.approx(0.95)  # the largest p-value is tested at the plain level
    assert verdicts["a"].level > 0.95


def test_few_sessions_never_get_a_verdict() -> None:
    d = np.full(20, 1.0) + np.linspace(0, 0.1, 20)
    c = judge([("x", d)], np.repeat(np.arange(4), 5), seed=0)[0]
    assert c.p_value == 0.0 and c.verdict == "not distinguishable" and c.note == "few sessions"
