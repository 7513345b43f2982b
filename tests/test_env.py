"""The training environment: gymnasium's checks, determinism, observation parity, exact accounting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from gymnasium.utils.env_checker import check_env

from kalshi_actor.observation import OBS_SIZE
from kalshi_actor.sessions.format import read_frames, read_header
from kalshi_actor.sim.generate import generate_session
from kalshi_actor.sim.world import World
from kalshi_actor.trading.actions import ActionConfig
from kalshi_actor.trading.fees import FeeSchedule
from kalshi_actor.trading.types import Action
from kalshi_actor.training.env import (
    EnvConfig,
    KalshiMarketEnv,
    Session,
    direct_observations,
    env_observations,
    load_session,
)
from kalshi_actor.units import ONE_DOLLAR


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``plain``: 4 markets, 5 simulated minutes. ``settling``: markets close and settle, new ones are listed.
    ``gapped``: ``plain`` with one orderbook_delta removed (a sequence gap in the middle)."""
    tmp = tmp_path_factory.mktemp("sessions")
    plain = tmp / "plain.session"
    generate_session(plain, n_markets=4, seed=5, duration_s=300)
    settling = tmp / "settling.session"
    world = World(seed=3, n_markets=2, clock="virtual", lifetime_ms=(60_000, 200_000), settle_delay_ms=5_000)
    generate_session(settling, n_markets=2, seed=3, duration_s=400, world=world)
    lines = plain.read_bytes().splitlines(keepends=True)
    deltas = [i for i, line in enumerate(lines) if b'"orderbook_delta"' in line]
    cut = deltas[len(deltas) // 2]
    gapped = tmp / "gapped.session"
    gapped.write_bytes(b"".join(lines[:cut] + lines[cut + 1:]))
    return {"plain": plain, "settling": settling, "gapped": gapped}


def test_check_env(sessions: dict[str, Path]) -> None:
    env = KalshiMarketEnv([sessions["plain"], sessions["settling"]])
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=1)
    assert obs.shape == (OBS_SIZE,) and obs.dtype == np.float32
    assert env.action_space.n == 5


def _trajectory(env: KalshiMarketEnv, seed: int, steps: int) -> list:
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    out = [(obs.tobytes(), info)]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(5)))
        out.append((obs.tobytes(), reward, terminated, truncated, info))
        if terminated or truncated:
            obs, info = env.reset()
            out.append((obs.tobytes(), info))
    return out


def test_same_seed_same_trajectory(sessions: dict[str, Path]) -> None:
    paths = [sessions["plain"], sessions["settling"]]
    a = _trajectory(KalshiMarketEnv(paths), 7, 3000)
    b = _trajectory(KalshiMarketEnv(paths), 7, 3000)
    assert a == b
    c = _trajectory(KalshiMarketEnv(paths), 8, 3000)
    assert a != c


@pytest.mark.parametrize("tick", [0.0, 1.0, 5.0])
@pytest.mark.parametrize("name", ["plain", "settling", "gapped"])
def test_parity_env_vs_one_marketdata(sessions: dict[str, Path], name: str, tick: float) -> None:
    """Each market alone in the env sees bit for bit what one MarketData fed the whole session sees."""
    config = EnvConfig(tick_interval_s=tick)
    keys_env, obs_env = env_observations(sessions[name], config)
    keys_direct, obs_direct = direct_observations(sessions[name], config)
    assert len(keys_env) > 50
    assert keys_env == keys_direct
    assert obs_env.view(np.uint32).tobytes() == obs_direct.view(np.uint32).tobytes()


def test_gap_makes_books_stale_and_untraded(sessions: dict[str, Path]) -> None:
    config = EnvConfig(tick_interval_s=0.0)
    keys_plain, _ = env_observations(sessions["plain"], config)
    keys_gap, _ = env_observations(sessions["gapped"], config)
    # every market of the session's book sid goes stale at the gap and stays stale (no resnapshot recorded)
    gap_ms = _gap_time(sessions["gapped"])
    assert all(now <= gap_ms for _, now in keys_gap)
    assert len(keys_gap) < len(keys_plain)
    session = Session(sessions["gapped"], 0)
    assert all(any(op[0] == 2 for op in s.ops) for t, s in session.streams.items() if s.book_frames)


@pytest.mark.parametrize("tick", [0.0, 1.0])
def test_malformed_frames_in_a_session_are_skipped_as_live(sessions: dict[str, Path], tmp_path: Path,
                                                            tick: float) -> None:
    """Sessions are decoded once when indexed; malformed frames are counted and skipped there, as live."""
    lines = sessions["plain"].read_bytes().splitlines(keepends=True)
    deltas = [i for i, line in enumerate(lines) if b'"orderbook_delta"' in line]
    bad_price = deltas[len(deltas) // 3]  # decodes, keeps its seq; its price does not convert
    lines[bad_price] = lines[bad_price].replace(b'"price_dollars":"', b'"price_dollars":"x')
    lines.insert(deltas[len(deltas) // 4], b"1\tnot json\n")
    path = tmp_path / "malformed.session"
    path.write_bytes(b"".join(lines))
    config = EnvConfig(tick_interval_s=tick)
    keys_env, obs_env = env_observations(path, config)
    keys_direct, obs_direct = direct_observations(path, config)
    assert keys_env == keys_direct and len(keys_env) > 50
    assert obs_env.view(np.uint32).tobytes() == obs_direct.view(np.uint32).tobytes()
    assert Session(path, config.tick_interval_ms).frames == len(lines) - 1  # the header is not a frame


def _gap_time(path: Path) -> int:
    last_seq: dict[int, int] = {}
    import orjson

    clock = 0
    for _, raw in read_frames(path):
        frame = orjson.loads(raw)
        ts = (frame.get("msg") or {}).get("ts_ms") if isinstance(frame.get("msg"), dict) else None
        sid, seq = frame.get("sid"), frame.get("seq")
        if sid is not None and seq is not None:
            if sid in last_seq and seq != last_seq[sid] + 1:
                return clock
            last_seq[sid] = seq
        if ts:
            clock = max(clock, ts)
    raise AssertionError("no gap")


@pytest.mark.parametrize("pricing", ["join", "improve", "cross"])
def test_random_actions_never_create_cash(sessions: dict[str, Path], pricing: str) -> None:
    """Over random episodes: every fill is booked exactly, selling from flat costs money, and the
    episode's net P&L equals what the fills are worth at settlement minus fees."""
    config = EnvConfig(tick_interval_s=0.5, action=ActionConfig(size=300, pricing=pricing), mark="bid")
    env = KalshiMarketEnv([sessions["settling"]], config)
    rng = np.random.default_rng(11)
    settled_episodes = 0
    flat_sells = 0
    for episode in range(6):
        obs, info = env.reset(seed=episode)
        cash, position, fees = config.initial_cash, 0, 0
        value = {"yes": 0, "no": 0}  # sum over fills of (payout if that result - price), per contract
        done = False
        total_reward = 0.0
        while not done:
            before_position, before_cash = env._pos, env.portfolio.cash
            action = int(rng.integers(5))
            obs, reward, terminated, truncated, info = env.step(action)
            total_reward += reward
            done = terminated or truncated
            for fill in env.step_fills:
                if position == 0 or (position > 0) == (fill.side == "yes"):
                    cash -= fill.price * fill.count + fill.fee  # opening: it always costs
                else:
                    closed = min(fill.count, abs(position))
                    cash += ONE_DOLLAR * closed - fill.price * fill.count - fill.fee
                position += fill.count if fill.side == "yes" else -fill.count
                fees += fill.fee
                for result in value:
                    value[result] += fill.count * ((ONE_DOLLAR if fill.side == result else 0) - fill.price)
            if before_position == 0 and action == 2 and env.step_fills:  # SELL_YES from flat
                flat_sells += 1
                assert env.portfolio.cash < before_cash
                assert env.step_fills[0].side == "no"
            if not done:
                assert (env.portfolio.cash, env._pos, env.portfolio.fees_paid) == (cash, position, fees)
            assert all(f.count > 0 and 0 < f.price < ONE_DOLLAR for f in env.step_fills)
        # the rewards plus the inventory penalty charged are the episode's net P&L (settled or liquidated)
        assert info["penalty"] > 0 or info["fills"] == 0
        assert np.isclose(total_reward + info["penalty"], info["net_pnl"] / 1e6 * config.reward_scale)
        if info["settled"] is not None:
            settled_episodes += 1
            assert info["net_pnl"] == value[info["settled"]] - fees
            assert info["position"] == 0
        else:  # marked at the bid: never more than what settlement would pay at best
            assert info["net_pnl"] <= max(value.values()) - fees
    assert settled_episodes > 0
    assert flat_sells > 0 or pricing != "cross"


def test_inventory_penalty_costs_reward(sessions: dict[str, Path]) -> None:
    base = EnvConfig(tick_interval_s=1.0, action=ActionConfig(pricing="cross"))
    penalised = EnvConfig(tick_interval_s=1.0, action=ActionConfig(pricing="cross"), inventory_penalty=10.0)
    totals = []
    for config in (base, penalised):
        env = KalshiMarketEnv([sessions["plain"]], config)
        env.reset(seed=3)
        total = 0.0
        for _ in range(200):
            _, reward, terminated, truncated, _ = env.step(1)
            total += reward
            if terminated or truncated:
                break
        totals.append(total)
    assert totals[1] < totals[0]


def test_episode_ends_at_market_close(sessions: dict[str, Path]) -> None:
    session = load_session(sessions["settling"], 1000)
    resolved = [t for t in session.tickers if session.streams[t].result is not None]
    assert resolved
    env = KalshiMarketEnv([session])
    env.reset(options={"session": 0, "ticker": resolved[0]})
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(0)
        done = terminated or truncated
    assert terminated and info["settled"] == session.streams[resolved[0]].result
    close = session.infos[resolved[0]].close_time_ms
    assert close is None or info["now_ms"] <= close + 1000


def test_config_round_trip_and_validation() -> None:
    config = EnvConfig(tick_interval_s=0.25, action=ActionConfig(size=200, pricing="improve"), inventory_penalty=0.5)
    assert EnvConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError):
        EnvConfig(tick_interval_s=-1)
    with pytest.raises(ValueError):
        EnvConfig(mark="last")


def test_header_has_market_info(sessions: dict[str, Path]) -> None:
    assert read_header(sessions["plain"])["market_info"]


@pytest.fixture(scope="module")
def maker_fee_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """World seed 4: three markets of KXNEXTTEAMNBA (maker fees) and one of KXBTC (plain quadratic)."""
    path = tmp_path_factory.mktemp("fees") / "fees.session"
    generate_session(path, n_markets=4, seed=4, duration_s=300)
    return path


def test_each_market_is_charged_its_own_fee_schedule(maker_fee_session: Path) -> None:
    world = World(seed=4, n_markets=4, clock="virtual")
    expected = {t: FeeSchedule.of(m.fee_type, m.fee_multiplier) for t, m in world.engine.markets.items()}
    header = read_header(maker_fee_session)["market_info"]
    assert {t: (f["fee_type"], f["fee_multiplier"]) for t, f in header.items()} == \
        {t: (s.fee_type, s.fee_multiplier) for t, s in expected.items()}
    assert {s.charges_makers for s in expected.values()} == {True, False}

    env = KalshiMarketEnv([maker_fee_session], EnvConfig(action=ActionConfig(pricing="join")))
    maker_fees = 0
    for ticker in env.sessions[0].tickers:
        env.reset(options={"session": 0, "ticker": ticker})
        assert env.fees == expected[ticker]
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(Action.BUY_YES_LIMIT)  # a resting bid at the touch
            done = terminated or truncated
            for fill in env.step_fills:
                assert fill.fee == env.fees.fill_fee(fill.price, fill.count, fill.is_taker)
                if not fill.is_taker and env.fees.charges_makers:
                    assert fill.fee > 0
                    maker_fees += fill.fee
    assert maker_fees > 0


def test_a_header_without_fee_schedules_falls_back_to_the_config(maker_fee_session: Path, tmp_path: Path) -> None:
    """Sessions recorded before headers carried ``fee_type``: every market is charged ``EnvConfig``'s schedule."""
    header, _, rest = maker_fee_session.read_bytes().partition(b"\n")
    meta = read_header(maker_fee_session)
    for fields in meta["market_info"].values():
        del fields["fee_type"], fields["fee_multiplier"]
    old = tmp_path / "old.session"
    old.write_bytes(header.split(b" {", 1)[0] + b" " + orjson.dumps(meta) + b"\n" + rest)
    assert all(info.fees is None for info in load_session(old).infos.values())
    ticker = load_session(old).tickers[0]
    for config, schedule in [(EnvConfig(), FeeSchedule.of()),
                             (EnvConfig(fee_type="quadratic_with_maker_fees", fee_multiplier=0.5),
                              FeeSchedule.of("quadratic_with_maker_fees", 0.5))]:
        env = KalshiMarketEnv([old], config)
        env.reset(options={"session": 0, "ticker": ticker})
        assert env.fees == schedule


def test_the_position_limit_of_live_risk_holds_in_training(sessions: dict[str, Path]) -> None:
    """Always crossing to buy YES, 1 contract a decision: without a limit the position grows; with the live
    risk layer's limit it stops there, and no order ever asks for more (clipped or dropped)."""
    cross = ActionConfig(pricing="cross")
    peaks = []
    for limit in (None, 300):
        env = KalshiMarketEnv([sessions["plain"]], EnvConfig(tick_interval_s=1.0, action=cross, max_position=limit))
        env.reset(options={"session": 0, "ticker": env.episodes[0][1]})
        peak, done = 0, False
        while not done:
            _, _, terminated, truncated, info = env.step(int(Action.BUY_YES_LIMIT))
            peak = max(peak, info["position"])
            done = terminated or truncated
        peaks.append(peak)
    assert peaks[0] > 300 and peaks[1] == 300


def test_the_data_ending_truncates_a_market_closing_terminates(sessions: dict[str, Path]) -> None:
    session = load_session(sessions["plain"], 1000)  # 5 minutes: no market closes
    env = KalshiMarketEnv([session])
    env.reset(options={"session": 0, "ticker": session.tickers[0]})
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(0)
        done = terminated or truncated
    assert truncated and not terminated and info["settled"] is None


def test_an_unresolved_position_is_liquidated_at_the_touch_with_the_taker_fee(sessions: dict[str, Path]) -> None:
    """``liquidate``: the last reward sells what is held at the held side's bid and pays the taker fee, so it
    can never end above the bid mark of the same position."""
    finals = {}
    for liquidate in (False, True):
        config = EnvConfig(tick_interval_s=1.0, action=ActionConfig(pricing="cross"), mark="bid", liquidate=liquidate)
        env = KalshiMarketEnv([sessions["plain"]], config)
        env.reset(options={"session": 0, "ticker": env.episodes[0][1]})
        done, steps = False, 0
        while not done:
            _, _, terminated, truncated, info = env.step(int(Action.BUY_YES_LIMIT) if steps < 5 else 0)
            steps += 1
            done = terminated or truncated
        assert info["position"] > 0
        book = env.md.books.books[env.ticker]
        fee = env.fees.taker_fee(book.best_yes_bid_price, info["position"])
        finals[liquidate] = info["equity"]
    assert fee > 0 and finals[True] == finals[False] - fee


# --- the conservative reward, the risk layer's limit, masks, stored configs ---


def _maker_fill(env: KalshiMarketEnv, side: str, count: int = 100):
    """A passive fill of ours at the current best bid of ``side`` (the book unchanged), booked as the fill model
    would book it."""
    from kalshi_actor.trading.types import FillEvent

    book = env.book
    price = book.best_yes_bid_price if side == "yes" else book.best_no_bid_price
    fee = env.fees.fill_fee(price, count, False)
    env._book_fills([FillEvent(env.ticker, "o-1", side, price, count, fee, False, env.md.now_ms)])
    return fee


@pytest.mark.parametrize("side", ["yes", "no"])
def test_a_passive_fill_at_the_bid_books_no_profit(sessions: dict[str, Path], side: str) -> None:
    """The issue: with the mid mark a filled bid earned half a spread at once. At the (default) bid mark, a
    bid filled at the best bid of an unchanged book is worth what it cost: the reward is minus its fee."""
    rewards = {}
    for mark in ("bid", "mid"):
        env = KalshiMarketEnv([sessions["plain"]], EnvConfig(mark=mark))
        env.reset(options={"session": 0, "ticker": env.episodes[0][1]})
        book = env.book
        while book.best_yes_bid_price is None or book.best_no_bid_price is None or \
                book.best_yes_bid_price + book.best_no_bid_price > ONE_DOLLAR - 200:  # a spread of 2+ ticks
            env.step(0)
            book = env.book
        before = env._mark()
        fee = _maker_fill(env, side)
        rewards[mark] = (env._mark() - before) * env.config.reward_scale / 1e6
        if mark == "bid":
            assert rewards[mark] == pytest.approx(-fee * env.config.reward_scale / 1e6)
    assert EnvConfig().mark == "bid"
    assert rewards["bid"] <= 0
    assert rewards["mid"] > 0  # the old free profit


def test_new_defaults_and_an_old_stored_config_keeps_its_meaning() -> None:
    config = EnvConfig()
    assert (config.mark, config.max_position, config.liquidate) == ("bid", 10_000, True)
    assert config.inventory_penalty > 0
    assert EnvConfig.from_dict(config.to_dict()) == config
    old = {k: v for k, v in EnvConfig(mark="mid", inventory_penalty=0.0).to_dict().items()
           if k not in ("max_position", "liquidate")}  # what models stored before these fields existed
    loaded = EnvConfig.from_dict(old)
    assert (loaded.mark, loaded.inventory_penalty, loaded.max_position, loaded.liquidate) == ("mid", 0.0, None, False)


def test_the_live_risk_layer_default_limit_is_the_envs() -> None:
    from kalshi_actor.actor.config import RiskLimits as Settings
    from kalshi_actor.actor.risk import RiskLimits

    assert RiskLimits().max_position == EnvConfig().max_position
    assert RiskLimits.of(Settings()).max_position == EnvConfig().max_position


def _risk_allowed(intents, position: int, working, limit: int):
    """What the live risk layer lets through, with only its position limit on."""
    from kalshi_actor.actor.risk import RiskLimits, RiskManager
    from kalshi_actor.trading.portfolio import Portfolio

    portfolio = Portfolio(10_000 * 1_000_000)
    portfolio.reset_position("M", position, abs(position) * 500_000 // 100, 0, 0)
    risk = RiskManager(RiskLimits(max_position=limit, max_exposure=None, max_orders_per_minute=None),
                       clock=lambda: 0.0)
    return risk.check(intents, portfolio, working).allowed


@pytest.mark.parametrize("position", [0, 250, -250, 300, 800, -700])  # states the env can reach
def test_the_env_enforces_the_position_limit_exactly_as_live_risk(position: int) -> None:
    from kalshi_actor.trading.types import AmendOrder, CancelOrder, PlaceOrder, WorkingOrder
    from kalshi_actor.training.env import within_position_limit

    working = [WorkingOrder("y1", "c1", "M", "yes", 4_000, 200, 0, filled=100),
               WorkingOrder("n1", "c2", "M", "no", 5_000, 300, 0)]
    batches = [
        [PlaceOrder("M", "yes", 4_500, 500)],
        [PlaceOrder("M", "no", 5_000, 700)],
        [AmendOrder("M", "y1", "yes", 4_100, 100 + 600)],
        [CancelOrder("M", "n1"), PlaceOrder("M", "no", 5_100, 1_000)],
        [CancelOrder("M", "y1"), PlaceOrder("M", "yes", 4_000, 150, False, "immediate_or_cancel")],
    ]
    for intents in batches:
        assert within_position_limit(intents, position, working, 1_000) == _risk_allowed(intents, position, working,
                                                                                         1_000), intents


def test_action_masks_follow_the_action_space(sessions: dict[str, Path]) -> None:
    from kalshi_actor.training.env import n_actions

    env = KalshiMarketEnv([sessions["plain"]])
    env.reset(seed=0)
    mask = env.action_masks()
    assert mask.dtype == bool and mask.shape == (n_actions(env.config.action),) == (env.action_space.n,)
    assert mask[int(Action.HOLD)]
