"""Small, real policies for the actor's tests, published to a registry the way training publishes.

Each is a stable-baselines3 PPO whose policy network is ONE linear layer (``net_arch=[]``), its
weights set by hand so the behaviour is known: the actor loads them from the registry through
the same :meth:`Policy.load` as any trained model (checksums, schema hash, action config, smoke).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from kalshi_actor.observation import OBS_SIZE, SCHEMA_HASH
from kalshi_actor.observation.schema import FEATURE_NAMES
from kalshi_actor.registry import ModelMetadata, Registry
from kalshi_actor.trading.actions import N_ACTIONS, ActionConfig
from kalshi_actor.trading.types import Action
from kalshi_actor.training.env import EnvConfig

POSITION = FEATURE_NAMES.index("position")
TICK_S = 1.0  # the models' training tick (the actors in the tests use it too)


class _Spaces(gym.Env):
    """Only the spaces: PPO needs an env to know them."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (OBS_SIZE,), np.float32)
    action_space = gym.spaces.Discrete(N_ACTIONS)

    def reset(self, *, seed=None, options=None):
        return np.zeros(OBS_SIZE, np.float32), {}

    def step(self, action):
        return np.zeros(OBS_SIZE, np.float32), 0.0, True, False, {}


def _ppo(weights: np.ndarray, bias: np.ndarray):
    import torch
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", _Spaces(), policy_kwargs={"net_arch": []}, device="cpu", n_steps=64, batch_size=64,
                seed=0)
    with torch.no_grad():
        model.policy.action_net.weight.copy_(torch.from_numpy(weights))
        model.policy.action_net.bias.copy_(torch.from_numpy(bias))
    return model


def publish(registry: Registry, model_id: str, weights: np.ndarray, bias: np.ndarray, action: ActionConfig) -> str:
    env = EnvConfig(tick_interval_s=TICK_S, action=action)
    model = _ppo(weights.astype(np.float32), bias.astype(np.float32))
    meta = ModelMetadata(algorithm="ppo", observation_schema_hash=SCHEMA_HASH, observation_size=OBS_SIZE,
                         action_config=action.to_dict(), action_config_hash=action.hash,
                         extra={"env_config": env.to_dict()})
    return registry.add(lambda target: model.save(target), meta, model_id=model_id, set_latest=False).model_id


def constant(action: Action) -> tuple[np.ndarray, np.ndarray]:
    bias = np.zeros(N_ACTIONS)
    bias[action] = 1.0
    return np.zeros((N_ACTIONS, OBS_SIZE)), bias


def flip() -> tuple[np.ndarray, np.ndarray]:
    """Flat or short: BUY_YES; long YES: BUY_NO (which closes it). Round trips: realized P&L and fees."""
    weights = np.zeros((N_ACTIONS, OBS_SIZE))
    weights[Action.BUY_YES_LIMIT, POSITION] = -100.0
    weights[Action.BUY_NO_LIMIT, POSITION] = 100.0
    bias = np.zeros(N_ACTIONS)
    bias[Action.BUY_YES_LIMIT] = 1.0
    return weights, bias


@dataclass(frozen=True)
class Models:
    root: Path
    taker: str  # flip, crossing the spread (IOC): fills at once, nothing rests
    maker: str  # BUY_YES joining the best bid (post-only, GTC): one resting YES bid per market
    hold: str  # always HOLD
    buyer: str  # always BUY_YES, crossing: a position grows until risk stops it

    @property
    def registry(self) -> Registry:
        return Registry(self.root)


def build_models(root: Path) -> Models:
    registry = Registry(root)
    taker = publish(registry, "taker-1", *flip(), ActionConfig(pricing="cross"))
    maker = publish(registry, "maker-1", *constant(Action.BUY_YES_LIMIT), ActionConfig(pricing="join"))
    hold = publish(registry, "hold-1", *constant(Action.HOLD), ActionConfig())
    buyer = publish(registry, "buyer-1", *constant(Action.BUY_YES_LIMIT), ActionConfig(pricing="cross"))
    registry.set_latest(taker)
    return Models(root, taker, maker, hold, buyer)
