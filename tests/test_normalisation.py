"""Observation normalisation: frozen training statistics, one formula in the training wrapper and in
:meth:`Policy.predict` (NumPy and torch paths), stored with the model; a model without them is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from kalshi_actor.observation import OBS_SIZE, SCHEMA_HASH
from kalshi_actor.registry import ModelIncompatible, ModelMetadata, Registry
from kalshi_actor.sim.generate import generate_session
from kalshi_actor.trading.actions import N_ACTIONS
from kalshi_actor.training.env import EnvConfig, KalshiMarketEnv, ObsNormalisation, normalised_vec_env
from kalshi_actor.training.policy import Policy


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("norm") / "plain.session"
    generate_session(path, n_markets=3, seed=5, duration_s=240)
    return path


def _wrapper(session: Path, steps: int = 600):
    """The training wrapper after ``steps`` random steps (its statistics ran), then frozen."""
    vec = normalised_vec_env(DummyVecEnv([lambda: KalshiMarketEnv([session])] * 2), gamma=0.999)
    vec.seed(3)
    vec.reset()
    rng = np.random.default_rng(0)
    raw = []
    for _ in range(steps):
        vec.step(rng.integers(0, N_ACTIONS, 2))
        raw.append(vec.get_original_obs())
    vec.training = False
    return vec, np.concatenate(raw).astype(np.float32)


def test_the_frozen_statistics_reproduce_the_training_wrapper_bit_for_bit(session: Path) -> None:
    vec, raw = _wrapper(session)
    stats = ObsNormalisation.of(vec)
    assert stats.count > 1000 and (stats.var > 0).any()
    expected = vec.normalize_obs(raw)  # what the network saw in training for these frames
    assert expected.dtype == np.float32 and not np.array_equal(expected, raw)
    assert stats.apply(raw).view(np.uint32).tobytes() == expected.view(np.uint32).tobytes()
    stored = ObsNormalisation.from_dict(json.loads(json.dumps(stats.to_dict())))  # through the metadata file
    assert stored.apply(raw).view(np.uint32).tobytes() == expected.view(np.uint32).tobytes()
    before = vec.obs_rms.mean.copy()
    vec.step(np.zeros(2, np.int64))
    assert np.array_equal(vec.obs_rms.mean, before)  # frozen


def test_a_constant_feature_is_not_blown_up(session: Path) -> None:
    vec, raw = _wrapper(session, 50)
    stats = ObsNormalisation.of(vec)
    flat = np.flatnonzero(stats.var == 0)
    probe = np.zeros((1, OBS_SIZE), np.float32)
    probe[0, flat] = 1.0
    assert np.abs(stats.apply(probe)[0, flat]).max(initial=0.0) <= 10.0 + 1e-6  # std floored at 0.1


class _Spaces(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (OBS_SIZE,), np.float32)
    action_space = gym.spaces.Discrete(N_ACTIONS)


def _stats(seed: int = 0) -> ObsNormalisation:
    rng = np.random.default_rng(seed)
    return ObsNormalisation(rng.uniform(-0.3, 0.3, OBS_SIZE), rng.uniform(0.0, 0.2, OBS_SIZE), 1e4)


@pytest.mark.parametrize("kwargs, engine", [({"net_arch": [32, 32]}, "numpy"),
                                            ({"net_arch": [16], "activation_fn": torch.nn.ELU}, "torch")])
def test_predict_applies_the_statistics_on_both_paths(kwargs, engine) -> None:
    model = PPO("MlpPolicy", _Spaces(), seed=1, device="cpu", policy_kwargs=kwargs)
    stats = _stats()
    policy = Policy.from_model(model, EnvConfig(), normalisation=stats)
    assert policy.engine == engine
    obs = np.random.default_rng(2).uniform(-1, 1, (2_000, OBS_SIZE)).astype(np.float32)
    seen = policy.network_input(obs)
    assert np.array_equal(seen, stats.apply(obs))
    expected, _ = model.predict(seen, deterministic=True)
    assert (policy.predict(obs) == expected).mean() > 0.99  # float32 ties aside (see test_policy)
    raw = Policy.from_model(model, EnvConfig())  # no statistics: exactly as before
    assert raw.network_input(obs) is not None and np.array_equal(raw.network_input(obs), obs)
    assert np.array_equal(raw.predict(obs), Policy.from_model(model, EnvConfig()).predict(obs))
    assert not np.array_equal(raw.predict(obs), policy.predict(obs))


def _publish(registry: Registry, model_id: str, extra: dict, algorithm: str = "ppo") -> str:
    model = PPO("MlpPolicy", _Spaces(), seed=1, device="cpu", n_steps=64, batch_size=64)
    env = EnvConfig()
    meta = ModelMetadata(algorithm=algorithm, observation_schema_hash=SCHEMA_HASH, observation_size=OBS_SIZE,
                         action_config=env.action.to_dict(), action_config_hash=env.action.hash,
                         extra={"env_config": env.to_dict(), **extra})
    return registry.add(lambda target: model.save(target), meta, model_id=model_id, set_latest=False).model_id


def test_stored_statistics_load_and_a_model_without_them_is_unchanged(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "models")
    stats = _stats(4)
    with_stats = Policy.load(registry, _publish(registry, "with-1", {"obs_normalisation": stats.to_dict()}))
    without = Policy.load(registry, _publish(registry, "without-1", {}))
    assert without.normalisation is None
    assert with_stats.normalisation.to_dict() == stats.to_dict()
    obs = np.random.default_rng(5).uniform(-1, 1, (256, OBS_SIZE)).astype(np.float32)
    expected, _ = without.model.predict(obs, deterministic=True)
    assert np.array_equal(without.predict(obs), expected)  # an old model: raw observations, as before
    bad = _publish(registry, "bad-1", {"obs_normalisation": {**stats.to_dict(), "mean": [0.0] * 3}})
    with pytest.raises(ModelIncompatible, match="obs_normalisation"):
        Policy.load(registry, bad)
