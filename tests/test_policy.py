"""Policy inference: the NumPy forward pass chooses SB3's deterministic actions; other networks run in torch."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from threadpoolctl import threadpool_info

from kalshi_actor.observation import OBS_SIZE
from kalshi_actor.trading.actions import N_ACTIONS
from kalshi_actor.training.env import EnvConfig
from kalshi_actor.training.policy import Policy


class _Spaces(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (OBS_SIZE,), np.float32)
    action_space = gym.spaces.Discrete(N_ACTIONS)


class _Squash(BaseFeaturesExtractor):
    """Not a flatten: the NumPy pass does not know it, so torch runs the network."""

    def __init__(self, space: gym.spaces.Box) -> None:
        super().__init__(space, features_dim=8)
        self.linear = torch.nn.Linear(space.shape[0], 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x))


def _model(seed: int, **policy_kwargs) -> PPO:
    return PPO("MlpPolicy", _Spaces(), seed=seed, device="cpu", policy_kwargs=policy_kwargs)


def _top_two_gap(model: PPO, obs: np.ndarray) -> np.ndarray:
    policy = model.policy
    with torch.no_grad():
        logits = policy.action_net(policy.mlp_extractor.forward_actor(policy.extract_features(torch.from_numpy(obs))))
    top = np.sort(logits.numpy(), axis=1)
    return top[:, -1] - top[:, -2]


def _observations(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1.0, 1.0, (n, OBS_SIZE)).astype(np.float32)
    obs[: n // 4] *= 0.01  # near the origin too, where logits are close
    return obs


@pytest.mark.parametrize("kwargs, engine", [
    ({"net_arch": [64, 64]}, "numpy"),
    ({"net_arch": [32, 16], "activation_fn": torch.nn.ReLU}, "numpy"),
    ({"net_arch": []}, "numpy"),
    ({"net_arch": [16], "activation_fn": torch.nn.ELU}, "torch"),
    ({"net_arch": [16], "features_extractor_class": _Squash}, "torch"),
])
def test_batched_actions_are_sb3_deterministic_predictions(kwargs, engine):
    model = _model(seed=len(kwargs), **kwargs)
    policy = Policy.from_model(model, EnvConfig())
    assert policy.engine == engine
    obs = _observations(3_000, seed=3)
    actions = policy.predict(obs)
    assert actions.shape == (3_000,) and actions.dtype == np.int64
    expected, _ = model.predict(obs, deterministic=True)
    decided = _top_two_gap(model, obs) > 1e-6  # SB3 takes the argmax of softmax(logits): exact ties in float32
    assert decided.mean() > 0.99
    assert np.array_equal(actions[decided], expected[decided])
    assert len(set(actions.tolist())) > 1  # the batch is not a degenerate one
    assert policy.predict(obs[7]).tolist() == [expected[7]]  # one observation
    assert policy.last_latency_s > 0


def test_inference_keeps_to_the_threads_it_was_given():
    Policy.from_model(_model(seed=1), EnvConfig(), threads=1)
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)


@pytest.mark.parametrize("kwargs", [{"net_arch": [64, 64]}, {"net_arch": [16], "activation_fn": torch.nn.ELU}])
def test_masked_actions_are_never_chosen(kwargs):
    model = _model(seed=5, **kwargs)
    policy = Policy.from_model(model, EnvConfig())
    obs = _observations(2_000, seed=9)
    free = policy.predict(obs)
    rng = np.random.default_rng(4)
    masks = rng.random((len(obs), N_ACTIONS)) < 0.5
    masks[np.arange(len(obs)), rng.integers(0, N_ACTIONS, len(obs))] = True  # at least one allowed
    masked = policy.predict(obs, masks)
    assert masks[np.arange(len(obs)), masked].all()
    keep = masks[np.arange(len(obs)), free]  # where the free choice is allowed, the mask changes nothing
    assert np.array_equal(masked[keep], free[keep])
    assert np.array_equal(policy.predict(obs, np.ones(N_ACTIONS, bool)), free)
    only_hold = np.zeros(N_ACTIONS, bool)
    only_hold[0] = True
    assert (policy.predict(obs[:10], only_hold) == 0).all()
    with pytest.raises(ValueError, match="no action"):
        policy.predict(obs[:2], np.zeros((2, N_ACTIONS), bool))


def test_maskable_ppo_models_predict_like_sb3_contrib():
    from sb3_contrib import MaskablePPO

    model = MaskablePPO("MlpPolicy", _Spaces(), seed=3, device="cpu", policy_kwargs={"net_arch": [32, 32]})
    policy = Policy.from_model(model, EnvConfig())
    assert policy.engine == "numpy"
    obs = _observations(1_000, seed=11)
    masks = np.random.default_rng(1).random((len(obs), N_ACTIONS)) < 0.6
    masks[:, 0] = True
    expected, _ = model.predict(obs, action_masks=masks, deterministic=True)
    assert (policy.predict(obs, masks) == expected).mean() > 0.99
