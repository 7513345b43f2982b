"""The C core of the observation (kalshi_actor/_features.c) against its plain-Python statement, and its bad input.

The C code computes MarketHistory.summary and the observation rows; tests/feature_reference.py
states the same arithmetic in Python. Training and live must see the same bits, so the
comparison is exact, over a simulator session with random positions and resting orders
(both with our orders inside the books, as live, and outside, as in training), and over
random histories long enough to wrap their rings.
"""

from __future__ import annotations

import random
from array import array

import numpy as np
import pytest

import feature_reference as reference
from kalshi_actor import _features
from kalshi_actor.books import Book
from kalshi_actor.kalshi.grid import TickGrid
from kalshi_actor.marketdata import MarketData, MarketHistory, MarketInfo
from kalshi_actor.marketdata.history import EVENT_CAPACITY, TRADE_CAPACITY
from kalshi_actor.observation import OBS_SIZE, MarketInput, ObservationBuilder
from kalshi_actor.sessions.format import read_frames, read_header
from kalshi_actor.sim.generate import generate_session
from kalshi_actor.trading.types import Position, WorkingOrder

NOW = 1_700_000_000_000


def _inputs(md: MarketData, rng: random.Random, *, own_in_book: bool) -> list[MarketInput]:
    """Every market with a book, with a random position, account and orders (often at the touch, or all of it)."""
    inputs = []
    for book in md.books:
        info = md.markets.get(book.ticker)
        if info is None:
            continue
        if own_in_book:  # a copy of the book with our orders inside, as the exchange shows it live
            live = Book(book.ticker)
            live.apply_snapshot(list(book.yes.items()), list(book.no.items()))
            book = live
        orders = []
        for side, best in (("yes", book.best_yes_bid_price), ("no", book.best_no_bid_price)):
            if rng.random() < 0.3:
                continue
            grid = info.yes_prices if side == "yes" else info.no_prices
            at = grid.index(best) if best in grid else len(grid) // 2
            price = grid[min(max(at + rng.choice([-3, -1, 0, 0, 0, 1, 5]), 0), len(grid) - 1)]
            levels = book.yes if side == "yes" else book.no
            remaining = rng.choice([rng.randint(1, 50) * 100, levels.get(price, 100)])  # sometimes all of the level
            if own_in_book:
                levels[price] = levels.get(price, 0) + remaining
                book.apply_snapshot(list(book.yes.items()), list(book.no.items()))
            orders.append(WorkingOrder(f"o-{side}", f"c-{side}", book.ticker, side, price, remaining,
                                       md.now_ms - rng.randint(-5, 600_000), filled=rng.randint(0, 3) * 100,
                                       queue_ahead=rng.randint(0, 10**7)))
        count = rng.choice([0, rng.randint(-9_000, 9_000)])
        position = rng.choice([None, Position(book.ticker, count, abs(count) * rng.randint(100, 9_900),
                                              rng.randint(-10**7, 10**7), rng.randint(0, 10**6))])
        equity = rng.choice([0, -5, rng.randint(10**8, 10**9)])
        inputs.append(MarketInput(book, md.history(book.ticker), info, md.now_ms + rng.choice([0, 0, 7, 90_000]),
                                  position, orders, rng.randint(0, 10**9), equity))
    return inputs


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    path = tmp_path_factory.mktemp("native") / "sim.session"
    generate_session(path, n_markets=6, seed=11, duration_s=90)
    return path


@pytest.mark.parametrize("own_in_book", [False, True])
def test_rows_are_the_python_statement_bit_for_bit(session, own_in_book):
    md = MarketData(MarketInfo.from_session_header(read_header(session)))
    builder = ObservationBuilder(own_orders_in_book=own_in_book)
    rng = random.Random(7)
    compared = 0
    for i, (_, raw) in enumerate(read_frames(session)):
        md.feed(raw)
        if i % 13:
            continue
        inputs = _inputs(md, rng, own_in_book=own_in_book)
        rows = builder.build(inputs)
        for m, row in zip(inputs, rows):
            assert row.tobytes() == reference.row_bytes(m, own_in_book), (i, m.book.ticker)
            compared += 1
    assert compared > 2_500


def _random_histories(rng: random.Random, changes: int, trades: int) -> tuple[list, int]:
    """The C history and the Python statement, fed the same random events; the last event's time."""
    histories = [MarketHistory(), reference.ReferenceHistory()]
    now = NOW
    events = ["book"] * changes + ["trade"] * trades
    rng.shuffle(events)
    mid2 = 10_000
    for kind in events:
        now += rng.choice([0, 0, 1, 3, 40, 700, 2_500, 61_000])
        if kind == "book":
            mid2 = min(max(mid2 + rng.choice([0, 0, -20, 20, -200, 200]), 2), 19_998)
            args = (now, rng.choice([mid2, mid2, None]))
            for h in histories:
                h.on_book(*args)
        else:
            args = (now, rng.choice(["yes", "no", None]), rng.randint(1, 10**6), rng.randint(1, 9_999))
            for h in histories:
                h.on_trade(*args)
    return histories, now


@pytest.mark.parametrize("changes, trades", [(0, 0), (1, 0), (0, 1), (50, 20), (EVENT_CAPACITY + 700, 30),
                                             (3 * EVENT_CAPACITY, TRADE_CAPACITY + 5)])
def test_the_history_is_the_python_statement(changes, trades):
    rng = random.Random(changes * 31 + trades)
    (history, expected), end = _random_histories(rng, changes, trades)
    for name in ("n_changes", "last_change_ms", "last_mid2", "n_trades", "last_trade_ms", "last_trade_price"):
        assert getattr(history, name) == getattr(expected, name), name
    queries = [end, end - 1, NOW, end + 500, end + 59_999, end + 61_000, end + 10**9, end - 30_000, end]
    queries += [end + rng.randint(-100_000, 100_000) for _ in range(200)]  # cursors move both ways
    for now in queries:
        assert history.summary(now) == expected.summary(now), now


# --- bad input: a clear Python error, never a crash ---


def _market(**changes) -> MarketInput:
    book = Book("KXT")
    book.apply_snapshot([(4000, 100)], [(5000, 200)])
    info = MarketInfo("KXT", TickGrid.from_structure("linear_cent"))
    history = MarketHistory()
    history.on_book(NOW, 9000)
    m = MarketInput(book, history, info, NOW)
    for name, value in changes.items():
        setattr(m, name, value)
    return m


def _build(markets, own_in_book=False):
    return ObservationBuilder(own_orders_in_book=own_in_book).build(markets)


def test_a_good_market_builds():
    assert _build([_market()]).shape == (1, OBS_SIZE)


@pytest.mark.parametrize("change, error", [
    ({"now_ms": "soon"}, TypeError),
    ({"orders": 5}, TypeError),
    ({"orders": [object()]}, AttributeError),
    ({"orders": [WorkingOrder("a", "c", "KXT", "yes", "0.40", 100, NOW)]}, TypeError),
    ({"position": object()}, AttributeError),
    ({"book": None}, AttributeError),
    ({"now_ms": 2**70}, OverflowError),
])
def test_bad_market_inputs_raise(change, error):
    with pytest.raises(error):
        _build([_market(**change)])


def test_bad_books_and_histories_raise():
    m = _market()
    m.book.yes = [(4000, 100)]
    with pytest.raises(TypeError, match="dicts"):
        _build([m])
    m = _market()
    m.book.yes[4000] = -5  # never written by a Book: a corrupt one
    with pytest.raises(ValueError, match="size -5"):
        _build([m])
    m.book.yes[4000] = "5"
    with pytest.raises(TypeError):
        _build([m])
    with pytest.raises(TypeError, match="MarketHistory"):
        _build([_market(history=reference.ReferenceHistory())])
    history = MarketHistory()
    with pytest.raises(TypeError):
        history.on_book("now", 9000)
    with pytest.raises(TypeError):
        history.on_book(NOW, 90.5)
    with pytest.raises(TypeError):
        history.on_trade(NOW, "yes", 100)
    with pytest.raises(OverflowError):
        history.summary(2**64)
    with pytest.raises(TypeError):
        MarketHistory(5)
    assert history.n_changes == history.n_trades == 0 and history.last_mid2 is None  # nothing half-written
    with pytest.raises(RuntimeError, match="once"):
        _features.configure_history((5,), (1000,), (1000,), 64, 64)


def test_the_buffer_must_hold_the_rows():
    with pytest.raises(ValueError, match="bytes"):
        _features.build_rows([_market()] * 2, False, array("f", bytes(4 * OBS_SIZE)))
    with pytest.raises(TypeError):
        _features.build_rows([_market()], False, bytes(4 * OBS_SIZE))  # read-only
    out = array("f", bytes(4 * OBS_SIZE))
    _features.build_rows([_market()], False, out)
    assert np.frombuffer(out, np.float32).tobytes() == _build([_market()]).tobytes()
