"""PPO training: it learns a known edge, it is deterministic, and its models round-trip through the registry.

The known edge: simulator markets whose latent probability DRIFTS at a constant rate in
log-odds (0.003/s, about 3 cents a minute near 50c), up in some markets and down in others
(the sign drawn per market), with little noise and no jumps. The synthetic makers quote
around the latent, so the mid follows it and the drift shows in the observation's returns
(e.g. ``ret_60s``). Trading with it (crossing the spread, paying taker fees) pays; trading
at random loses the spread and the fees; holding makes 0. The trained policy must beat
HOLD on held-out seeds (other markets, other drift signs).
"""

from __future__ import annotations

import dataclasses
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from kalshi_actor.cli import main
from kalshi_actor.observation import SCHEMA_HASH
from kalshi_actor.registry import ModelIncompatible, Registry
from kalshi_actor.sim.generate import generate_session
from kalshi_actor.sim.traders import Latent
from kalshi_actor.sim.world import World
from kalshi_actor.trading.actions import ActionConfig
from kalshi_actor.training.baselines import Hold, RandomPolicy
from kalshi_actor.training.env import EnvConfig
from kalshi_actor.actor.loop import _evaluation_summary
from kalshi_actor.training.evaluate import run_policy
from kalshi_actor.training.policy import Policy
from kalshi_actor.training.train import PPO_DEFAULTS, TrainConfig, train


class DriftingLatent(Latent):
    """The simulator's latent probability plus a constant drift in log-odds (per second)."""

    __slots__ = ("drift",)

    def at(self, t_ms: int) -> float:
        dt = (t_ms - self.t_ms) / 1000
        if dt > 0:
            self.x += self.drift * dt
        return super().at(t_ms)


def drift_session(path: Path, seed: int, *, drift: float = 0.003, markets: int = 2, duration_s: float = 600) -> Path:
    world = World(seed=seed, n_markets=markets, clock="virtual", relist=False)
    signs = random.Random(seed)
    for live in world.live.values():
        latent = DriftingLatent(live.latent.rng, 0.5, live.latent.t_ms, vol=0.005, jump_rate=0.0)
        latent.drift = drift if signs.random() < 0.5 else -drift
        live.latent = latent
        for agent in live.agents:
            agent.latent = latent
    generate_session(path, n_markets=markets, seed=seed, duration_s=duration_s, world=world)
    return path


EDGE_ENV = EnvConfig(tick_interval_s=5.0, action=ActionConfig(pricing="cross"))


def _config(timesteps: int, **ppo) -> TrainConfig:
    return TrainConfig(timesteps=timesteps, n_envs=4, env=EDGE_ENV,
                       ppo={**PPO_DEFAULTS, "n_steps": 256, "batch_size": 256, "gamma": 0.995, **ppo})


@pytest.fixture(scope="module")
def edge_sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    tmp = tmp_path_factory.mktemp("edge")
    return {"train": [drift_session(tmp / f"train-{s}.session", s) for s in range(1, 5)],
            "held_out": [drift_session(tmp / f"held-{s}.session", s) for s in range(101, 104)]}


@pytest.mark.timeout(240)
def test_ppo_learns_the_drift_and_beats_hold(edge_sessions: dict[str, list[Path]]) -> None:
    result = train(edge_sessions["train"], _config(100_000), registry=None, progress=False)
    policy = result.policy()  # with the observation statistics it was trained with
    model = run_policy("model", policy.predict, edge_sessions["held_out"], EDGE_ENV)
    hold = run_policy("hold", Hold(), edge_sessions["held_out"], EDGE_ENV)
    rand = run_policy("random", RandomPolicy(0), edge_sessions["held_out"], EDGE_ENV)
    assert hold.net_pnl == 0
    assert rand.net_pnl < 0  # the edge is not free: random trading pays spread and fees
    assert model.net_pnl > hold.net_pnl
    assert model.trades > 0
    assert model.net_pnl > rand.net_pnl


def test_training_is_deterministic(edge_sessions: dict[str, list[Path]]) -> None:
    a = train(edge_sessions["train"][:1], _config(1024), registry=None, progress=False).model
    b = train(edge_sessions["train"][:1], _config(1024), registry=None, progress=False).model
    for (name, x), (_, y) in zip(a.policy.state_dict().items(), b.policy.state_dict().items()):
        assert np.array_equal(x.numpy(), y.numpy()), name


def test_registry_round_trip_and_refusals(edge_sessions: dict[str, list[Path]], tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    result = train(edge_sessions["train"][:1], _config(1024), registry=registry, progress=False,
                   eval_sessions=edge_sessions["held_out"][:1])
    record = result.record
    meta = record.metadata
    assert meta.algorithm == "maskable_ppo"
    assert meta.observation_schema_hash == SCHEMA_HASH and meta.observation_size == 52
    assert meta.action_config == EDGE_ENV.action.to_dict() and meta.action_config_hash == EDGE_ENV.action.hash
    assert meta.extra["env_config"] == EDGE_ENV.to_dict()
    assert meta.hyperparameters["n_steps"] == 256 and meta.training_sessions == ["train-1.session"]
    assert "model" in meta.evaluation["policies"] and "hold" in meta.evaluation["policies"]

    assert meta.extra["obs_normalisation"] == result.normalisation.to_dict()
    assert meta.extra["seed_selection"]["chosen"] == 0 and meta.extra["seed_selection"]["seeds"] == [0]

    policy = Policy.load(registry, None)  # latest
    assert policy.model_id == record.model_id and policy.env_config == EDGE_ENV
    assert policy.normalisation is not None and policy.normalisation.to_dict() == result.normalisation.to_dict()
    summary = _evaluation_summary(policy)  # what the actor shows next to its live figures
    assert summary["subject"] == "model" and set(summary["verdicts"]) >= {"hold", "momentum rule"}
    assert abs(sum(summary["action_shares"].values()) - 1) < 1e-3 and "HOLD" in summary["action_shares"]
    obs = np.random.default_rng(0).uniform(-1, 1, (64, 52)).astype(np.float32)
    expected, _ = result.model.predict(result.normalisation.apply(obs), deterministic=True)  # what SB3 saw
    assert np.array_equal(policy.predict(obs), expected)

    def republish(**changes) -> str:
        bad = dataclasses.replace(meta, model_id="", created_at="", **changes)
        return registry.add(record.model_path, bad, set_latest=False).model_id

    other_schema = republish(observation_schema_hash="0" * 64)
    with pytest.raises(ModelIncompatible, match="observation schema hash differs"):
        Policy.load(registry, other_schema)
    old_semantics = republish(action_config={**meta.action_config, "version": 0}, action_config_hash="")
    with pytest.raises(ModelIncompatible, match="version"):
        Policy.load(registry, old_semantics)
    tampered = republish(action_config={**meta.action_config, "size": 500})
    with pytest.raises(ModelIncompatible, match="hash"):
        Policy.load(registry, tampered)


def test_cli_train_if_missing_keeps_the_existing_model(edge_sessions: dict[str, list[Path]], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    registry = tmp_path / "models"
    assert main(["train", "--sessions", str(edge_sessions["train"][0]), "--registry", str(registry),
                 "--timesteps", "512", "--n-steps", "128", "--batch-size", "128", "--n-envs", "2",
                 "--eval-sessions", str(edge_sessions["held_out"][0])]) == 0
    first = capsys.readouterr().out.strip()
    assert Registry(registry).latest_id() == first
    assert main(["train", "--quick", "--if-missing", "--registry", str(registry)]) == 0
    assert capsys.readouterr().out.strip() == ""
    assert Registry(registry).ids() == [first]
    shutil.rmtree(registry)
