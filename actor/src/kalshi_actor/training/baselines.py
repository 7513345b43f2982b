"""Baseline policies for evaluation: ``policy(obs [n, OBS_SIZE]) -> actions [n]``, like :class:`~.policy.Policy`.

They read only the observation (normalised features, by name from the schema), so they
run through the same environment, action mapping and fill model as a trained model:

- :class:`Hold`: never trades (net P&L 0 by construction: the yardstick).
- :class:`RandomPolicy`: uniform over the five actions, seeded.
- :class:`Constant`: one action at every decision (each trading action is a baseline: a
  collapsed model earns exactly what one of them does).
- :class:`FixedSpreadMaker`: keeps a bid on each side at the touch (the action config's
  pricing) and RE-QUOTES: each decision it places a missing side or moves the quote that fell
  furthest behind the touch back to it (one side per decision: the seed actions move one side
  each); only the reducing side once the position reaches ``max_position`` contracts.
- :class:`Momentum`: a rule: buy YES after the mid rose ``threshold_cents`` over 60 s,
  buy NO after it fell as much, at most ``max_position`` contracts either way; else hold.
"""

from __future__ import annotations

from math import log1p

import numpy as np

from ..observation import FEATURE_NAMES, FEATURES
from ..observation.schema import OWN_SIZE_SCALE
from ..trading.types import Action

__all__ = ["Constant", "Hold", "RandomPolicy", "FixedSpreadMaker", "Momentum", "baselines"]

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


class Constant:
    """The same action at every decision."""

    def __init__(self, action: Action) -> None:
        self.action = Action(action)
        self.name = f"always {self.action.name.lower()}"

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.full(len(np.atleast_2d(obs)), int(self.action), np.int64)


class FixedSpreadMaker:
    name = "market maker"

    def __init__(self, max_position: float = 5.0) -> None:
        self.limit = _slog(max_position, OWN_SIZE_SCALE)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.atleast_2d(obs)
        pos = obs[:, _I["position"]]
        may_yes = pos < self.limit  # a YES bid adds YES (or reduces NO)
        may_no = pos > -self.limit  # a NO bid (offering YES) adds NO (or reduces YES)
        # how far each side is from where it should be: a missing quote is the most urgent, then ticks behind
        urgency_yes = np.where(obs[:, _I["yes_order_size"]] > 0, obs[:, _I["yes_order_distance"]], 2.0)
        urgency_no = np.where(obs[:, _I["no_order_size"]] > 0, obs[:, _I["no_order_distance"]], 2.0)
        urgency_yes = np.where(may_yes, urgency_yes, -np.inf)
        urgency_no = np.where(may_no, urgency_no, -np.inf)
        actions = np.zeros(len(obs), np.int64)
        yes_first = urgency_yes >= urgency_no
        actions[yes_first & (urgency_yes > 0)] = Action.BUY_YES_LIMIT
        actions[~yes_first & (urgency_no > 0)] = Action.SELL_YES_LIMIT  # a NO bid: offers YES (reduces a long first)
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
    constants = [Constant(a) for a in Action if a != Action.HOLD]
    return [Hold(), RandomPolicy(seed), *constants, FixedSpreadMaker(), Momentum()]
