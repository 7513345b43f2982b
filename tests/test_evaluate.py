"""Evaluation: the table, the PNG, baselines through the same env, and the collapsed-policy flag."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kalshi_actor.cli import main
from kalshi_actor.registry import Registry
from kalshi_actor.sim.generate import generate_session
from kalshi_actor.training.baselines import FixedSpreadMaker, Hold, Momentum, RandomPolicy, baselines
from kalshi_actor.training.env import EnvConfig
from kalshi_actor.training.evaluate import evaluate_policies
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


def test_table_png_and_collapse_flag(held_out: list[Path], tmp_path: Path) -> None:
    config = EnvConfig(tick_interval_s=1.0)
    policies = [(b.name, b) for b in baselines(0)]
    report = evaluate_policies(policies, held_out, config, png=tmp_path / "curves.png", title="test")
    assert report.png is not None and report.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = report.table.splitlines()
    assert lines[0].split()[:3] == ["policy", "net", "P&L"]
    rows = {line.split("  ")[0].strip(): line for line in lines[2:]}
    assert set(rows) == {"hold", "random", "market maker", "momentum rule"}
    assert rows["hold"].endswith("COLLAPSED")  # 100% HOLD
    assert not rows["random"].endswith("COLLAPSED")
    metrics = report.metrics()
    assert metrics["hold"]["net_pnl"] == 0 and metrics["hold"]["trades"] == 0 and metrics["hold"]["collapsed"]
    assert abs(sum(metrics["random"]["actions"].values()) - 1) < 1e-3
    assert metrics["random"]["trades"] > 0
    episodes = {m["episodes"] for m in metrics.values()}
    assert len(episodes) == 1 and episodes.pop() >= 4  # every policy played the same markets


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
    assert list(maker(obs)) == [0, 0, 0]
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
    assert png.exists()
