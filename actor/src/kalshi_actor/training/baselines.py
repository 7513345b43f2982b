"""Baseline policies for evaluation: ``policy(obs [n, OBS_SIZE]) -> actions [n]``, like :class:`~.policy.Policy`.

They read only the observation (normalised features, by name from the schema), so they
run through the same environment, action mapping and fill model as a trained model:

- :class:`Hold`: never trades (net P&L 0 by construction: the yardstick).
- :class:`RandomPolicy`: uniform over the five actions, seeded.
- :class:`FixedSpreadMaker`: keeps one bid on each side at the touch (the action config's
  pricing), and only the reducing side once the position reaches ``max_position`` contracts.
- :class:`Momentum`: a rule: buy YES after the mid rose ``threshold_cents`` over 60 s,
  buy NO after it fell as much, at most ``max_position`` contracts either way; else hold.
"""

from __future__ import annotations

from math import log1p

import numpy as np

from ..observation import FEATURE_NAMES, FEATURES
from ..observation.schema import OWN_SIZE_SCALE
from ..trading.types import Action

__all__ = ["Hold", "RandomPolicy", "FixedSpreadMaker", "Momentum", "baselines"]

_I = {name: i for i, name in enumerate(FEATURE_NAMES)}
_SCALE = {f.name: f.scale for f in FEATURES}


def _slog(value: float, scale: float) -> float:
    """The schema's ``slog`` normalisation of a raw value (for thresholds in raw units)."""
    v = log1p(abs(value)) / log1p(scale)
    return min(v, 1.0) if value >= 0 else -min(v, 1.0)


class Hold:
    name = "hold"

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.zeros(len(np.atleast_2d(obs)), np.int64)


class RandomPolicy:
    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.integers(0, len(Action), len(np.atleast_2d(obs))).astype(np.int64)


class FixedSpreadMaker:
    name = "market maker"

    def __init__(self, max_position: float = 5.0) -> None:
        self.limit = _slog(max_position, OWN_SIZE_SCALE)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.atleast_2d(obs)
        pos = obs[:, _I["position"]]
        has_yes = obs[:, _I["yes_order_size"]] > 0
        has_no = obs[:, _I["no_order_size"]] > 0
        may_buy_yes = pos < self.limit
        may_buy_no = pos > -self.limit
        actions = np.zeros(len(obs), np.int64)
        actions[~has_no & may_buy_no] = Action.SELL_YES_LIMIT  # a NO bid: offers YES (reduces a long first)
        actions[~has_yes & may_buy_yes] = Action.BUY_YES_LIMIT  # a YES bid
        return actions


class Momentum:
    name = "momentum rule"

    def __init__(self, threshold_cents: float = 1.0, max_position: float = 5.0) -> None:
        self.threshold = _slog(threshold_cents, _SCALE["ret_60s"])
        self.limit = _slog(max_position, OWN_SIZE_SCALE)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.atleast_2d(obs)
        ret = obs[:, _I["ret_60s"]]
        pos = obs[:, _I["position"]]
        actions = np.zeros(len(obs), np.int64)
        actions[(ret > self.threshold) & (pos < self.limit)] = Action.BUY_YES_LIMIT
        actions[(ret < -self.threshold) & (pos > -self.limit)] = Action.BUY_NO_LIMIT
        return actions


def baselines(seed: int = 0) -> list:
    """The evaluation's baselines, in table order."""
    return [Hold(), RandomPolicy(seed), FixedSpreadMaker(), Momentum()]
