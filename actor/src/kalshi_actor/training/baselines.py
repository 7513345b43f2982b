"""Baseline policies for evaluation: ``policy(obs [n, OBS_SIZE]) -> actions [n]``, like :class:`~.policy.Policy`.

They read only the observation (normalised features, by name from the schema, inverted
to raw units here), so they run through the same environment, action mapping and fill
model as a trained model. Every baseline has ``name``, ``action_config`` (the
:class:`~kalshi_actor.trading.actions.ActionConfig` it must be played with: the default
seed config, or the maker space) and ``parameters`` (its constructor arguments). One that
sets ``needs_latent = True`` (the oracle) is called ``policy(obs, latent=p)`` with the
simulator's latent YES probability per row (evaluation-only data).

==========================  ======  ==============================================================
baseline                    space   rule
==========================  ======  ==============================================================
:class:`Hold`               seed    never trades (net P&L 0 by construction: the yardstick)
:class:`RandomPolicy`       either  uniform over its config's actions, seeded ("random", "random
                                    maker")
:class:`Constant`           seed    one action at every decision ("always buy_yes_limit", ...: a
                                    collapsed model earns exactly what one of them does)
:class:`FixedSpreadMaker`   seed    keeps a bid on each side at the touch, re-quoting one side per
                                    decision (the seed actions move one side each); only the
                                    reducing side at ``max_position`` contracts
:class:`Momentum`           seed    buy YES after the mid rose ``threshold_cents`` over 60 s, NO
                                    after it fell as much, within ``max_position`` contracts; else
                                    hold
:class:`TouchMaker`         maker   both sides at the touch EVERY decision (re-quotes both in one
                                    step), shifted a tick away from its inventory
                                    (``quote_skew_*``), only the reducing side at the cap
:class:`ASMaker`            maker   Avellaneda-Stoikov / Gueant-Lehalle-Fernandez-Tapia:
                                    reservation price and half-spread from inventory, volatility
                                    and time to close (below)
:class:`BandsMaker`         maker   both sides ``ticks`` grid ticks from the microprice; only the
                                    reducing side at the cap
:class:`Oracle`             seed    (cross pricing) takes YES when latent - ask >
                                    ``threshold_cents``, NO when bid - latent > it, within
                                    ``max_position`` contracts; else holds
==========================  ======  ==============================================================

The AS maker, on a binary contract (all prices in cents, YES scale; ``q`` the position in
contracts, +YES/-NO):

* fair value ``s`` = the microprice; variance rate ``sigma^2 = rv_60s^2 / 60`` (cents^2 per
  second; at least one tick per minute); horizon ``tau = min(time_to_close, horizon_s)``;
  the variance to the horizon ``v = sigma^2 * tau`` is capped at ``s * (100 - s)``, the most a
  price bounded in [0, 100] cents can still vary (a Bernoulli's variance);
* reservation price ``r = s - q * gamma * v``; half-spread ``delta = gamma * v / 2 + ln(1 +
  gamma / k) / gamma``; wanted YES bid ``r - delta`` and YES ask ``r + delta``;
* mapped to the NEAREST maker quote (:func:`nearest_quote`) of the first size: each side's
  wanted offset from the join price in ticks against the quote's (an absent side counts as
  :data:`ABSENT_OFFSET` ticks behind), the adding side absent at the cap.

``ASMaker.grid()`` and ``BandsMaker.grid()`` list a few parameter sets (``cls(**params)``) for
tuning on VALIDATION sessions; :func:`baselines` returns the defaults. Positions read from the
observation are the slog-normalised contracts inverted (exact to float32 rounding).
"""

from __future__ import annotations

from math import log1p
from typing import Any

import numpy as np

from ..observation import FEATURE_NAMES, FEATURES
from ..observation.schema import OWN_SIZE_SCALE
from ..trading.actions import QUOTE_SHAPES, ActionConfig
from ..trading.types import Action

__all__ = ["ABSENT_OFFSET", "ASMaker", "BandsMaker", "Constant", "FixedSpreadMaker", "Hold", "MAKER", "Momentum",
           "Oracle", "RandomPolicy", "SEED", "TouchMaker", "baselines", "nearest_quote"]

SEED = ActionConfig()
MAKER = ActionConfig(space="maker")
ABSENT_OFFSET = -4.0  # ticks: how far behind the join an absent quote side counts when matching wanted prices

_I = {name: i for i, name in enumerate(FEATURE_NAMES)}
_SCALE = {f.name: f.scale for f in FEATURES}
_HALF = 0.5  # contracts: "at the cap" is within half a contract of it (fills are whole contracts here)


def _slog(value: float, scale: float) -> float:
    """The schema's ``slog`` normalisation of a raw value (for thresholds in raw units)."""
    v = log1p(abs(value)) / log1p(scale)
    return min(v, 1.0) if value >= 0 else -min(v, 1.0)


def _raw(obs: np.ndarray, name: str) -> np.ndarray:
    """Feature ``name`` of every row back in its raw unit (float64; clipped values stay clipped)."""
    v = obs[:, _I[name]].astype(np.float64)
    feature = FEATURES[_I[name]]
    if feature.norm == "slog":
        return np.sign(v) * np.expm1(np.abs(v) * log1p(feature.scale))
    if feature.norm == "log1p":
        return np.expm1(v * log1p(feature.scale))
    if feature.norm == "linear":
        return v * feature.scale
    return v


def _rows(obs: np.ndarray) -> np.ndarray:
    return np.atleast_2d(obs)


class _Baseline:
    """Common attributes: ``name``, ``action_config``, ``parameters``, ``needs_latent``."""

    name = "baseline"
    action_config: ActionConfig = SEED
    needs_latent = False

    def __init__(self, **parameters: Any) -> None:
        self.parameters = parameters

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        return f"{type(self).__name__}({args})"


class Hold(_Baseline):
    name = "hold"

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.zeros(len(_rows(obs)), np.int64)


class RandomPolicy(_Baseline):
    """Uniform over ``action_config``'s actions, seeded."""

    def __init__(self, seed: int = 0, action_config: ActionConfig = SEED) -> None:
        super().__init__(seed=seed)
        self.action_config = action_config
        self.name = "random" if action_config.space == "seed" else f"random {action_config.space}"
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.integers(0, self.action_config.n_actions, len(_rows(obs))).astype(np.int64)


class Constant(_Baseline):
    """The same seed action at every decision."""

    def __init__(self, action: Action) -> None:
        self.action = Action(action)
        super().__init__(action=self.action.name.lower())
        self.name = f"always {self.action.name.lower()}"

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.full(len(_rows(obs)), int(self.action), np.int64)


class FixedSpreadMaker(_Baseline):
    name = "market maker"

    def __init__(self, max_position: float = 5.0) -> None:
        super().__init__(max_position=max_position)
        self.limit = _slog(max_position, OWN_SIZE_SCALE)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = _rows(obs)
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


class Momentum(_Baseline):
    name = "momentum rule"

    def __init__(self, threshold_cents: float = 1.0, max_position: float = 5.0) -> None:
        super().__init__(threshold_cents=threshold_cents, max_position=max_position)
        self.threshold = _slog(threshold_cents, _SCALE["ret_60s"])
        self.limit = _slog(max_position, OWN_SIZE_SCALE)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = _rows(obs)
        ret = obs[:, _I["ret_60s"]]
        pos = obs[:, _I["position"]]
        actions = np.zeros(len(obs), np.int64)
        actions[(ret > self.threshold) & (pos < self.limit)] = Action.BUY_YES_LIMIT
        actions[(ret < -self.threshold) & (pos > -self.limit)] = Action.BUY_NO_LIMIT
        return actions


# --- the maker space ---

_SHAPES = [name for name, _, _ in QUOTE_SHAPES]
_YES_OFF = np.array([ABSENT_OFFSET if y is None else y for _, y, _ in QUOTE_SHAPES])
_NO_OFF = np.array([ABSENT_OFFSET if n is None else n for _, _, n in QUOTE_SHAPES])
_HAS_YES = np.array([y is not None for _, y, _ in QUOTE_SHAPES])
_HAS_NO = np.array([n is not None for _, _, n in QUOTE_SHAPES])


def nearest_quote(config: ActionConfig, yes_offset: np.ndarray, no_offset: np.ndarray, position: np.ndarray,
                  max_position: float) -> np.ndarray:
    """Per row, the id of the maker quote (first size) nearest the wanted offsets, within the cap.

    ``yes_offset``/``no_offset``: wanted ticks from each side's join price (+ inside, - behind;
    ``-inf`` for no quote); ``position`` contracts (+YES/-NO). Distance: squared tick differences
    with an absent side at :data:`ABSENT_OFFSET`. At ``|position| >= max_position - 1/2`` the
    quotes that would add to it are excluded (the reducing one-sided quote remains)."""
    y = np.maximum(np.asarray(yes_offset, np.float64), ABSENT_OFFSET)[:, None]
    n = np.maximum(np.asarray(no_offset, np.float64), ABSENT_OFFSET)[:, None]
    distance = (y - _YES_OFF) ** 2 + (n - _NO_OFF) ** 2
    long_cap = (position >= max_position - _HALF)[:, None]
    short_cap = (position <= -(max_position - _HALF))[:, None]
    distance[np.broadcast_to(long_cap & _HAS_YES, distance.shape)] = np.inf
    distance[np.broadcast_to(short_cap & _HAS_NO, distance.shape)] = np.inf
    ids = np.array([config.quote_id(s) for s in _SHAPES], np.int64)
    return ids[np.argmin(distance, axis=1)]


class _Market:
    """The features a maker needs, in raw units: cents (YES scale), contracts, seconds."""

    def __init__(self, obs: np.ndarray) -> None:
        self.bid = _raw(obs, "yes_bid") * 100
        self.ask = _raw(obs, "yes_ask") * 100
        self.fair = _raw(obs, "microprice") * 100
        self.tick = np.maximum(_raw(obs, "tick_size"), 1e-3)  # cents
        self.two_sided = obs[:, _I["two_sided"]] > 0.5
        self.position = _raw(obs, "position")
        self.rv_60s = _raw(obs, "rv_60s")  # cents over the last 60 s
        self.time_to_close = _raw(obs, "time_to_close")  # seconds

    def offsets(self, bid: np.ndarray, ask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ticks from the join prices to a wanted YES bid and YES ask (the NO bid at ``100 - ask``)."""
        return (bid - self.bid) / self.tick, (self.ask - ask) / self.tick


class _Maker(_Baseline):
    """A maker-space baseline: wanted YES bid/ask per row -> the nearest quote; holds on a one-sided book."""

    action_config = MAKER

    def __init__(self, max_position: float, **parameters: Any) -> None:
        super().__init__(max_position=max_position, **parameters)
        self.max_position = max_position

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        m = _Market(_rows(obs))
        bid, ask = self.wanted(m)
        actions = nearest_quote(self.action_config, *m.offsets(bid, ask), m.position, self.max_position)
        return np.where(m.two_sided, actions, 0).astype(np.int64)

    def wanted(self, m: _Market) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class TouchMaker(_Maker):
    """Both sides at the touch every decision, a tick away from its inventory; one side only at the cap."""

    name = "touch maker"

    def __init__(self, max_position: float = 5.0) -> None:
        super().__init__(max_position)

    def wanted(self, m: _Market) -> tuple[np.ndarray, np.ndarray]:
        lean = np.sign(np.round(m.position, 2)) * m.tick  # long: both quotes a tick lower (sell sooner, buy later)
        return m.bid - lean, m.ask - lean


class ASMaker(_Maker):
    """Avellaneda-Stoikov inventory skew on a binary contract (see the module docstring).

    ``gamma``: risk aversion, per (contract x cent); ``k``: order-arrival decay, per cent;
    ``horizon_s``: the cap on the time to close (about the time a maker takes to turn its inventory
    over: with ~4 cents of 60 s volatility, 60 s and ``gamma = 0.05`` give a ~1.4 cent half-spread and
    ~0.9 cent of skew per contract held); ``max_position``: contracts."""

    name = "AS maker"

    def __init__(self, gamma: float = 0.05, k: float = 1.0, horizon_s: float = 60.0,
                 max_position: float = 5.0) -> None:
        if gamma <= 0 or k <= 0 or horizon_s <= 0:
            raise ValueError("gamma, k and horizon_s must be positive")
        super().__init__(max_position, gamma=gamma, k=k, horizon_s=horizon_s)
        self.gamma, self.k, self.horizon_s = gamma, k, horizon_s

    @staticmethod
    def grid() -> list[dict[str, float]]:
        """Parameter sets to choose from on validation sessions (``ASMaker(**params)``)."""
        return [{"gamma": g, "k": k} for g in (0.02, 0.05, 0.15) for k in (0.5, 2.0)]

    def reservation(self, m: _Market) -> tuple[np.ndarray, np.ndarray]:
        """Reservation price and half-spread, cents."""
        rate = np.maximum(m.rv_60s ** 2, m.tick ** 2) / 60.0  # cents^2 per second
        tau = np.minimum(m.time_to_close, self.horizon_s)
        variance = np.minimum(rate * tau, m.fair * (100.0 - m.fair))
        r = m.fair - m.position * self.gamma * variance
        delta = self.gamma * variance / 2 + np.log1p(self.gamma / self.k) / self.gamma
        return r, delta

    def wanted(self, m: _Market) -> tuple[np.ndarray, np.ndarray]:
        r, delta = self.reservation(m)
        return r - delta, r + delta


class BandsMaker(_Maker):
    """Both sides ``ticks`` grid ticks from the microprice (no skew); one side only at the cap."""

    name = "bands maker"

    def __init__(self, ticks: float = 2.0, max_position: float = 5.0) -> None:
        if ticks <= 0:
            raise ValueError("ticks must be positive")
        super().__init__(max_position, ticks=ticks)
        self.ticks = ticks

    @staticmethod
    def grid() -> list[dict[str, float]]:
        """Parameter sets to choose from on validation sessions (``BandsMaker(**params)``)."""
        return [{"ticks": t} for t in (1.0, 2.0, 3.0, 5.0)]

    def wanted(self, m: _Market) -> tuple[np.ndarray, np.ndarray]:
        band = self.ticks * m.tick
        return m.fair - band, m.fair + band


class Oracle(_Baseline):
    """Knows the simulator's latent YES probability: takes what is mispriced by more than ``threshold_cents``.

    Played with the seed space at cross pricing (size 1 contract, IOC at the touch)."""

    name = "oracle"
    needs_latent = True
    action_config = ActionConfig(pricing="cross")

    def __init__(self, threshold_cents: float = 2.0, max_position: float = 5.0) -> None:
        super().__init__(threshold_cents=threshold_cents, max_position=max_position)
        self.threshold = threshold_cents
        self.max_position = max_position

    def __call__(self, obs: np.ndarray, *, latent: np.ndarray | None = None) -> np.ndarray:
        if latent is None:
            raise ValueError("the oracle needs the latent YES probability per row (latent=...)")
        obs = _rows(obs)
        p = np.asarray(latent, np.float64).reshape(-1) * 100
        m = _Market(obs)
        room = self.max_position - _HALF
        actions = np.zeros(len(obs), np.int64)
        has_ask = obs[:, _I["yes_ask"]] < 1.0
        has_bid = obs[:, _I["yes_bid"]] > 0.0
        actions[has_ask & (p - m.ask > self.threshold) & (m.position < room)] = Action.BUY_YES_LIMIT
        actions[has_bid & (m.bid - p > self.threshold) & (m.position > -room)] = Action.BUY_NO_LIMIT
        return actions


def baselines(seed: int = 0) -> list:
    """The evaluation's baselines, in table order, with default parameters."""
    constants = [Constant(a) for a in Action if a != Action.HOLD]
    return [Hold(), RandomPolicy(seed), *constants, FixedSpreadMaker(), Momentum(), RandomPolicy(seed, MAKER),
            TouchMaker(), ASMaker(), BandsMaker(), Oracle()]
