"""Evaluation: same episodes for every policy, paired verdicts, markouts, latent edge, tuning on validation only,
the collapse flag, the table / JSON / PNG, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kalshi_actor.cli import main
from kalshi_actor.registry import Registry
from kalshi_actor.sim.generate import generate_session
from kalshi_actor.trading.actions import ActionConfig
from kalshi_actor.trading.types import Action, FillEvent
from kalshi_actor.training import evaluate as ev
from kalshi_actor.training.baselines import Constant, Hold, RandomPolicy
from kalshi_actor.training.env import EnvConfig
from kalshi_actor.training.evaluate import (TEST, VALIDATION, PolicyResult, evaluate_policies, run_policy,
                                            walk_forward, write_json)
from kalshi_actor.training.train import PPO_DEFAULTS, TrainConfig, train

CONFIG = EnvConfig(tick_interval_s=1.0)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("held_out")
    paths = []
    for seed in (21, 22, 23):
        path = tmp / f"held-{seed}.session"
        generate_session(path, n_markets=2, seed=seed, duration_s=180)
        paths.append(path)
    return paths


class _Gridded:
    """A tunable baseline: a constant seed action chosen from its grid."""

    name = "gridded"

    def __init__(self, action: int = 0) -> None:
        self.action = action

    @staticmethod
    def grid() -> list[dict[str, int]]:
        return [{"action": int(a)} for a in Action]

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.full(len(obs), self.action, np.int64)


class _Peeker:
    """Needs the latent probability: records what it was given, holds."""

    name = "peeker"
    needs_latent = True

    def __init__(self) -> None:
        self.seen: list[float] = []

    def __call__(self, obs: np.ndarray, *, latent: np.ndarray) -> np.ndarray:
        self.seen.extend(latent.tolist())
        return np.zeros(len(obs), np.int64)


def test_table_json_png_and_paired_comparisons(held_out: list[Path], tmp_path: Path) -> None:
    policies = [("random", RandomPolicy(0)), ("hold", Hold()), ("always buy YES", Constant(Action.BUY_YES_LIMIT))]
    report = evaluate_policies(policies, held_out, CONFIG, png=tmp_path / "curves.png", title="test")
    assert report.png is not None and report.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = report.table.splitlines()
    assert lines[0].split()[:3] == ["policy", "mean", "$/ep"]
    rows = {line.split("  ")[0].strip(): line for line in lines[2:5]}
    assert set(rows) == {"random", "hold", "always buy YES"}
    assert rows["always buy YES"].endswith("COLLAPSED") and not rows["hold"].endswith("COLLAPSED")
    metrics = report.metrics()
    assert metrics["hold"]["net_pnl"] == 0 and metrics["hold"]["fills"] == 0
    assert metrics["hold"]["mean_abs_position"] == 0 < metrics["always buy YES"]["mean_abs_position"]
    assert metrics["random"]["fills"] > 0 and abs(sum(metrics["random"]["actions"].values()) - 1) < 1e-3
    episodes = {m["episodes"] for m in metrics.values()}
    assert len(episodes) == 1 and episodes.pop() >= 6  # every policy played the same markets
    assert [c.baseline for c in report.comparisons] == ["hold", "always buy YES"]
    hold = report.comparisons[0]
    assert hold.mean == pytest.approx(metrics["random"]["mean_pnl"], abs=1e-6)  # hold earns 0 in every episode
    for c in report.comparisons:
        assert c.low <= c.mean <= c.high and c.p_adjusted >= c.p_value and c.sessions == 3
        assert c.verdict == "not distinguishable" and c.note == "few sessions"  # 3 sessions decide nothing
    assert "minus each baseline" in report.table
    saved = json.loads(write_json(report, tmp_path / "report.json").read_text())
    assert saved["schema"] == "kalshi-actor/evaluation/2" and saved["subject"] == "random"
    assert len(saved["comparisons"]) == 2 and saved["latent_comparisons"] is not None  # the sims have sidecars
    assert saved["episodes"] == metrics["hold"]["episodes"]
    assert saved["policies"]["random"]["markout_60s"] == metrics["random"]["markout_60s"]


def test_the_same_result_in_parallel_and_in_order(held_out: list[Path]) -> None:
    policies = [("random", RandomPolicy(3)), ("buy", Constant(Action.BUY_NO_LIMIT))]
    one = evaluate_policies(policies, held_out, CONFIG, seed=4, workers=1)
    policies = [("random", RandomPolicy(3)), ("buy", Constant(Action.BUY_NO_LIMIT))]
    two = evaluate_policies(policies, held_out, CONFIG, seed=4, workers=2)
    assert [r.episodes for r in one.results] == [r.episodes for r in two.results]
    assert one.comparisons == two.comparisons  # the bootstrap is seeded


def test_markouts_mark_each_fill_at_the_mid_as_of_later() -> None:
    tape = ev._Tape()
    book = type("B", (), {"best_yes_bid_price": 4000, "best_no_bid_price": 5800})()  # mid 0.41
    later = type("B", (), {"best_yes_bid_price": 4400, "best_no_bid_price": 5400})()  # mid 0.45
    tape.see(0, book)
    tape.see(30_000, later)
    tape.fills += [FillEvent("T", "o", "yes", 4000, 200, 0, False, 0),  # bought 2 YES at 0.40
                   FillEvent("T", "o", "no", 5800, 100, 0, False, 0)]  # bought 1 NO at 0.58
    # at +10 s the mid is still 0.41: YES +0.01 x 2, NO (0.59 - 0.58) x 1 = +$0.03
    # at +60 s it is 0.45: YES +0.05 x 2 = +$0.10, NO (0.55 - 0.58) x 1 = -$0.03
    assert tape.markouts() == (30_000, 70_000)


def test_latent_edge_scores_fills_against_the_latent_probability(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ev, "_latent_at", lambda series, ts: 0.5 if ts < 10 else 0.7)
    tape = ev._Tape()
    tape.fills += [FillEvent("T", "o", "yes", 4000, 100, 0, False, 0),  # (0.50 - 0.40) x 1 = +0.10
                   FillEvent("T", "o", "no", 2500, 200, 0, False, 20)]  # ((1 - 0.7) - 0.25) x 2 = +0.10
    assert tape.latent_edge(object()) == 200_000
    assert tape.latent_edge(None) is None


def test_time_weighted_position_and_curve() -> None:
    # |pos| 0 for 1 s, 2 for 3 s: 6/4 = 1.5 contracts-hundredths units as given
    assert ev._time_weighted([0, 1000], [0, 2], 4000) == pytest.approx(1.5)
    assert ev._time_weighted([5, 5], [1, 3], 5) == pytest.approx(2.0)  # no time passes: the plain mean
    curve = ev._curve([0, 10, 20, 30], 40)
    assert len(curve) == ev.CURVE_POINTS and curve[0] == 0 and curve[-1] == 40


def _result(counts: list[int]) -> PolicyResult:
    return PolicyResult("p", actions=np.asarray(counts, np.int64))


def test_the_collapse_flag_is_about_a_constant_trading_action() -> None:
    assert _result([5, 95, 0, 0, 0]).collapsed  # one trading action on >= 90% of decisions
    assert _result([90, 10, 0, 0, 0]).collapsed  # holds mostly, and only ever buys YES when it acts
    assert not _result([100, 0, 0, 0, 0]).collapsed  # holding is not a collapse
    assert not _result([80, 10, 10, 0, 0]).collapsed  # a maker whose quotes rest: both sides, mostly HOLD
    assert not _result([0, 50, 50, 0, 0]).collapsed
    assert "on 95%" in _result([5, 95, 0, 0, 0]).collapse_reason


def test_tunable_baselines_are_tuned_on_validation_only(held_out: list[Path]) -> None:
    validation, test = held_out[:1], held_out[1:]
    scores = {a: run_policy("c", _Gridded(a), validation, CONFIG).pnl.mean() for a in range(len(Action))}
    best = max(scores, key=lambda a: (scores[a], -a))
    report = evaluate_policies([("hold", Hold()), ("gridded", _Gridded())], test, CONFIG, validation=validation)
    tuning = report.meta["tuning"]["gridded"]
    assert tuning["chosen"] == {"action": best} and len(tuning["candidates"]) == len(Action)
    assert report.metrics()["gridded"]["parameters"] == {"action": best}
    assert report.meta["sessions"]["test"] == [p.name for p in test]
    assert report.meta["sessions"]["validation"] == [validation[0].name]
    untuned = evaluate_policies([("hold", Hold()), ("gridded", _Gridded())], test, CONFIG)
    assert untuned.meta["tuning"]["gridded"]["chosen"] is None


def test_a_baseline_plays_with_its_own_action_config(held_out: list[Path]) -> None:
    double = Constant(Action.BUY_YES_LIMIT)
    double.action_config = ActionConfig(size=200, pricing="cross")
    result = run_policy("double", double, held_out, CONFIG)
    assert result.trades > 0
    assert sum(e.contracts for e in result.episodes) > sum(e.fills for e in result.episodes) * 100


def test_latent_unavailable_never_fails(held_out: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from kalshi_actor.sessions import format as fmt

    def missing(path: Any) -> Any:
        raise fmt.SessionError("no sidecar")

    monkeypatch.setattr(fmt, "read_latent", missing, raising=False)
    report = evaluate_policies([("random", RandomPolicy(0)), ("hold", Hold()), ("peeker", _Peeker())], held_out,
                               CONFIG)
    assert report.latent_comparisons is None and not report.meta["latent"]["available"]
    assert report.metrics()["random"]["latent_edge"] is None and "unavailable" in report.table
    assert "peeker" in report.meta["skipped"] and "peeker" not in report.metrics()


def test_latent_edge_and_latent_baselines_with_a_sidecar(held_out: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from kalshi_actor.sessions import format as fmt

    series = (np.array([0], np.int64), np.array([0.5]))
    monkeypatch.setattr(fmt, "read_latent", lambda path: {t: series for t in ev.load_session(path).tickers},
                        raising=False)
    monkeypatch.setattr(fmt, "latent_at", lambda s, ts: 0.5, raising=False)
    peeker = _Peeker()
    buy = Constant(Action.BUY_YES_LIMIT)
    report = evaluate_policies([("buy", buy), ("hold", Hold()), ("peeker", peeker)], held_out, CONFIG)
    assert set(peeker.seen) == {0.5}
    assert report.latent_comparisons is not None and len(report.latent_comparisons) == 2
    # every YES bought at x is worth 0.5 - x: recompute from the prices the policy paid
    result = report.results[0]
    edge = result.values("latent_edge")
    assert not np.isnan(edge).any() and report.metrics()["buy"]["latent_edge"] == pytest.approx(edge.sum() / 1e6, abs=1e-6)
    assert report.latent_comparisons[0].mean == pytest.approx(edge.mean() / 1e6)  # hold has no fills


def test_walk_forward_by_start_time(tmp_path: Path) -> None:
    from kalshi_actor.sessions.format import SessionWriter

    paths = []
    for name, start in (("b", 3000), ("a", 2000), ("c", 1000), ("d", 4000)):
        path = tmp_path / f"{name}.session"
        with SessionWriter(path, {"source": "recorded", "start_ms": start}):
            pass
        paths.append(path)
    validation, test = walk_forward(paths)
    assert [p.name for p in validation] == ["c.session"]
    assert [p.name for p in test] == ["a.session", "b.session", "d.session"]
    assert walk_forward(paths[:1]) == ([], [paths[0]])


def test_default_held_out_sets_are_big_enough_and_disjoint_from_training() -> None:
    train = TrainConfig()
    test_seeds = set(range(TEST.seed, TEST.seed + TEST.count))
    validation_seeds = set(range(VALIDATION.seed, VALIDATION.seed + VALIDATION.count))
    training = set(range(train.sim.seed, train.sim.seed + train.sim.count)) | \
        set(range(train.eval_sim.seed, train.eval_sim.seed + train.eval_sim.count))
    assert TEST.count >= 30 and TEST.count * TEST.markets >= 150
    assert not test_seeds & validation_seeds and not (test_seeds | validation_seeds) & training


def test_cli_evaluate(held_out: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = Registry(tmp_path / "models")
    config = TrainConfig(timesteps=256, n_envs=2, ppo={**PPO_DEFAULTS, "n_steps": 128, "batch_size": 128})
    record = train(held_out[:1], config, registry=registry, progress=False).record
    png = tmp_path / "eval.png"
    assert main(["evaluate", record.model_id, "--registry", str(registry.root), "--sessions", *map(str, held_out),
                 "--png", str(png), "--workers", "1", "--json"]) == 0
    out = capsys.readouterr().out
    assert f"model {record.model_id}" in out and "momentum rule" in out and '"comparisons"' in out
    assert "(stochastic)" in out and "verdict" in out and str(png) in out
    assert png.exists()
    report = json.loads(png.with_suffix(".json").read_text())
    assert report["subject"] == f"model {record.model_id}" and report["comparisons"]
    stochastic = report["policies"][f"model {record.model_id} (stochastic)"]
    assert stochastic["entropy"] > 0 and stochastic["stochastic"]
    assert all(c["baseline"] != f"model {record.model_id} (stochastic)" for c in report["comparisons"])
    assert len(report["sessions"]["validation"]) == 1 and len(report["sessions"]["test"]) == 2  # walk-forward
