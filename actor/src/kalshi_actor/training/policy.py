"""A registry model as a batched, deterministic predictor: observations ``[n, OBS_SIZE]`` -> actions ``[n]``.

The live actor and the evaluation use this one loader::

    policy = Policy.load(Registry(root), model_id=None, threads=1)   # latest; validated
    actions = policy.predict(obs)                                   # np.int64 [n], argmax of the logits
    actions = policy.predict(obs, masks)                            # masks: bool [n, n_actions], True = allowed

Models are sb3-contrib ``MaskablePPO`` (``metadata.algorithm == "maskable_ppo"``) or, older,
stable-baselines3 ``PPO`` (``"ppo"``); both have the same actor network and load the same way.

Observation normalisation: a model trained with it stores its frozen statistics in
``metadata.extra["obs_normalisation"]`` (:class:`~.env.ObsNormalisation`); ``predict`` applies them
to the raw observations (:meth:`network_input`, the training wrapper's formula, float64 then
float32) before EITHER forward pass. A model without them sees the raw observations, exactly
as before. Masks: a masked-out action's logit is ``-inf`` before the argmax, so it is never
chosen (MaskablePPO's deterministic action); a row with no allowed action is a ``ValueError``.

Loading refuses a model trained for another observation schema (:data:`SCHEMA_HASH`,
:data:`OBS_SIZE`) or whose action config does not parse under this build's action
semantics or does not match its stored hash (:class:`ModelIncompatible`). A file that matches
its checksums but does not load (truncated, not an SB3 zip, saved by another SB3) is a
:class:`ModelLoadError` naming the file: every failure of a model is a ``RegistryError``. The
model's :class:`ActionConfig` and :class:`EnvConfig` come with it: use them unchanged.

Inference is SB3's policy network without SB3's per-call overhead: one forward pass of
the actor network for the whole batch; the action is the mode of the categorical
distribution (argmax of the logits), which is what ``PPO.predict(obs, deterministic=True)``
returns (SB3 takes the argmax of the probabilities: where two logits are equal to within
float32 rounding, the two may pick differently). The usual network (flatten, then linear
layers with tanh or ReLU between them) runs as a few NumPy matrix products: for a batch
of 100 several times faster than torch's per-operator dispatch, and steadier. Its weights
are copied at load and its actions checked against torch's on a fixed batch; any other
network runs in torch under ``inference_mode`` (the two round differently in the last
bits of float32: again only such a tie could be decided differently). ``threads`` pins
torch's intra-op threads and NumPy's BLAS threads (both process-wide settings): a
decision takes one core.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from ..observation import OBS_SIZE, SCHEMA_HASH
from ..registry import ModelIncompatible, ModelLoadError, ModelRecord, Registry, RegistryError
from ..registry.registry import METADATA_FILE
from ..trading.actions import ActionConfig, ActionConfigError
from .env import EnvConfig, ObsNormalisation, n_actions

__all__ = ["Policy", "load_sb3"]

log = logging.getLogger(__name__)

Layer = tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], Any] | None]  # weights [in, out], bias, activation


def _tanh(h: np.ndarray) -> None:
    np.tanh(h, out=h)


def _relu(h: np.ndarray) -> None:
    np.maximum(h, 0.0, out=h)


def _numpy_layers(policy: Any) -> list[Layer] | None:
    """The actor network (features extractor, policy MLP, action head) as NumPy layers, or None when it is
    anything but flatten -> (linear, tanh | relu)* -> linear."""
    import torch
    from stable_baselines3.common.torch_layers import FlattenExtractor

    extractor = policy.features_extractor if policy.share_features_extractor else policy.pi_features_extractor
    if type(extractor) is not FlattenExtractor or len(policy.observation_space.shape) != 1:
        return None
    activations = {torch.nn.Tanh: _tanh, torch.nn.ReLU: _relu}
    layers: list[Layer] = []
    for module in [*policy.mlp_extractor.policy_net, policy.action_net]:
        if type(module) is torch.nn.Linear:
            weight = module.weight.detach().numpy().astype(np.float32).T.copy()
            bias = module.bias.detach().numpy().astype(np.float32).copy() if module.bias is not None \
                else np.zeros(weight.shape[1], np.float32)
            layers.append((weight, bias, None))
        elif type(module) in activations and layers and layers[-1][2] is None:
            weight, bias, _ = layers[-1]
            layers[-1] = (weight, bias, activations[type(module)])
        else:
            return None
    return layers if layers and layers[-1][2] is None else None


def _action_config(record: ModelRecord) -> ActionConfig:
    """The model's action config under this build's semantics; :class:`ModelIncompatible` when it does not parse."""
    meta = record.metadata
    try:
        return ActionConfig.from_dict(meta.action_config, expected_hash=meta.action_config_hash)
    except ActionConfigError as exc:
        raise ModelIncompatible(f"model {record.model_id} cannot be used: {exc}") from None


def _env_config(record: ModelRecord, action_config: ActionConfig) -> EnvConfig:
    """The model's env config; :class:`ModelIncompatible` when this build cannot read it (another build's)."""
    env_data = record.metadata.extra.get("env_config")
    try:
        env_config = EnvConfig.from_dict(env_data) if env_data else EnvConfig(action=action_config)
    except (TypeError, ValueError) as exc:  # unknown or missing settings, bad values
        raise ModelIncompatible(f"model {record.model_id} cannot be used: its env config in {METADATA_FILE} "
                                f"does not parse: {exc}") from None
    if env_config.action != action_config:
        raise ModelIncompatible(f"model {record.model_id}: its env config's action config differs from its "
                                "action config")
    return env_config


def _normalisation(record: ModelRecord) -> ObsNormalisation | None:
    """The model's frozen observation statistics (None: trained without); :class:`ModelIncompatible` when bad."""
    data = record.metadata.extra.get("obs_normalisation")
    if data is None:
        return None
    try:
        return ObsNormalisation.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelIncompatible(f"model {record.model_id} cannot be used: its obs_normalisation in {METADATA_FILE} "
                                f"does not parse: {exc}") from None


MASKABLE = "maskable_ppo"


def load_sb3(path: Any, *, threads: int = 1, algorithm: str = "ppo") -> Any:
    """Load an SB3 zip on the CPU with torch's threads pinned: sb3-contrib ``MaskablePPO`` for
    ``algorithm == "maskable_ppo"``, else stable-baselines3 ``PPO``."""
    import torch

    torch.set_num_threads(threads)
    if algorithm == MASKABLE:
        from sb3_contrib import MaskablePPO

        return MaskablePPO.load(path, device="cpu")
    from stable_baselines3 import PPO

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
    normalisation: ObsNormalisation | None = None  # frozen training statistics (None: raw observations)

    @classmethod
    def load(cls, registry: Registry, model_id: str | None = None, *, threads: int = 1) -> Policy:
        """Resolve (``None`` = latest), verify checksums, validate compatibility, load the network.

        Every failure of the model is a :class:`RegistryError` naming it: checksums pass but the
        file does not load (truncated, foreign, another SB3) -> :class:`ModelLoadError` naming the file.
        """
        record = registry.resolve(model_id)
        action_config = _action_config(record)
        registry.check_compatible(record, SCHEMA_HASH, action_config.hash, action_config=action_config.to_dict(),
                                  observation_size=OBS_SIZE)
        env_config = _env_config(record, action_config)
        normalisation = _normalisation(record)
        try:
            return cls._load_network(record, action_config, env_config, normalisation, threads)
        except RegistryError:
            raise
        except Exception as exc:  # SB3 and torch raise anything (AssertionError, ValueError, RuntimeError...)
            raise ModelLoadError(f"model {record.model_id}: {record.model_path} does not load: "
                                 f"{type(exc).__name__}: {exc}") from exc

    @classmethod
    def _load_network(cls, record: ModelRecord, action_config: ActionConfig, env_config: EnvConfig,
                      normalisation: ObsNormalisation | None, threads: int) -> Policy:
        model = load_sb3(record.model_path, threads=threads, algorithm=record.metadata.algorithm)
        space = model.observation_space
        n = n_actions(action_config)
        if tuple(space.shape) != (OBS_SIZE,) or int(model.action_space.n) != n:
            raise ModelIncompatible(f"model {record.model_id}: network shapes {space.shape} -> "
                                    f"{model.action_space.n} are not ({OBS_SIZE},) -> {n}")
        policy = cls(record.model_id, record, action_config, env_config, model, threads, normalisation=normalisation)
        policy.smoke()
        return policy

    @classmethod
    def from_model(cls, model: Any, env_config: EnvConfig, *, threads: int = 1, name: str = "model",
                   normalisation: ObsNormalisation | None = None) -> Policy:
        """Wrap an in-memory SB3 model (e.g. right after training) with the statistics it was trained with."""
        return cls(name, None, env_config.action, env_config, model, threads, normalisation=normalisation)

    def __post_init__(self) -> None:
        import torch

        threadpool_limits(self.threads, user_api="blas")
        policy = self.model.policy
        policy.set_training_mode(False)
        extractor, mlp, head = policy.features_extractor, policy.mlp_extractor, policy.action_net
        if not policy.share_features_extractor:
            extractor = policy.pi_features_extractor

        def torch_logits(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return head(mlp.forward_actor(extractor(torch.from_numpy(x)))).numpy()

        def torch_actions(x: np.ndarray) -> np.ndarray:
            return torch_logits(x).argmax(axis=1)

        self._torch_logits = torch_logits
        self._layers = _numpy_layers(policy)
        if self._layers is not None:  # the NumPy pass must choose what torch's does (on a fixed batch)
            batch = np.random.default_rng(1).uniform(-1.0, 1.0, (64, *policy.observation_space.shape))
            batch = batch.astype(np.float32)
            if not np.array_equal(self._numpy_actions(batch), torch_actions(batch)):
                log.warning("model %s: the NumPy forward pass disagrees with torch's; inference runs in torch",
                            self.model_id)
                self._layers = None

    @property
    def masked(self) -> bool:
        """Trained with action masks (MaskablePPO): it must decide with the same masks live."""
        record = self.record
        if record is not None:
            return record.metadata.algorithm == MASKABLE
        return type(self.model).__name__ == "MaskablePPO"

    @property
    def engine(self) -> str:
        """What runs the network: ``"numpy"`` (the usual MLP) or ``"torch"``."""
        return "numpy" if self._layers is not None else "torch"

    def _numpy_logits(self, x: np.ndarray) -> np.ndarray:
        h = x
        for weight, bias, activation in self._layers:
            h = h @ weight
            h += bias
            if activation is not None:
                activation(h)
        return h

    def _numpy_actions(self, x: np.ndarray) -> np.ndarray:
        return self._numpy_logits(x).argmax(axis=1)

    @property
    def n_actions(self) -> int:
        return n_actions(self.action_config)

    def network_input(self, obs: np.ndarray) -> np.ndarray:
        """What the network sees for raw observations: float32, normalised with the model's frozen training
        statistics when it has them (exactly the training wrapper's formula), else the observations as they are."""
        x = np.asarray(obs, dtype=np.float32)
        return self.normalisation.apply(x) if self.normalisation is not None else x

    def predict(self, obs: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """Deterministic actions (int64 ``[n]``) for float32 observations ``[n, OBS_SIZE]`` (or one ``[OBS_SIZE]``).

        ``masks`` (bool ``[n, n_actions]`` or ``[n_actions]``, True = allowed): masked actions are never
        chosen; ``ValueError`` when a row allows none or the shape is wrong."""
        started = time.perf_counter()
        x = self.network_input(obs)
        single = x.ndim == 1
        if single:
            x = x[None, :]
        logits = self._numpy_logits(x) if self._layers is not None else self._torch_logits(x)
        if masks is not None:
            logits = _masked(logits, masks)
        actions = logits.argmax(axis=1)
        self.last_latency_s = time.perf_counter() - started
        return actions[0:1] if single else actions

    __call__ = predict

    def smoke(self, n: int = 8) -> np.ndarray:
        """A golden-batch check: a fixed batch must give ``n`` valid actions, identically twice."""
        rng = np.random.default_rng(0)
        batch = rng.uniform(-1.0, 1.0, (n, OBS_SIZE)).astype(np.float32)
        first = self.predict(batch)
        if first.shape != (n,) or first.min() < 0 or first.max() >= self.n_actions \
                or not np.array_equal(first, self.predict(batch)):
            raise ModelIncompatible(f"model {self.model_id} failed the smoke batch: {first!r}")
        return first


def _masked(logits: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """``logits`` with the disallowed actions at ``-inf`` (a copy)."""
    allowed = np.asarray(masks, dtype=bool)
    if allowed.ndim == 1:
        allowed = np.broadcast_to(allowed, logits.shape)
    if allowed.shape != logits.shape:
        raise ValueError(f"masks of shape {allowed.shape} for logits of shape {logits.shape}")
    if not allowed.any(axis=1).all():
        raise ValueError("an action mask allows no action")
    return np.where(allowed, logits, -np.inf)
