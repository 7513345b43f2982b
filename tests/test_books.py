"""Exact books: snapshot + deltas rebuild the source book, derived asks, staleness, change cursors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_actor.books import Book, BookError, BookStore
from kalshi_actor.kalshi.ws import FrameIngestor
from kalshi_actor.sim.engine import Engine, EngineError
from kalshi_actor.sim.feed import FeedHub
from kalshi_actor.sim.types import Market, MarketStatus, PriceRange
from kalshi_actor.units import ONE_DOLLAR

prices = st.integers(min_value=1, max_value=ONE_DOLLAR - 1)
sizes = st.integers(min_value=1, max_value=10**9)
sides = st.sampled_from(["yes", "no"])
levels = st.dictionaries(prices, sizes, max_size=30)


@st.composite
def level_operations(draw):
    """A source book and a list of ``(side, price, delta)`` changes that keep every level >= 0."""
    start = {"yes": draw(levels), "no": draw(levels)}
    book = {"yes": dict(start["yes"]), "no": dict(start["no"])}
    ops = []
    for _ in range(draw(st.integers(min_value=0, max_value=80))):
        side = draw(sides)
        existing = sorted(book[side])
        if existing and draw(st.booleans()):
            price = draw(st.sampled_from(existing))
            size = book[side][price]
            delta = draw(st.one_of(st.just(-size), st.integers(min_value=-size, max_value=10**6)).filter(bool))
        else:
            price = draw(prices)
            delta = draw(sizes)
        new = book[side].get(price, 0) + delta
        if new:
            book[side][price] = new
        else:
            del book[side][price]
        ops.append((side, price, delta))
    return start, ops, book


@given(level_operations())
def test_snapshot_plus_deltas_rebuild_the_source_book(case):
    start, ops, final = case
    book = Book("KX-T")
    book.apply_snapshot(start["yes"].items(), start["no"].items())
    for side, price, delta in ops:
        assert book.apply_delta(side, price, delta)
    assert book.yes == final["yes"] and book.no == final["no"]
    assert not book.stale
    assert book.best_yes_bid_price == (max(final["yes"]) if final["yes"] else None)
    assert book.best_no_bid_price == (max(final["no"]) if final["no"] else None)
    assert book.bids("yes") == sorted(final["yes"].items(), reverse=True)
    assert book.bids("no", 3) == sorted(final["no"].items(), reverse=True)[:3]


@given(level_operations(), st.integers(min_value=0, max_value=80))
def test_best_prices_stay_right_when_read_midway(case, read_every):
    """Lazy best tracking: reading between deltas (after the best level vanished) must not go stale."""
    start, ops, final = case
    book = Book("KX-T")
    model = {"yes": dict(start["yes"]), "no": dict(start["no"])}
    book.apply_snapshot(start["yes"].items(), start["no"].items())
    for i, (side, price, delta) in enumerate(ops):
        book.apply_delta(side, price, delta)
        new = model[side].get(price, 0) + delta
        model[side].pop(price) if new == 0 else model[side].__setitem__(price, new)
        if read_every and i % read_every == 0:
            assert book.best_yes_bid_price == (max(model["yes"]) if model["yes"] else None)
            assert book.best_no_bid_price == (max(model["no"]) if model["no"] else None)
    assert book.best_yes_ask() == ((ONE_DOLLAR - max(final["no"]), final["no"][max(final["no"])])
                                   if final["no"] else None)


def test_derived_asks_spread_and_microprice():
    book = Book("KX-T")
    book.apply_snapshot([(4000, 500), (4200, 1300)], [(5500, 200), (5600, 300)])
    assert book.best_yes_bid() == (4200, 1300)
    assert book.best_no_bid() == (5600, 300)
    assert book.best_yes_ask() == (4400, 300)  # 1 - 0.56
    assert book.best_no_ask() == (5800, 1300)  # 1 - 0.42
    assert book.asks("yes") == [(4400, 300), (4500, 200)]
    assert book.asks("no", 1) == [(5800, 1300)]
    assert book.spread() == 200
    assert book.mid() == 4300
    assert book.microprice() == pytest.approx((4200 * 300 + 4400 * 1300) / 1600)
    book.apply_delta("no", 5600, -300)
    assert book.best_yes_ask() == (4500, 200)
    assert Book("empty").best_yes_ask() is None and Book("empty").microprice() is None


def test_level_reaching_zero_is_removed():
    book = Book("KX-T")
    book.apply_snapshot([(4200, 100)], [])
    book.apply_delta("yes", 4200, -100)
    assert book.yes == {} and book.best_yes_bid() is None


def test_delta_below_zero_marks_the_book_stale_and_raises():
    book = Book("KX-T")
    book.apply_snapshot([(4200, 100)], [])
    with pytest.raises(BookError):
        book.apply_delta("yes", 4200, -101)
    assert book.stale and "4200" in book.stale_reason
    assert book.yes == {4200: 100}  # nothing half-applied
    assert not book.apply_delta("yes", 4300, 5)  # a stale book ignores deltas ...
    assert 4300 not in book.yes
    book.apply_snapshot([(4300, 5)], [])  # ... until a snapshot replaces it
    assert not book.stale and book.yes == {4300: 5}


def test_a_book_is_stale_until_its_first_snapshot():
    book = Book("KX-T")
    assert book.stale and not book.apply_delta("yes", 100, 1)


def test_store_counts_impossible_deltas_and_reports_the_change():
    store = BookStore()
    store.apply_snapshot("A", [(4200, 100)], [])
    cursor = store.version
    assert not store.apply_delta("A", "yes", 4200, -500)
    assert store.rejected_deltas == 1 and store["A"].stale
    assert store.changed_since(cursor)[0] == ["A"]
    assert not store.apply_delta("missing", "yes", 4200, 1)


def test_changed_since_returns_only_what_changed_after_the_cursor():
    store = BookStore()
    for ticker in ("A", "B", "C", "D"):
        store.apply_snapshot(ticker, [(4000, 100)], [(5000, 100)])
    reader_1 = store.version
    store.apply_delta("B", "yes", 4000, 1)
    reader_2 = store.version
    store.apply_delta("D", "no", 5000, 1)
    store.apply_delta("B", "yes", 4100, 1)
    changed, reader_1 = store.changed_since(reader_1)
    assert changed == ["B", "D"]  # most recent first, each once
    changed, reader_2 = store.changed_since(reader_2)
    assert sorted(changed) == ["B", "D"]
    assert store.changed_since(reader_1) == ([], store.version)
    store.mark_stale(["C"], "gap")
    changed, reader_1 = store.changed_since(reader_1)
    assert changed == ["C"] and store["C"].stale
    store.remove("A")
    assert store.changed_since(reader_1)[0] == ["A"] and store.get("A") is None


def test_last_changed_is_the_latest_change():
    store = BookStore()
    assert store.last_changed == ""
    for ticker in ("A", "B"):
        store.apply_snapshot(ticker, [(4000, 100)], [(5000, 100)])
    assert store.last_changed == "B"
    store.apply_delta("A", "yes", 4000, 1)
    store.apply_delta("A", "yes", 4000, 1)
    assert store.last_changed == "A" and store.changed_since(store.version - 1)[0] == ["A"]
    store.mark_stale(["B"], "gap")
    assert store.last_changed == "B"
    store.apply_delta("B", "yes", 4000, 1)  # ignored while stale: no change
    store.apply_delta("missing", "yes", 4000, 1)
    assert store.last_changed == "B"
    store.apply_delta("A", "no", 5000, -500)  # impossible: A goes stale, a change
    assert store.last_changed == "A" and store["A"].stale
    store.remove("B")
    assert store.last_changed == "B" and store.changed_since(store.version - 1)[0] == ["B"]


@given(st.lists(st.tuples(st.sampled_from("ABCDEFGH"), sides, prices, sizes), max_size=60),
       st.integers(min_value=0, max_value=60))
def test_changed_since_matches_a_full_scan(ops, split):
    store = BookStore()
    for ticker in "ABCDEFGH":
        store.apply_snapshot(ticker, [], [])
    for ticker, side, price, size in ops[:split]:
        store.apply_delta(ticker, side, price, size)
    cursor = store.version
    for ticker, side, price, size in ops[split:]:
        store.apply_delta(ticker, side, price, size)
    changed, _ = store.changed_since(cursor)
    assert sorted(changed) == sorted({t for t, *_ in ops[split:]})
    assert store.last_changed == (ops[-1][0] if ops else "H")  # the last snapshot's before any delta
    assert store.changed_since(store.version - 1)[0] == [store.last_changed]


# --- against the simulator engine's own book ---

GRID = [PriceRange(100, 9900, 100)]


def _engine() -> Engine:
    clock = iter(range(1_782_873_105_000, 10**15, 7))
    engine = Engine(lambda: next(clock), seed=3)
    for i in range(2):
        engine.add_market(Market(
            ticker=f"KXTEST-26JUL03-T{i}", event_ticker="KXTEST-26JUL03", series_ticker="KXTEST", title=f"test {i}",
            market_id=f"00000000-0000-4000-8000-00000000000{i}", open_time_ms=0, close_time_ms=2**62,
            price_level_structure="linear_cent", price_ranges=list(GRID), status=MarketStatus.ACTIVE))
    for name in ("alice", "bob", "carol"):
        engine.open_account(name, 10**12)
    return engine


orders = st.lists(st.tuples(
    st.sampled_from(["alice", "bob", "carol"]), st.integers(0, 1), sides,
    st.integers(1, 99).map(lambda c: c * 100), st.integers(1, 5000), st.integers(0, 9)), min_size=1, max_size=60)


@settings(max_examples=40, deadline=None)
@given(orders, st.integers(0, 59))
def test_feed_frames_rebuild_the_engine_book(ops, subscribe_after):
    """Engine orders (crossing, partial fills, cancels) -> FeedHub frames -> FrameIngestor -> the engine's book."""
    engine = _engine()
    hub = FeedHub(engine)
    tickers = sorted(engine.markets)
    frames: list[bytes] = []
    store = BookStore()
    ingestor = FrameIngestor(store)

    def run(op):
        account, market, side, price, count, cancel = op
        try:
            order = engine.place_order(account, tickers[market], side, price, count)
            if cancel == 0 and order.remaining:
                engine.cancel_order(account, order.order_id)
        except EngineError:
            pass

    for op in ops[:subscribe_after]:  # the subscription starts mid-stream: snapshot first
        run(op)
    conn = hub.connect(None, frames.append)
    conn.handle(b'{"id":1,"cmd":"subscribe","params":{"channels":["orderbook_delta"],"market_tickers":%b}}'
                % str(tickers).replace("'", '"').encode())
    for op in ops[subscribe_after:]:
        run(op)
    for frame in frames:
        ingestor.feed(frame)
    assert ingestor.stats.gaps == ingestor.stats.malformed == ingestor.stats.rejected_deltas == 0
    for ticker in tickers:
        book = store[ticker]
        assert not book.stale
        assert book.yes == engine.book(ticker, "yes")
        assert book.no == engine.book(ticker, "no")
