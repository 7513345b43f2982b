"""Baselines: each played through the training env on a simulated session with ITS action config, trading as described."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from kalshi_actor.observation import FEATURE_NAMES, OBS_SIZE
from kalshi_actor.observation.schema import CLOSE_SCALE_S, OWN_SIZE_SCALE
from kalshi_actor.sim.generate import generate_session
from kalshi_actor.sim.world import World
from kalshi_actor.trading.actions import ActionConfig
from kalshi_actor.trading.types import Action
from kalshi_actor.training.baselines import (
    MAKER,
    ASMaker,
    BandsMaker,
    Constant,
    FixedSpreadMaker,
    Hold,
    Momentum,
    Oracle,
    RandomPolicy,
    TouchMaker,
    baselines,
    nearest_quote,
)
from kalshi_actor.training.baselines import _Market
from kalshi_actor.training.env import EnvConfig, KalshiMarketEnv, load_session

I = FEATURE_NAMES.index
CAP = 500  # hundredths: the maker baselines' default cap, 5 contracts


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Two simulated markets for 4 minutes, with the latent probability traced."""
    path = tmp_path_factory.mktemp("baselines") / "sim.session"
    world = World(seed=31, n_markets=2, clock="virtual")
    trace = world.trace_latent()
    generate_session(path, n_markets=2, seed=31, duration_s=240, world=world)
    return path, {t: (list(ts), list(p)) for t, (ts, p) in trace.items()}


@dataclass
class Play:
    """What a baseline did: per decision, the action, the position before it, our working orders after it."""

    n_actions: int
    actions: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    working: list[list] = field(default_factory=list)
    allowed: list[bool] = field(default_factory=list)
    fills: list = field(default_factory=list)
    net_pnl: int = 0

    def share(self, predicate) -> float:
        return sum(map(predicate, self.working)) / len(self.working)


def play(policy, sim) -> Play:
    path, trace = sim
    env = KalshiMarketEnv([load_session(path)], EnvConfig(action=policy.action_config, tick_interval_s=1.0))
    out = Play(env.action_space.n)
    for ticker in env.sessions[0].tickers:
        obs, info = env.reset(options={"session": 0, "ticker": ticker})
        done = env._done
        while not done:
            kw = {"latent": np.array([_latent(trace[ticker], info["now_ms"])])} if policy.needs_latent else {}
            action = int(policy(obs[None, :], **kw)[0])
            out.actions.append(action)
            out.positions.append(info["position"])
            masks = env.action_masks()
            out.allowed.append(bool(masks[action]) if action < len(masks) else False)
            obs, _, terminated, truncated, info = env.step(action)
            out.fills += env.step_fills
            out.working.append(list(env.fills.working(ticker)))
            done = terminated or truncated
        out.net_pnl += info["net_pnl"]
    assert out.actions and max(out.actions) < out.n_actions
    return out


def _latent(trace: tuple[list, list], now_ms: int) -> float:
    ts, p = trace
    return p[max(bisect_right(ts, now_ms) - 1, 0)]


def test_every_baseline_has_a_name_a_config_and_parameters():
    names = [b.name for b in baselines(0)]
    assert len(names) == len(set(names))
    assert names[:2] == ["hold", "random"] and names[-5:] == ["random maker", "touch maker", "AS maker",
                                                             "bands maker", "oracle"]
    for b in baselines(0):
        assert isinstance(b.action_config, ActionConfig) and isinstance(b.parameters, dict)
        assert b.needs_latent == (b.name == "oracle")
        assert (b.action_config.space == "maker") == (b.name in {"random maker", "touch maker", "AS maker",
                                                                  "bands maker"})


def test_the_env_plays_each_config_with_its_action_count(sim):
    for config in (ActionConfig(), MAKER):
        env = KalshiMarketEnv([load_session(sim[0])], EnvConfig(action=config))
        assert env.action_space.n == config.n_actions


# --- the seed baselines ---


def test_hold_never_trades(sim):
    p = play(Hold(), sim)
    assert set(p.actions) == {0} and not p.fills and not any(p.working) and p.net_pnl == 0


def test_random_covers_its_space(sim):
    for config in (ActionConfig(), MAKER):
        p = play(RandomPolicy(3, config), sim)
        assert set(p.actions) == set(range(config.n_actions)) and p.fills
    a, b = RandomPolicy(3)(np.zeros((50, OBS_SIZE), np.float32)), RandomPolicy(3)(np.zeros((50, OBS_SIZE), np.float32))
    assert (a == b).all()


@pytest.mark.parametrize(("action", "side", "sign"), [
    (Action.BUY_YES_LIMIT, "yes", 1), (Action.SELL_YES_LIMIT, "no", -1),
    (Action.BUY_NO_LIMIT, "no", -1), (Action.SELL_NO_LIMIT, "yes", 1)])
def test_constant_actions_rest_one_side(sim, action, side, sign):
    p = play(Constant(action), sim)
    assert set(p.actions) == {int(action)}
    assert all(o.side == side for w in p.working for o in w) and p.share(bool) > 0.5
    assert all(pos * sign >= 0 for pos in p.positions)  # from flat, a SELL opens the other side, never creates cash


def test_fixed_spread_maker_and_momentum_keep_their_caps(sim):
    for policy in (FixedSpreadMaker(), Momentum(threshold_cents=0.5)):
        p = play(policy, sim)
        assert max(map(abs, p.positions)) <= CAP + 100
    assert set(play(Momentum(threshold_cents=0.5), sim).actions) <= {0, 1, 3}


# --- the maker space ---


def _names(p: Play) -> list[str]:
    return [MAKER.action_names[a] for a in p.actions]


def test_touch_maker_quotes_both_sides_skews_and_respects_its_cap(sim):
    p = play(TouchMaker(), sim)
    assert p.share(lambda w: {o.side for o in w} == {"yes", "no"}) > 0.6  # two working orders most of the time
    assert p.fills and max(map(abs, p.positions)) <= CAP
    assert all(p.allowed)  # never a masked action
    for name, pos in zip(_names(p), p.positions):
        expected = {0: {"quote_join_1c"}, 1: {"quote_skew_long_1c", "quote_no_1c"},
                    -1: {"quote_skew_short_1c", "quote_yes_1c"}}[int(np.sign(pos))]
        assert name in expected | {"hold"}
        if abs(pos) >= CAP:
            assert name in {"quote_no_1c", "quote_yes_1c", "hold"}  # only the reducing side at the cap


def test_as_maker_skews_with_inventory_and_respects_its_cap(sim):
    p = play(ASMaker(), sim)
    assert p.fills and max(map(abs, p.positions)) <= CAP
    assert sum(p.allowed) >= 0.98 * len(p.allowed)
    shift = {name: (y - n) / 2 for name, y, n in _shape_offsets()}  # + : quotes moved up (buys YES sooner)
    by_sign = {s: [shift[n[:-3]] for n, pos in zip(_names(p), p.positions) if np.sign(pos) == s and n[:-3] in shift]
               for s in (-1, 0, 1)}
    assert by_sign[1] and by_sign[-1]
    assert np.mean(by_sign[1]) < np.mean(by_sign[0]) < np.mean(by_sign[-1])  # long: lower; short: higher


def _shape_offsets():
    from kalshi_actor.trading.actions import QUOTE_SHAPES

    absent = -4
    return [(name, absent if y is None else y, absent if n is None else n) for name, y, n in QUOTE_SHAPES]


def test_bands_maker_quotes_around_the_microprice(sim):
    p = play(BandsMaker(ticks=1), sim)
    assert p.fills and max(map(abs, p.positions)) <= CAP
    assert p.share(lambda w: len(w) == 2) > 0.5
    wide = play(BandsMaker(ticks=5), sim)
    assert len(wide.fills) < len(p.fills)  # further from the touch, filled less


def test_oracle_takes_what_the_latent_probability_says_is_mispriced(sim):
    p = play(Oracle(threshold_cents=1.0), sim)
    assert p.fills and all(f.is_taker for f in p.fills) and set(p.actions) <= {0, 1, 3}
    assert max(map(abs, p.positions)) <= CAP
    with pytest.raises(ValueError, match="latent"):
        Oracle()(np.zeros((1, OBS_SIZE), np.float32))


# --- the rules on constructed observations ---


def _obs(bid=0.40, ask=0.45, micro=0.425, position=0.0, rv_cents=2.0, close_s=3600.0, tick_cents=1.0, n=1):
    obs = np.zeros((n, OBS_SIZE), np.float32)
    obs[:, I("yes_bid")], obs[:, I("yes_ask")], obs[:, I("microprice")] = bid, ask, micro
    obs[:, I("two_sided")] = 1.0
    obs[:, I("tick_size")] = tick_cents
    obs[:, I("position")] = np.sign(position) * np.log1p(abs(position)) / np.log1p(OWN_SIZE_SCALE)
    obs[:, I("rv_60s")] = np.log1p(rv_cents) / np.log1p(50.0)
    obs[:, I("time_to_close")] = np.log1p(close_s) / np.log1p(CLOSE_SCALE_S)
    return obs


def _name(policy, obs) -> str:
    return policy.action_config.action_names[int(policy(obs)[0])]


def test_as_reservation_price_and_mapping():
    maker = ASMaker(gamma=0.05, k=1.0, horizon_s=60)
    assert _name(maker, _obs(position=0)) == "quote_improve_1c"  # a 5 c spread is wider than AS's ~2.2 c
    book = dict(bid=0.41, ask=0.44, micro=0.425)  # 3 c: about AS's spread
    assert _name(maker, _obs(position=0, **book)) == "quote_join_1c"
    assert _name(maker, _obs(position=3, **book)) == "quote_skew_long_1c"
    assert _name(maker, _obs(position=-3, **book)) == "quote_skew_short_1c"
    assert _name(maker, _obs(position=5, **book)) == "quote_no_1c"  # at the cap: only the reducing side
    assert _name(maker, _obs(position=-5, **book)) == "quote_yes_1c"
    r, delta = maker.reservation(_Market(_obs(position=2, rv_cents=2.0, close_s=60)))
    variance = 2.0 ** 2 / 60 * 60  # cents^2 to the close (60 s: the horizon)
    assert r[0] == pytest.approx(42.5 - 2 * 0.05 * variance, rel=1e-4)  # microprice 42.5 c
    assert delta[0] == pytest.approx(0.05 * variance / 2 + np.log1p(0.05) / 0.05, rel=1e-4)
    calm, wild = (maker.reservation(_Market(_obs(rv_cents=v)))[1][0] for v in (0.5, 5.0))
    assert calm < wild  # more volatile: wider
    assert len(ASMaker.grid()) == 6 and all(isinstance(ASMaker(**g), ASMaker) for g in ASMaker.grid())


def test_bands_and_touch_rules():
    wide_book = _obs(bid=0.40, ask=0.50, micro=0.45)  # 10 ticks: 1 tick around 0.45 is well inside
    assert _name(BandsMaker(ticks=1), wide_book) == "quote_improve_1c"
    assert _name(BandsMaker(ticks=10), wide_book) == "quote_wide_1c"
    assert _name(TouchMaker(), _obs(position=1)) == "quote_skew_long_1c"
    assert _name(TouchMaker(), _obs(position=-5)) == "quote_yes_1c"
    assert all(isinstance(BandsMaker(**g), BandsMaker) for g in BandsMaker.grid())
    one_sided = _obs()
    one_sided[:, I("two_sided")] = 0.0
    assert _name(TouchMaker(), one_sided) == "hold"


def test_nearest_quote_excludes_the_adding_side_at_the_cap():
    ids = nearest_quote(MAKER, np.array([0.0, 0.0, 3.0]), np.array([0.0, 0.0, -9.0]), np.array([0.0, 5.0, 0.0]), 5)
    assert [MAKER.action_names[i] for i in ids] == ["quote_join_1c", "quote_no_1c", "quote_yes_1c"]
