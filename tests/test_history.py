"""MarketData and MarketHistory: the exchange clock, event and time windows, trades, gaps, fixed memory."""

from __future__ import annotations

import sys

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_actor.kalshi.grid import TickGrid
from kalshi_actor.kalshi.models import Market
from kalshi_actor.trading.fees import FeeSchedule
from kalshi_actor.marketdata import (
    EVENT_CAPACITY,
    EVENT_WINDOWS,
    SUMMARY_FIELDS,
    TIME_WINDOWS_MS,
    TRADE_CAPACITY,
    TRADE_WINDOWS_MS,
    MarketData,
    MarketHistory,
    MarketInfo,
)
from kalshi_actor.units import ONE_DOLLAR, format_count, format_price

T = "KXTEST-26JAN01-T1"
T0 = 1_800_000_000_000  # an exchange time in ms


class Wire:
    """Builds Kalshi frames (book sid 1, trade sid 2, ticker sid 3) with consecutive seqs."""

    def __init__(self) -> None:
        self.seq = {1: 0, 2: 0, 3: 0}

    def _next(self, sid: int) -> int:
        self.seq[sid] += 1
        return self.seq[sid]

    def snapshot(self, yes: dict[int, int], no: dict[int, int], ticker: str = T) -> bytes:
        msg = {"market_ticker": ticker, "market_id": "id-" + ticker,
               "yes_dollars_fp": [[format_price(p), format_count(s)] for p, s in sorted(yes.items())],
               "no_dollars_fp": [[format_price(p), format_count(s)] for p, s in sorted(no.items())]}
        return orjson.dumps({"type": "orderbook_snapshot", "sid": 1, "seq": self._next(1), "msg": msg})

    def delta(self, side: str, price: int, delta: int, ts_ms: int | None, ticker: str = T) -> bytes:
        msg = {"market_ticker": ticker, "price_dollars": format_price(price), "delta_fp": format_count(delta),
               "side": side}
        if ts_ms is not None:
            msg["ts_ms"] = ts_ms
        return orjson.dumps({"type": "orderbook_delta", "sid": 1, "seq": self._next(1), "msg": msg})

    def trade(self, taker: str | None, yes_price: int, count: int, ts_ms: int | None, *, ts_s: int | None = None,
              ticker: str = T) -> bytes:
        msg = {"trade_id": f"t{self.seq[2]}", "market_ticker": ticker, "yes_price_dollars": format_price(yes_price),
               "no_price_dollars": format_price(ONE_DOLLAR - yes_price), "count_fp": format_count(count)}
        if taker is not None:
            msg["taker_outcome_side"] = taker
        if ts_ms is not None:
            msg["ts_ms"] = ts_ms
        if ts_s is not None:
            msg["ts"] = ts_s
        return orjson.dumps({"type": "trade", "sid": 2, "seq": self._next(2), "msg": msg})

    def ticker(self, ts_ms: int, ticker: str = T) -> bytes:
        return orjson.dumps({"type": "ticker", "sid": 3, "seq": self._next(3),
                             "msg": {"market_ticker": ticker, "ts_ms": ts_ms}})


def summary(history: MarketHistory, now_ms: int) -> dict[str, int]:
    values = history.summary(now_ms)
    assert len(values) == len(SUMMARY_FIELDS)
    return dict(zip(SUMMARY_FIELDS, values))


def fed(*frames: bytes, markets: tuple[MarketInfo, ...] = ()) -> MarketData:
    md = MarketData(markets)
    for raw in frames:
        md.feed(raw)
    return md


# --- the exchange clock ---


def test_clock_is_the_largest_ts_ms_seen_and_snapshots_take_it():
    w = Wire()
    md = MarketData()
    md.feed(w.snapshot({4000: 1000}, {5000: 1000}))  # no ts_ms anywhere yet
    assert md.clock_ms is None and md.now_ms == 0
    assert md.changed == [T]
    history = md.history(T)
    assert history.n_changes == 1 and history.last_change_ms == 0  # "before everything"
    md.feed(w.delta("yes", 4100, 500, T0 + 100))
    assert md.clock_ms == T0 + 100 and history.last_change_ms == T0 + 100
    md.feed(w.trade("yes", 5000, 100, T0 + 250))
    assert md.clock_ms == T0 + 250
    md.feed(w.delta("yes", 4100, 100, T0 + 200))  # a book frame stamped before the trade: the clock does not go back
    assert md.clock_ms == T0 + 250 and history.last_change_ms == T0 + 250
    md.feed(w.ticker(T0 + 900))
    assert md.clock_ms == T0 + 900
    md.feed(w.snapshot({4000: 1000}, {5000: 1000}))  # a resnapshot has no ts_ms: stamped with the clock
    assert history.last_change_ms == T0 + 900 and history.n_changes == 4
    md.feed(w.delta("no", 5000, 100, None))  # a delta without ts_ms: stamped with the clock too
    assert history.last_change_ms == T0 + 900 and history.n_changes == 5


def test_trade_without_ts_ms_uses_its_ts_seconds():
    w = Wire()
    md = fed(w.snapshot({4000: 1000}, {5000: 1000}), w.trade("no", 4500, 300, None, ts_s=1_800_000_001))
    assert md.clock_ms == 1_800_000_001_000
    assert md.history(T).last_trade_ms == 1_800_000_001_000


def test_mid_is_exact_and_one_sided_books_carry_it_forward():
    w = Wire()
    md = fed(w.snapshot({}, {5000: 100}))  # one-sided from the start: no mid, nothing recorded
    assert md.history(T).n_changes == 0
    md.feed(w.delta("yes", 4100, 100, T0))
    history = md.history(T)
    assert history.last_mid2 == 4100 + (ONE_DOLLAR - 5000)
    md.feed(w.delta("no", 5000, -100, T0 + 1))  # the NO side empties: the mid is carried
    assert history.last_mid2 == 9100 and history.n_changes == 2


# --- windows ---


def test_event_windows_measure_over_the_last_k_book_changes():
    w = Wire()
    frames = [w.snapshot({4000: 100}, {5000: 100})]  # mid2 = 9000
    for i in range(1, 150):
        frames.append(w.delta("yes", 4000 + i, 100, T0 + i))  # each raises the bid one pip: mid2 + 1
    md = fed(*frames)
    s = summary(md.history(T), T0 + 149)
    assert s["mid2"] == 9149 and s["n_changes"] == 150
    for k in EVENT_WINDOWS:
        assert s[f"ret2_ev{k}"] == min(k, 149)
        assert s[f"sq2_ev{k}"] == min(k, 149)  # k changes of 1 (doubled pips) each
    young = fed(*frames[:3])
    assert summary(young.history(T), T0 + 2)["ret2_ev100"] == 2  # from the first change while fewer


def test_time_windows_use_the_exchange_clock_and_half_open_intervals():
    w = Wire()
    frames = [w.snapshot({4000: 100}, {5000: 100})]
    # one change a second for 100 s, each raising the YES bid by 10 pips (mid2 + 10)
    for i in range(1, 101):
        frames.append(w.delta("yes", 4000 + 10 * i, 100, T0 + 1000 * i))
    md = fed(*frames)
    history = md.history(T)
    now = T0 + 100_000
    s = summary(history, now)
    # (now - 1 s, now] holds only the change at now; (now - 10 s, now] holds 10, (now - 60 s, now] 60
    assert [s[f"changes_{t}ms"] for t in TIME_WINDOWS_MS] == [1, 10, 60]
    assert [s[f"ret2_{t}ms"] for t in TIME_WINDOWS_MS] == [10, 100, 600]
    assert [s[f"sq2_{t}ms"] for t in TIME_WINDOWS_MS] == [100, 1000, 6000]
    assert s["since_change_ms"] == 0
    later = summary(history, now + 500)  # half a second later nothing changed: the same windows
    assert [later[f"changes_{t}ms"] for t in TIME_WINDOWS_MS] == [1, 10, 60] and later["since_change_ms"] == 500
    later = summary(history, now + 1000)  # the last change is now exactly 1 s old: outside (now - 1 s, now]
    assert later["changes_1000ms"] == 0 and later["ret2_1000ms"] == 0
    assert summary(history, now + 10**9)["changes_60000ms"] == 0
    assert summary(history, now)["ret2_60000ms"] == 600  # and back: cursors move both ways


@st.composite
def event_streams(draw):
    gaps = draw(st.lists(st.integers(min_value=0, max_value=3_000), min_size=0, max_size=300))
    mids = draw(st.lists(st.integers(min_value=200, max_value=19_800), min_size=len(gaps), max_size=len(gaps)))
    trades = draw(st.lists(st.tuples(st.integers(0, 3_000), st.sampled_from(["yes", "no", None]),
                                     st.integers(1, 10**6)), max_size=100))
    queries = draw(st.lists(st.integers(min_value=-1_000, max_value=400_000), min_size=1, max_size=12))
    return gaps, mids, trades, queries


def _reference(events: list[tuple[int, int]], trades: list[tuple[int, int, int]], now: int) -> dict[str, int]:
    """Windows computed the slow, obvious way from complete event lists (no ring, no cursors)."""
    now = max([now] + [t for t, _ in events[-1:]] + [t for t, _, _ in trades[-1:]])  # never before the last event
    out: dict[str, int] = {"n_changes": len(events)}
    if events:
        ts = [t for t, _ in events]
        mids = [m for _, m in events]
        sq = [0]
        for a, b in zip(mids, mids[1:]):
            sq.append(sq[-1] + (b - a) ** 2)
        n = len(events)
        out.update(mid2=mids[-1], since_change_ms=max(0, now - ts[-1]), span_ms=max(0, now - ts[0]))
        for k in EVENT_WINDOWS:
            b = max(0, n - 1 - k)
            out[f"ret2_ev{k}"] = mids[-1] - mids[b]
            out[f"sq2_ev{k}"] = sq[-1] - sq[b]
        for span in TIME_WINDOWS_MS:
            inside = [i for i in range(n) if now - span < ts[i] <= now]
            before = [i for i in range(n) if ts[i] <= now - span]
            b = before[-1] if before else 0
            out[f"ret2_{span}ms"] = mids[-1] - mids[b]
            out[f"sq2_{span}ms"] = sq[-1] - sq[b]
            out[f"changes_{span}ms"] = len(inside) if before or not events else n
    out["n_trades"] = len(trades)
    if trades:
        out["since_trade_ms"] = max(0, now - trades[-1][0])
        for span in TRADE_WINDOWS_MS:
            inside = [(s, c) for t, s, c in trades if now - span < t <= now]
            out[f"flow_{span}ms"] = sum(s for s, _ in inside)
            out[f"volume_{span}ms"] = sum(c for _, c in inside)
            out[f"trades_{span}ms"] = len(inside)
    return out


@settings(max_examples=150, deadline=None)
@given(event_streams())
def test_windows_equal_a_brute_force_reference_whatever_the_query_order(stream):
    gaps, mids, trade_gaps, queries = stream
    history = MarketHistory()
    events, trades = [], []
    t = T0
    for gap, mid in zip(gaps, mids):
        t += gap
        history.on_book(t, mid)
        events.append((t, mid))
    t = T0
    for gap, taker, count in trade_gaps:
        t += gap
        history.on_trade(t, taker, count, 5000)
        trades.append((t, count if taker == "yes" else -count if taker == "no" else 0, count))
    for q in queries:  # in any order: results never depend on earlier queries
        now = T0 + q
        got = summary(history, now)
        want = _reference(events, trades, now)
        assert {k: got[k] for k in want} == want
        assert summary(MarketHistory(), now)["n_changes"] == 0


def test_capacity_bounds_memory_and_saturates_counts():
    history = MarketHistory()
    size = sys.getsizeof(history)
    assert size > 16 * (EVENT_CAPACITY + TRADE_CAPACITY)  # the rings are counted
    for i in range(3 * EVENT_CAPACITY):  # 3 changes per ms: far more than the ring holds in 60 s
        history.on_book(T0 + i // 3, 9000 + (i % 2) * 2)
    for i in range(3 * TRADE_CAPACITY):
        history.on_trade(T0 + i // 3, "yes", 100, 5000)
    assert sys.getsizeof(history) == size
    s = summary(history, T0 + EVENT_CAPACITY)
    assert s["n_changes"] == 3 * EVENT_CAPACITY
    assert s["changes_60000ms"] == EVENT_CAPACITY - 1  # saturated: the oldest change kept starts the window
    assert s["trades_60000ms"] == TRADE_CAPACITY - 1 and s["volume_60000ms"] == 100 * (TRADE_CAPACITY - 1)
    assert s["sq2_60000ms"] == 4 * (EVENT_CAPACITY - 1)  # the changes kept after the oldest, 2 each


def test_trades_are_signed_by_the_takers_outcome():
    w = Wire()
    md = fed(w.snapshot({4000: 100}, {5000: 100}),
             w.trade("yes", 5000, 300, T0), w.trade("no", 4000, 100, T0 + 5_000),
             w.trade(None, 4500, 50, T0 + 20_000))
    s = summary(md.history(T), T0 + 20_000)
    assert (s["flow_10000ms"], s["volume_10000ms"], s["trades_10000ms"]) == (0, 50, 1)
    assert (s["flow_60000ms"], s["volume_60000ms"], s["trades_60000ms"]) == (200, 450, 3)
    assert s["last_trade_price"] == 4500 and s["since_trade_ms"] == 0


# --- gaps: visible to the caller, never recorded ---


def test_a_sequence_gap_marks_the_book_stale_and_the_caller_sees_it():
    w = Wire()
    md = fed(w.snapshot({4000: 100}, {5000: 100}), w.delta("yes", 4100, 100, T0))
    assert not md.books[T].stale
    w.seq[1] += 1  # a frame is lost
    md.feed(w.delta("yes", 4200, 100, T0 + 10))
    assert md.changed == [T] and md.books[T].stale  # the caller learns which book went stale
    assert "gap" in md.books[T].stale_reason
    before = md.history(T).n_changes
    md.feed(w.delta("yes", 4300, 100, T0 + 20))  # ignored while stale
    assert md.history(T).n_changes == before and md.books[T].stale
    md.feed(w.snapshot({4000: 100}, {5000: 100}))
    assert not md.books[T].stale and md.history(T).n_changes == before + 1


def test_frames_that_change_no_book_leave_changed_empty():
    w = Wire()
    md = fed(w.snapshot({4000: 100}, {5000: 100}))
    md.feed(w.trade("yes", 5000, 100, T0))
    assert md.changed == []
    md.feed(b'{"type": "nonsense"')  # malformed: counted by the ingestor, nothing changes
    assert md.changed == [] and md.ingestor.stats.malformed == 1


# --- market context ---


def test_market_info_round_trips_and_mirrors_the_grid():
    info = MarketInfo(T, TickGrid.from_structure("tapered_deci_cent"), T0 + 3_600_000)
    assert MarketInfo.from_dict(orjson.loads(orjson.dumps(info.to_dict()))) == info
    assert info.yes_prices[0] == 10 and info.yes_prices[-1] == 9_990
    assert info.no_prices == tuple(sorted(ONE_DOLLAR - p for p in info.yes_prices))
    i = info.yes_prices.index(1_000)
    assert info.steps[i] == 100 and info.steps[i - 1] == 10  # the step above 0.10 is a cent, below it a tenth


def test_market_info_from_rest_market():
    market = Market.model_validate({"ticker": T, "close_time": "2027-01-15T17:00:00Z",
                                    "price_level_structure": "linear_cent", "price_ranges": []})
    info = MarketInfo.from_market(market)
    assert info.close_time_ms == 1_800_032_400_000 and info.grid == TickGrid.from_structure("linear_cent")


def test_market_info_from_a_recorded_session_header():
    meta = {"source": "demo", "market_info": {T: {"ticker": T, "close_time": "2027-01-15T17:00:00Z",
                                                  "price_level_structure": "tapered_deci_cent",
                                                  "price_ranges": TickGrid.from_structure("tapered_deci_cent")
                                                  .wire_ranges()}}}
    (info,) = MarketInfo.from_session_header(meta)
    assert info.ticker == T and info.close_time_ms == 1_800_032_400_000
    assert info.grid == TickGrid.from_structure("tapered_deci_cent")
    assert info.fees is None  # a header from before fee schedules were kept: the reader's default applies
    assert MarketInfo.from_session_header({"source": "sim"}) == []
    meta["market_info"][T] |= {"fee_type": "quadratic_with_maker_fees", "fee_multiplier": 0.5}
    (info,) = MarketInfo.from_session_header(orjson.loads(orjson.dumps(meta)))
    assert info.fees == FeeSchedule.of("quadratic_with_maker_fees", 0.5)
    assert info.fees.maker_fee(5000, 1000) == 30_000  # ceil(0.0175 * 0.5 * 10 * 0.25 = $0.021875) = 3 cents


def test_market_info_keeps_its_fee_schedule():
    fees = FeeSchedule.of("quadratic_with_maker_fees", 0.5)
    info = MarketInfo(T, TickGrid.from_structure("linear_cent"), T0, fees)
    assert MarketInfo.from_dict(orjson.loads(orjson.dumps(info.to_dict()))) == info
    assert info.replace(close_time_ms=T0 + 1).fees is fees
    assert info != MarketInfo(T, TickGrid.from_structure("linear_cent"), T0)
    exact = MarketInfo(T, TickGrid.from_structure("linear_cent"), T0, FeeSchedule.of("quadratic", "1/3"))
    assert MarketInfo.from_dict(orjson.loads(orjson.dumps(exact.to_dict()))).fees.taker == exact.fees.taker


def test_lifecycle_frames_update_grid_and_close_time():
    md = MarketData([MarketInfo(T, TickGrid.from_structure("linear_cent"), T0)])
    frame = {"type": "market_lifecycle_v2", "sid": 4, "seq": 1,
             "msg": {"market_ticker": T, "event_type": "price_level_structure_updated",
                     "price_level_structure": "deci_cent",
                     "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0010"}]}}
    md.feed(orjson.dumps(frame))
    assert md.markets[T].grid == TickGrid.from_structure("deci_cent") and md.markets[T].close_time_ms == T0
    frame = {"type": "market_lifecycle_v2", "sid": 4, "seq": 2,
             "msg": {"market_ticker": T, "event_type": "close_date_updated", "close_ts": 1_800_000_600}}
    md.feed(orjson.dumps(frame))
    assert md.markets[T].close_time_ms == 1_800_000_600_000
    assert md.markets[T].grid == TickGrid.from_structure("deci_cent")


@pytest.mark.parametrize("n", [0, 1])
def test_empty_history_summary_has_defined_fills(n):
    history = MarketHistory()
    if n:
        history.on_book(T0, None)  # a one-sided first book: nothing to record
    s = summary(history, T0)
    assert s["n_changes"] == 0 and s["since_change_ms"] == -1 and s["span_ms"] == -1
    assert s["since_trade_ms"] == -1 and s["last_trade_price"] == -1
