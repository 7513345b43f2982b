"""The observation: schema and hash, the builder's values, ranges and fills, information, determinism, parity."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import subprocess
import sys
import time
from math import log1p
from pathlib import Path

import numpy as np
import pytest

from kalshi_actor.books import Book
from kalshi_actor.kalshi.grid import TickGrid
from kalshi_actor.marketdata import MarketData, MarketHistory, MarketInfo
from kalshi_actor.observation import (
    FEATURE_NAMES,
    FEATURES,
    OBS_SIZE,
    SCHEMA_HASH,
    MarketInput,
    ObservationBuilder,
    describe,
    schema_hash,
)
from kalshi_actor.sessions.format import read_frames, replay
from kalshi_actor.sim.generate import generate_session
from kalshi_actor.sim.world import World
from kalshi_actor.trading.types import Position, WorkingOrder
from kalshi_actor.units import ONE_DOLLAR

# Changing the schema changes every model's contract: update this on purpose, never by accident.
PINNED_HASH = "e4ec744dd542af47030fe7f989bff3a02fb1ab962c706de28ec447cdb8039804"
COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}
LOW = np.array([f.low for f in FEATURES], dtype=np.float32)
HIGH = np.array([f.high for f in FEATURES], dtype=np.float32)


def normalised(name: str, raw: float) -> float:
    """The schema's normalisation of a raw value, restated from the docs (the test's own reading)."""
    f = FEATURES[COLUMN[name]]
    if f.norm == "identity":
        return raw
    if f.norm == "linear":
        return min(max(raw / f.scale, f.low), f.high)
    if f.norm == "log1p":
        return min(log1p(max(raw, 0.0)) / log1p(f.scale), 1.0)
    sign = 1.0 if raw >= 0 else -1.0
    return sign * min(log1p(abs(raw)) / log1p(f.scale), 1.0)


def approx(name: str, raw: float):
    return pytest.approx(normalised(name, raw), abs=2e-7, rel=1e-6)


# --- schema ---


def test_schema_size_names_and_ranges():
    assert 48 <= OBS_SIZE <= 56 and len(set(FEATURE_NAMES)) == OBS_SIZE
    for f in FEATURES:
        assert f.low < f.high and f.unit and f.formula and f.fill, f.name
        assert f.norm in ("identity", "linear", "log1p", "slog"), f.name
        assert f.scale > 0, f.name
    assert "| `microprice` |" in describe()


def test_schema_hash_is_stable_across_processes_and_pinned():
    code = "from kalshi_actor.observation import SCHEMA_HASH; print(SCHEMA_HASH)"
    for seed in ("0", "12345"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={"PYTHONHASHSEED": seed, "PATH": ""})
        assert out.stdout.strip() == SCHEMA_HASH
    assert SCHEMA_HASH == schema_hash() == PINNED_HASH, "the observation schema changed: models trained before break"


def test_schema_hash_changes_with_any_part_of_a_feature():
    base = schema_hash(FEATURES)
    f = FEATURES[5]
    for change in ({"name": "other"}, {"formula": f.formula + "!"}, {"unit": "pips"}, {"scale": f.scale * 2},
                   {"low": -1.0}, {"fill": "x"}, {"norm": "slog"}):
        assert schema_hash(FEATURES[:5] + (dataclasses.replace(f, **change),) + FEATURES[6:]) != base, change
    swapped = (FEATURES[1], FEATURES[0]) + FEATURES[2:]
    assert schema_hash(swapped) != base
    assert schema_hash(FEATURES[:-1]) != base
    assert schema_hash(FEATURES, version=2) != base


# --- values on a hand-made market ---

TAPERED = MarketInfo("KXT", TickGrid.from_structure("tapered_deci_cent"), close_time_ms=10_000_000)
NOW = 1_000_000


def market(yes: dict[int, int], no: dict[int, int], info: MarketInfo = TAPERED, **kw) -> MarketInput:
    book = Book(info.ticker)
    book.apply_snapshot(yes.items(), no.items())
    history = kw.pop("history", None) or MarketHistory()
    return MarketInput(book, history, info, kw.pop("now_ms", NOW), **kw)


def build(*markets: MarketInput, own_orders_in_book: bool = False) -> np.ndarray:
    return ObservationBuilder(own_orders_in_book=own_orders_in_book).build(list(markets)).copy()


def test_book_features_on_a_tapered_grid():
    # YES bids 0.12 x 30, 0.11 x 10, 0.09 x 5 (below 0.10 the grid steps by 0.001);
    # NO bids 0.85 x 20 (a YES ask at 0.15), 0.80 x 40 (an ask at 0.20)
    m = market({1200: 3000, 1100: 1000, 900: 500}, {8500: 2000, 8000: 4000})
    obs = build(m)[0]
    v = dict(zip(FEATURE_NAMES, obs.tolist()))
    assert v["yes_bid"] == pytest.approx(0.12) and v["yes_ask"] == pytest.approx(0.15)
    assert v["two_sided"] == 1.0
    assert v["microprice"] == pytest.approx((1200 * 20 + 1500 * 30) / 50 / ONE_DOLLAR)
    assert v["spread_ticks"] == approx("spread_ticks", 3)  # 0.12 -> 0.15 in cent steps
    assert v["tick_size"] == approx("tick_size", 1.0)  # cents
    assert v["bid_size_l1"] == approx("bid_size_l1", 30) and v["ask_size_l1"] == approx("ask_size_l1", 20)
    assert v["imbalance_1"] == pytest.approx((30 - 20) / 50)
    assert v["imbalance_3"] == pytest.approx((40 - 20) / 60)  # 3 ticks: 0.12, 0.11, 0.10 | NO 0.85, 0.84, 0.83
    # 10 YES ticks down from 0.12: 0.12 ... 0.10 then 0.099 ... 0.093: the 0.09 level is outside
    assert v["bid_depth_10"] == approx("bid_depth_10", 40)
    assert v["ask_depth_10"] == approx("ask_depth_10", 60)  # NO 0.85 ... 0.76: the 0.80 level is inside
    assert v["imbalance_10"] == pytest.approx((40 - 60) / 100)
    assert v["time_to_close"] == approx("time_to_close", 9_000)


def test_tick_size_follows_the_grid_near_the_edges():
    low = market({500: 100}, {9400: 100})  # bid 0.05, ask 0.06: the 0.001 band
    assert build(low)[0][COLUMN["tick_size"]] == pytest.approx(0.1)
    assert build(low)[0][COLUMN["spread_ticks"]] == approx("spread_ticks", 10)


def test_fills_of_an_empty_market():
    info = MarketInfo("KXE", TickGrid.from_structure("linear_cent"))  # close time unknown
    v = dict(zip(FEATURE_NAMES, build(market({}, {}, info))[0].tolist()))
    expected = {"yes_bid": 0.0, "yes_ask": 1.0, "two_sided": 0.0, "microprice": 0.5, "spread_ticks": 1.0,
                "tick_size": 1.0, "since_update": 1.0, "since_trade": 1.0, "time_to_close": 1.0}
    for name, value in v.items():
        assert value == pytest.approx(expected.get(name, 0.0)), name


def test_one_sided_book_uses_the_history_mid():
    history = MarketHistory()
    history.on_book(NOW - 5_000, 4000 + 6000)  # a mid of 0.50 five seconds ago
    v = dict(zip(FEATURE_NAMES, build(market({4500: 100}, {}, history=history))[0].tolist()))
    assert v["two_sided"] == 0.0 and v["yes_ask"] == 1.0 and v["spread_ticks"] == 1.0
    assert v["microprice"] == pytest.approx(0.5)
    assert v["since_update"] == approx("since_update", 5.0)


def test_portfolio_features():
    # long 10 YES at an average 0.40 (cost 4.00 $); mid 0.55
    position = Position("KXT", count=1000, cost_basis=4_000_000, realized_pnl=2_000_000, fees_paid=500_000)
    m = market({5000: 100}, {4000: 100}, position=position, cash=96_000_000, equity=101_500_000)
    v = dict(zip(FEATURE_NAMES, build(m)[0].tolist()))
    assert v["position"] == approx("position", 10)
    assert v["entry_edge"] == approx("entry_edge", 15.0)  # cents per contract
    assert v["unrealized_pnl"] == approx("unrealized_pnl", 1.5)  # dollars
    assert v["realized_pnl"] == approx("realized_pnl", 1.5)
    assert v["cash_ratio"] == pytest.approx(96 / 101.5)
    assert v["exposure_ratio"] == pytest.approx(5.5 / 101.5)
    # short: 10 NO at an average 0.30; the NO mid is 0.45
    short = dataclasses.replace(position, count=-1000, cost_basis=3_000_000)
    v = dict(zip(FEATURE_NAMES, build(dataclasses.replace(m, position=short))[0].tolist()))
    assert v["position"] == approx("position", -10) and v["entry_edge"] == approx("entry_edge", 15.0)
    assert v["exposure_ratio"] == pytest.approx(4.5 / 101.5)


def test_order_features():
    orders = [
        WorkingOrder("a", "ca", "KXT", "yes", 4800, 700, NOW - 30_000, filled=300, queue_ahead=5_000),
        WorkingOrder("b", "cb", "KXT", "no", 4200, 200, NOW - 2_000, queue_ahead=0),
    ]
    # others bid YES 0.50 and NO 0.40: our YES bid is 2 ticks behind, our NO bid improves by 2
    m = market({5000: 100}, {4000: 100}, orders=orders)
    v = dict(zip(FEATURE_NAMES, build(m)[0].tolist()))
    assert v["yes_order_distance"] == approx("yes_order_distance", 2)
    assert v["yes_order_size"] == approx("yes_order_size", 7)
    assert v["yes_order_age"] == approx("yes_order_age", 30)
    assert v["yes_order_queue"] == approx("yes_order_queue", 50)
    assert v["yes_order_filled"] == pytest.approx(0.3)
    assert v["no_order_distance"] == approx("no_order_distance", -2)
    assert v["no_order_size"] == approx("no_order_size", 2) and v["no_order_filled"] == 0.0
    alone = market({}, {4000: 100}, orders=orders[:1])  # no one else bids YES
    assert build(alone)[0][COLUMN["yes_order_distance"]] == -1.0


@pytest.mark.parametrize("case", ["behind", "joining", "alone_at_top", "both_sides"])
def test_own_orders_in_the_book_are_taken_out(case):
    """Live books contain our orders, session books do not: both must give the same observation."""
    others_yes, others_no = {5000: 300, 4900: 200}, {4000: 100, 3900: 500}
    orders = {
        "behind": [WorkingOrder("a", "c", "KXT", "yes", 4900, 150, NOW - 1_000, queue_ahead=200)],
        "joining": [WorkingOrder("a", "c", "KXT", "yes", 5000, 150, NOW - 1_000, queue_ahead=300)],
        "alone_at_top": [WorkingOrder("a", "c", "KXT", "yes", 5100, 150, NOW - 1_000)],
        "both_sides": [WorkingOrder("a", "c", "KXT", "yes", 5100, 150, NOW - 1_000),
                       WorkingOrder("b", "d", "KXT", "no", 4000, 40, NOW - 9_000, queue_ahead=100)],
    }[case]
    with_us_yes, with_us_no = dict(others_yes), dict(others_no)
    for o in orders:
        levels = with_us_yes if o.side == "yes" else with_us_no
        levels[o.price] = levels.get(o.price, 0) + o.remaining
    position = Position("KXT", count=-500, cost_basis=2_500_000)
    session = build(market(others_yes, others_no, orders=orders, position=position, cash=10**8, equity=2 * 10**8),
                    own_orders_in_book=False)
    live = build(market(with_us_yes, with_us_no, orders=orders, position=position, cash=10**8, equity=2 * 10**8),
                 own_orders_in_book=True)
    assert session.tobytes() == live.tobytes()
    naive = build(market(with_us_yes, with_us_no, orders=orders, position=position, cash=10**8, equity=2 * 10**8),
                  own_orders_in_book=False)
    assert naive.tobytes() != session.tobytes()  # the flag matters


def test_batches_equal_single_builds_and_grow_past_capacity():
    markets = [market({4000 + 100 * i: 100 + i}, {5000 - 100 * i: 200}, orders=[
        WorkingOrder("a", "c", "KXT", "yes", 3900 + 100 * i, 100, NOW - 1_000 * i)]) for i in range(5)]
    builder = ObservationBuilder(own_orders_in_book=False, capacity=2)
    batch = builder.build(markets * 3).copy()  # 15 > capacity 2: the buffer grows
    assert batch.shape == (15, OBS_SIZE) and batch.dtype == np.float32
    for i, m in enumerate(markets * 3):
        assert builder.build([m]).tobytes() == batch[i].tobytes()
    out = np.zeros((5, OBS_SIZE), dtype=np.float32)
    assert builder.build(markets, out=out) is out and out.tobytes() == batch[:5].tobytes()


# --- a simulator session: information, ranges, determinism, the exchange clock ---

SESSION_SECONDS = 120


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> tuple[Path, list[MarketInfo]]:
    world = World(seed=3, n_markets=8, clock="virtual")  # tapered and linear grids, prices near 0 and 1
    path = tmp_path_factory.mktemp("obs") / "sim.session"
    generate_session(path, n_markets=8, seed=3, duration_s=SESSION_SECONDS, world=world)
    infos = [MarketInfo.from_ranges(t, m.price_ranges, m.close_time_ms) for t, m in world.engine.markets.items()]
    return path, infos


def _synthetic_inputs(md: MarketData, rng: random.Random) -> list[MarketInput]:
    """Every fresh market, with a varying position, account and resting orders (a stand-in for the portfolio)."""
    now = md.now_ms
    inputs = []
    for book in md.books:
        if book.stale or book.ticker not in md.markets:
            continue
        info = md.markets[book.ticker]
        orders = []
        for side, best in (("yes", book.best_yes_bid_price), ("no", book.best_no_bid_price)):
            if best is None or rng.random() < 0.3:
                continue
            grid = info.yes_prices if side == "yes" else info.no_prices
            i = min(max(grid.index(best) + rng.randint(-2, 6), 0), len(grid) - 1)
            remaining = rng.randint(1, 50) * 100
            orders.append(WorkingOrder(f"o-{side}", f"c-{side}", book.ticker, side, grid[i],
                                       remaining, now - rng.randint(0, 600_000), filled=rng.randint(0, 3) * 100,
                                       queue_ahead=rng.randint(0, 10**7)))
        count = rng.choice([0, rng.randint(-9_000, 9_000)])
        position = Position(book.ticker, count, abs(count) * rng.randint(100, 9_900), rng.randint(-10**7, 10**7),
                            rng.randint(0, 10**6))
        equity = rng.randint(10**8, 10**9)
        inputs.append(MarketInput(book, md.history(book.ticker), info, now, position, orders,
                                  rng.randint(0, equity), equity))
    return inputs


def _observe(frames, infos: list[MarketInfo], *, seed: int = 1) -> np.ndarray:
    """Feed every frame; after each one that changed a book, observe all fresh markets in one batch."""
    md = MarketData(infos)
    builder = ObservationBuilder(own_orders_in_book=False)
    rng = random.Random(seed)
    rows = []
    for raw in frames:
        md.feed(raw)
        if md.changed:
            inputs = _synthetic_inputs(md, rng)
            if inputs:
                rows.append(builder.build(inputs).copy())
    return np.concatenate(rows)


@pytest.fixture(scope="module")
def observations(session) -> np.ndarray:
    path, infos = session
    return _observe((raw for _, raw in read_frames(path)), infos)


def test_every_value_is_finite_and_within_its_declared_range(observations):
    assert observations.dtype == np.float32 and observations.shape[1] == OBS_SIZE
    assert len(observations) > 10_000
    assert np.isfinite(observations).all()
    low_bad = np.nonzero((observations < LOW).any(axis=0))[0]
    high_bad = np.nonzero((observations > HIGH).any(axis=0))[0]
    assert not low_bad.size and not high_bad.size, [FEATURE_NAMES[i] for i in (*low_bad, *high_bad)]


def test_every_feature_carries_information(observations):
    for i, name in enumerate(FEATURE_NAMES):
        values = np.unique(observations[:, i])
        assert len(values) >= 2, f"{name} is constant ({values})"
        # not a mere flicker either: the most common value leaves at least 0.1 % to the others
        _, counts = np.unique(observations[:, i], return_counts=True)
        assert counts.max() <= 0.999 * len(observations), f"{name} is nearly constant"


def test_no_two_features_are_duplicates(observations):
    x = observations.astype(np.float64)
    for i in range(OBS_SIZE):
        for j in range(i + 1, OBS_SIZE):
            assert not np.array_equal(x[:, i], x[:, j]), (FEATURE_NAMES[i], FEATURE_NAMES[j])
    corr = np.corrcoef(x, rowvar=False)
    i, j = np.triu_indices(OBS_SIZE, 1)
    worst = np.argmax(np.abs(corr[i, j]))
    assert abs(corr[i[worst], j[worst]]) < 0.995, (FEATURE_NAMES[i[worst]], FEATURE_NAMES[j[worst]],
                                                   corr[i[worst], j[worst]])


def test_observations_are_deterministic(session):
    path, infos = session
    frames = [raw for _, raw in read_frames(path)][:10_000]
    assert _observe(frames, infos).tobytes() == _observe(frames, infos).tobytes()


def test_history_windows_follow_the_exchange_clock_not_wall_time(session):
    """The same frames fed at different wall speeds give identical observations."""
    path, infos = session
    frames = [raw for _, raw in read_frames(path)][:4_000]
    fast = _observe(frames, infos)

    def slowly():
        for k, raw in enumerate(frames):
            if k % 500 == 0:
                time.sleep(0.02)  # wall time passes between frames
            yield raw

    assert _observe(slowly(), infos).tobytes() == fast.tobytes()

    async def paced() -> list[bytes]:  # the session replayed in (scaled) real time, as a live feed would arrive
        got = []
        async for _, raw in replay(path, speed=SESSION_SECONDS / 0.5):
            got.append(raw)
            if len(got) == len(frames):
                break
        return got

    assert _observe(asyncio.run(paced()), infos).tobytes() == fast.tobytes()


def test_a_stale_book_is_visible_and_observed_without_trading(session):
    path, infos = session
    frames = [raw for _, raw in read_frames(path)][:3_000]
    md = MarketData(infos)
    for raw in frames[:2_000]:
        md.feed(raw)
    seqs = [i for i, raw in enumerate(frames) if b'"orderbook_delta"' in raw and i > 2_000]
    for raw in frames[2_000:seqs[0]]:
        md.feed(raw)
    md.feed(frames[seqs[1]])  # skip one book delta: a sequence gap
    stale = [t for t in md.changed if md.books[t].stale]
    assert stale and md.books.fresh() == []  # one sid carries every book: all of them are stale
    # the builder still returns a well-formed row for a stale book (the caller must not trade it)
    m = MarketInput(md.books[stale[0]], md.history(stale[0]), md.markets[stale[0]], md.now_ms)
    assert np.isfinite(ObservationBuilder(own_orders_in_book=False).build([m])).all()
