"""A registry model as a batched, deterministic predictor: observations ``[n, OBS_SIZE]`` -> actions ``[n]``.

The live actor and the evaluation use this one loader::

    policy = Policy.load(Registry(root), model_id=None, threads=1)   # latest; validated
    actions = policy.predict(obs)                                   # np.int64 [n], argmax of the logits

Loading refuses a model trained for another observation schema (:data:`SCHEMA_HASH`,
:data:`OBS_SIZE`) or whose action config does not parse under this build's action
semantics or does not match its stored hash (:class:`ModelIncompatible`). The model's
:class:`ActionConfig` and :class:`EnvConfig` come with it: use them unchanged.

Inference is SB3's policy network without SB3's per-call overhead: one forward pass
of the actor MLP for the whole batch under ``torch.inference_mode``; the action is the
mode of the categorical distribution (argmax of the logits), which is what
``PPO.predict(obs, deterministic=True)`` returns. ``threads`` pins torch's intra-op
threads for the process (torch's setting is process-wide).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..observation import OBS_SIZE, SCHEMA_HASH
from ..registry import ModelIncompatible, ModelRecord, Registry
from ..trading.actions import N_ACTIONS, ActionConfig, ActionConfigError
from .env import EnvConfig

__all__ = ["Policy", "load_sb3"]


def load_sb3(path: Any, *, threads: int = 1) -> Any:
    """Load an SB3 PPO zip on the CPU with torch's threads pinned."""
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(threads)
    return PPO.load(path, device="cpu")


@dataclass
class Policy:
    """A loaded model: ``predict(obs) -> actions`` plus the configs it was trained with."""

    model_id: str
    record: ModelRecord | None
    action_config: ActionConfig
    env_config: EnvConfig
    model: Any  # the SB3 model (for its policy network)
    threads: int = 1
    last_latency_s: float = 0.0  # wall time of the last predict call

    @classmethod
    def load(cls, registry: Registry, model_id: str | None = None, *, threads: int = 1) -> Policy:
        """Resolve (``None`` = latest), verify checksums, validate compatibility, load the network."""
        record = registry.resolve(model_id)
        meta = record.metadata
        try:
            action_config = ActionConfig.from_dict(meta.action_config, expected_hash=meta.action_config_hash)
        except ActionConfigError as exc:
            raise ModelIncompatible(f"model {record.model_id} cannot be used: {exc}") from None
        registry.check_compatible(record, SCHEMA_HASH, action_config.hash, action_config=action_config.to_dict(),
                                  observation_size=OBS_SIZE)
        env_data = meta.extra.get("env_config")
        env_config = EnvConfig.from_dict(env_data) if env_data else EnvConfig(action=action_config)
        if env_config.action != action_config:
            raise ModelIncompatible(f"model {record.model_id}: its env config's action config differs from its "
                                    "action config")
        model = load_sb3(record.model_path, threads=threads)
        space = model.observation_space
        if tuple(space.shape) != (OBS_SIZE,) or int(model.action_space.n) != N_ACTIONS:
            raise ModelIncompatible(f"model {record.model_id}: network shapes {space.shape} -> "
                                    f"{model.action_space.n} are not ({OBS_SIZE},) -> {N_ACTIONS}")
        policy = cls(record.model_id, record, action_config, env_config, model, threads)
        policy.smoke()
        return policy

    @classmethod
    def from_model(cls, model: Any, env_config: EnvConfig, *, threads: int = 1, name: str = "model") -> Policy:
        """Wrap an in-memory SB3 model (e.g. right after training)."""
        return cls(name, None, env_config.action, env_config, model, threads)

    def __post_init__(self) -> None:
        import torch

        policy = self.model.policy
        policy.set_training_mode(False)
        extractor, mlp, head = policy.features_extractor, policy.mlp_extractor, policy.action_net
        if not policy.share_features_extractor:
            extractor = policy.pi_features_extractor

        def logits(x: torch.Tensor) -> torch.Tensor:
            return head(mlp.forward_actor(extractor(x)))

        self._logits = logits
        self._torch = torch

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions (int64 ``[n]``) for float32 observations ``[n, OBS_SIZE]`` (or one ``[OBS_SIZE]``)."""
        torch = self._torch
        started = time.perf_counter()
        x = np.asarray(obs, dtype=np.float32)
        single = x.ndim == 1
        if single:
            x = x[None, :]
        with torch.inference_mode():
            actions = self._logits(torch.from_numpy(x)).argmax(dim=1).numpy()
        self.last_latency_s = time.perf_counter() - started
        return actions[0:1] if single else actions

    __call__ = predict

    def smoke(self, n: int = 8) -> np.ndarray:
        """A golden-batch check: a fixed batch must give ``n`` valid actions, identically twice."""
        rng = np.random.default_rng(0)
        batch = rng.uniform(-1.0, 1.0, (n, OBS_SIZE)).astype(np.float32)
        first = self.predict(batch)
        if first.shape != (n,) or first.min() < 0 or first.max() >= N_ACTIONS \
                or not np.array_equal(first, self.predict(batch)):
            raise ModelIncompatible(f"model {self.model_id} failed the smoke batch: {first!r}")
        return first
