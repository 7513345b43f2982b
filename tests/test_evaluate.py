"""Evaluation: the table, the PNG, baselines through the same env, and the collapsed-policy flag."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kalshi_actor.cli import main
from kalshi_actor.registry import Registry
from kalshi_actor.sim.generate import generate_session
from kalshi_actor.trading.types import Action
from kalshi_actor.training.baselines import Constant, FixedSpreadMaker, Hold, Momentum, RandomPolicy, baselines
from kalshi_actor.training.env import EnvConfig
from kalshi_actor.training.evaluate import evaluate_policies, write_json
from kalshi_actor.training.train import PPO_DEFAULTS, TrainConfig, train


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("held_out")
    paths = []
    for seed in (21, 22):
        path = tmp / f"held-{seed}.session"
        generate_session(path, n_markets=2, seed=seed, duration_s=240)
        paths.append(path)
    return paths


def test_table_png_json_and_the_collapse_flag(held_out: list[Path], tmp_path: Path) -> None:
    config = EnvConfig(tick_interval_s=1.0)
    always_buy = Constant(Action.BUY_YES_LIMIT)
    policies = [("random", RandomPolicy(0)), *[(b.name, b) for b in baselines(0) if b.name != "random"],
                ("always buy YES", always_buy)]
    report = evaluate_policies(policies, held_out, config, png=tmp_path / "curves.png", title="test")
    assert report.png is not None and report.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = report.table.splitlines()
    assert lines[0].split()[:3] == ["policy", "mean", "$/ep"]
    rows = {line.split("  ")[0].strip(): line for line in lines[2:2 + len(policies)]}
    assert set(rows) == {"hold", "random", "market maker", "momentum rule", "always buy YES",
                         *(f"always {a.name.lower()}" for a in Action if a != Action.HOLD)}
    assert rows["always buy YES"].endswith("COLLAPSED")  # a constant trading action
    assert not rows["hold"].endswith("COLLAPSED")  # holding is not a collapse (a maker holds while quotes rest)
    assert not rows["market maker"].endswith("COLLAPSED") and not rows["random"].endswith("COLLAPSED")
    metrics = report.metrics()
    assert metrics["hold"]["net_pnl"] == 0 and metrics["hold"]["trades"] == 0
    assert abs(sum(metrics["random"]["actions"].values()) - 1) < 1e-3 and metrics["random"]["trades"] > 0
    episodes = {m["episodes"] for m in metrics.values()}
    assert len(episodes) == 1 and episodes.pop() >= 4  # every policy played the same markets
    # random against each other policy, paired by episode, resampled by session, with a verdict
    assert [c.baseline for c in report.comparisons] == [name for name, _ in policies[1:]]
    for c in report.comparisons:
        assert c.low <= c.mean <= c.high and c.p_adjusted >= c.p_value
        assert c.sessions == 2 and c.verdict == "too few sessions"  # two sessions decide nothing
    hold = next(c for c in report.comparisons if c.baseline == "hold")
    assert hold.mean == pytest.approx(metrics["random"]["mean_pnl"])  # hold earns 0 in every episode
    saved = json.loads(write_json(report, tmp_path / "report.json").read_text())
    assert saved["subject"] == "random" and len(saved["comparisons"]) == len(policies) - 1
    assert saved["policies"]["market maker"]["markout_60s"] == metrics["market maker"]["markout_60s"]


def test_markouts_score_each_fill_against_the_later_mid() -> None:
    from kalshi_actor.trading.types import FillEvent
    from kalshi_actor.training.evaluate import _Markouts

    marks = _Markouts()
    book = type("B", (), {"best_yes_bid_price": 4000, "best_no_bid_price": 5800})()  # mid 0.41
    later = type("B", (), {"best_yes_bid_price": 4400, "best_no_bid_price": 5400})()  # mid 0.45
    marks.see(0, book)
    marks.see(30_000, later)
    marks.fills += [FillEvent("T", "o", "yes", 4000, 200, 0, False, 0),  # bought 2 YES at 0.40
                    FillEvent("T", "o", "no", 5800, 100, 0, False, 0)]  # bought 1 NO at 0.58
    # 10 s later the mid is 0.45: YES +0.05 x 2 = +$0.10, NO (0.55 - 0.58) x 1 = -$0.03
    assert marks.totals() == (70_000, 70_000)


def test_baselines_read_the_observation() -> None:
    obs = np.zeros((3, 52), np.float32)
    from kalshi_actor.observation import FEATURE_NAMES

    i = FEATURE_NAMES.index
    obs[0, i("ret_60s")] = 0.5
    obs[1, i("ret_60s")] = -0.5
    assert list(Momentum()(obs)) == [1, 3, 0]
    assert list(Hold()(obs)) == [0, 0, 0]
    maker = FixedSpreadMaker()
    assert list(maker(obs)) == [1, 1, 1]  # no orders yet: bid YES first
    obs[:, i("yes_order_size")] = 0.1
    assert list(maker(obs)) == [2, 2, 2]  # then the NO side (offer YES)
    obs[:, i("no_order_size")] = 0.1
    assert list(maker(obs)) == [0, 0, 0]  # both quotes at the touch: nothing to do
    obs[0, i("no_order_distance")] = 0.2  # the NO quote fell two ticks behind: re-quote it
    obs[1, i("yes_order_distance")] = 0.1
    assert list(maker(obs)) == [2, 1, 0]
    obs[:, i("position")] = 0.9  # long at the cap: only the reducing side (a NO bid offers YES)
    obs[:, i("yes_order_size")] = 0.0
    assert list(maker(obs)) == [2, 0, 0]
    assert set(RandomPolicy(1)(np.zeros((500, 52), np.float32))) == {0, 1, 2, 3, 4}


def test_cli_evaluate(held_out: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = Registry(tmp_path / "models")
    config = TrainConfig(timesteps=256, n_envs=2, ppo={**PPO_DEFAULTS, "n_steps": 128, "batch_size": 128})
    record = train(held_out[:1], config, registry=registry, progress=False).record
    png = tmp_path / "eval.png"
    assert main(["evaluate", record.model_id, "--registry", str(registry.root), "--sessions", *map(str, held_out),
                 "--png", str(png), "--json"]) == 0
    out = capsys.readouterr().out
    assert f"model {record.model_id}" in out and "momentum rule" in out and '"net_pnl"' in out
    assert "(stochastic)" in out and "verdict" in out  # stochastic play reported, comparisons judged
    assert png.exists()
    report = json.loads(png.with_suffix(".json").read_text())
    assert report["subject"] == f"model {record.model_id}" and report["comparisons"]
