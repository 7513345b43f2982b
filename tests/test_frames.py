"""Frame decoding against real Kalshi frames and malformed input.

``fixtures/kalshi_ws_capture.jsonl`` holds real frames, one per line: the first 200
frames of a Kalshi demo session (2026-07-01, one orderbook sid, seq 1..198 with
``ok`` replies counted in the sequence) and its two ``fill`` frames, production
frames from 2026-04-18 (snapshot, delta, ``error`` replies), and production
``ticker``/``trade`` frames from the cent-to-dollar transition that carry both.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshi_actor.books import BookStore
from kalshi_actor.kalshi import frames as F
from kalshi_actor.kalshi.ws import FrameIngestor
from kalshi_actor.marketdata import MarketData
from kalshi_actor.units import format_count, format_price, parse_count, parse_price

CAPTURE = Path(__file__).parent / "fixtures" / "kalshi_ws_capture.jsonl"


def capture_lines() -> list[bytes]:
    return [line for line in CAPTURE.read_bytes().splitlines() if line.strip()]


def demo_session() -> list[bytes]:
    """The contiguous demo-session part: its subscribed/ok/snapshot/delta frames, then its fills."""
    lines = capture_lines()
    return [line for line in lines[:202]]


def test_every_captured_frame_decodes_to_a_known_type():
    kinds = {type(F.decode(line)) for line in capture_lines()}
    assert kinds == {
        F.SubscribedFrame, F.OkFrame, F.OrderbookSnapshotFrame, F.OrderbookDeltaFrame,
        F.FillFrame, F.ErrorFrame, F.TickerFrame, F.TradeFrame,
    }


def test_decode_accepts_str_and_bytes_alike():
    line = capture_lines()[2]
    assert F.decode(line) == F.decode(line.decode())


def test_snapshot_levels_are_exact_integers():
    snapshot = F.decode(capture_lines()[2])
    assert isinstance(snapshot, F.OrderbookSnapshotFrame)
    assert snapshot.sid == 1 and snapshot.seq == 2
    assert snapshot.msg.market_ticker == "KXNEXTTEAMNBA-26LJAM-MIA"
    yes = snapshot.msg.yes_levels()
    assert yes[0] == (100, 140647486)  # "0.0100", "1406474.86"
    assert snapshot.msg.no_levels()[-1] == (8300, 2527176)  # "0.8300", "25271.76"


def test_delta_fields():
    delta = next(F.decode(line) for line in capture_lines() if b'"type":"orderbook_delta"' in line)
    assert isinstance(delta, F.OrderbookDeltaFrame)
    assert (delta.sid, delta.seq) == (1, 10)
    assert (delta.msg.price, delta.msg.delta, delta.msg.side) == (7400, -184, "no")
    assert delta.msg.ts_ms == 1782873105308


def test_ok_reply_carries_the_subscription_seq():
    ok = F.decode(capture_lines()[1])
    assert isinstance(ok, F.OkFrame)
    assert (ok.id, ok.sid, ok.seq) == (6, 1, 1)
    assert ok.msg.market_tickers == ["KXBTCD-26JUL0317-T60499.99", "KXNEXTTEAMNBA-26LJAM-MIA"]


def test_fill_frame_units():
    fills = [F.decode(line) for line in capture_lines() if b'"type":"fill"' in line]
    first, second = (f.msg for f in fills)
    assert (first.yes_price, first.count, first.fee, first.post_position) == (1700, 552, 54_600, 552)
    assert (first.outcome, first.book_side, first.is_taker) == ("yes", "bid", True)
    assert (second.outcome, second.count, second.post_position) == ("no", 116, 436)


def test_error_frames():
    errors = [F.decode(line) for line in capture_lines() if b'"type":"error"' in line]
    assert {(e.id, e.msg.code, e.msg.msg) for e in errors} == {(1, 8, "Unknown channel name"),
                                                             (99, 8, "Unknown channel name")}
    assert not any(e.terminal for e in errors)
    assert F.decode(b'{"type":"error","sid":3,"seq":9,"msg":{"code":25,"msg":"overflow"}}').terminal


def test_transition_frames_agree_in_cents_and_dollars():
    """ssmd's production ticker/trade frames carry both encodings: the dollar fields must win and agree."""
    tickers = [F.decode(line).msg for line in capture_lines() if b'"type":"ticker"' in line]
    trades = [F.decode(line).msg for line in capture_lines() if b'"type":"trade"' in line]
    assert tickers and trades
    for t in tickers:
        assert t.price == t.price_cents * 100
        assert t.yes_bid == t.yes_bid_cents * 100 and t.yes_ask == t.yes_ask_cents * 100
        assert t.volume == t.volume_whole * 100 and t.open_interest == t.open_interest_whole * 100
    for t in trades:
        assert t.yes_price == t.yes_price_cents * 100
        assert F.price_pips(t.no_price_dollars) == t.no_price_cents * 100
        assert t.count == t.count_whole * 100
        assert t.yes_price + F.price_pips(t.no_price_dollars) == 10_000


def test_legacy_only_trade_falls_back_to_cents():
    trade = F.decode(b'{"type":"trade","sid":2,"seq":1,"msg":{"trade_id":"t","market_ticker":"X",'
                     b'"yes_price":36,"count":5,"taker_side":"no"}}')
    assert (trade.msg.yes_price, trade.msg.count, trade.msg.taker_outcome) == (3600, 500, "no")


def test_list_subscriptions_reply():
    ok = F.decode(b'{"id":3,"type":"ok","msg":[{"channel":"orderbook_delta","sid":1},{"channel":"fill","sid":3}]}')
    assert [(s.channel, s.sid) for s in ok.subscriptions] == [("orderbook_delta", 1), ("fill", 3)]
    assert F.decode(b'{"id":3,"type":"ok","sid":1,"seq":4,"msg":{"market_tickers":[]}}').subscriptions is None


def test_unknown_types_pass_through_with_sid_and_seq():
    frame = F.decode(b'{"type":"multivariate_lookup","sid":5,"seq":8,"msg":{"collection_ticker":"KXQ"}}')
    assert isinstance(frame, F.UnknownFrame)
    assert (frame.type, frame.sid, frame.seq, frame.msg) == ("multivariate_lookup", 5, 8, {"collection_ticker": "KXQ"})


def test_event_frames_of_the_lifecycle_channel_decode():
    """Kalshi's AsyncAPI examples of ``event_lifecycle`` and ``event_fee_update`` (market_lifecycle_v2)."""
    created = F.decode(b'{"type":"event_lifecycle","sid":5,"seq":8,"msg":{"event_ticker":"KXQUICKSETTLE-26JAN25H2150",'
                       b'"exchange_index":0,"title":"t","subtitle":"s","collateral_return_type":"MECNET",'
                       b'"series_ticker":"KXQUICKSETTLE"}}')
    assert isinstance(created, F.EventLifecycleFrame) and created.msg.series_ticker == "KXQUICKSETTLE"
    fee = F.decode(b'{"type":"event_fee_update","sid":5,"seq":9,"msg":{"event_ticker":"KXBTCD-26MAY2018",'
                   b'"fee_type_override":"quadratic","fee_multiplier_override":1}}')
    assert isinstance(fee, F.EventFeeUpdateFrame) and not fee.msg.cleared and fee.msg.fee_multiplier_override == 1
    cleared = F.decode(b'{"type":"event_fee_update","sid":5,"seq":10,"msg":{"event_ticker":"KXBTCD-26MAY2018",'
                       b'"fee_type_override":null,"fee_multiplier_override":null}}')
    assert cleared.msg.cleared


@pytest.mark.parametrize("raw", [
    b"", b"not json", b"[1,2]", b"42", b'{"sid":1}', b'{"type":7}',
    b'{"type":"orderbook_delta","sid":1,"seq":2}',  # no msg
    b'{"type":"orderbook_delta","sid":1,"seq":"2","msg":{"market_ticker":"X","price_dollars":"0.1000",'
    b'"delta_fp":"1.00","side":"yes"}}',  # seq as a string
    b'{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"X","price_dollars":"0.1000",'
    b'"delta_fp":"1.00","side":"maybe"}}',
    b'{"type":"subscribed","id":1,"msg":{"channel":"trade"}}',  # no sid
    b'{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"X","price_dollars":"0.1000",',
])
def test_malformed_frames_raise_frame_error(raw):
    with pytest.raises(F.FrameError):
        F.decode(raw)


@pytest.mark.parametrize("text", ["0.12345", "1e-2", "0.1O00", "", "nan", "0x10", "1_0.00", "²1.00", " "])
def test_bad_prices_raise_frame_error(text):
    with pytest.raises(F.FrameError):
        F.price_pips(text)


@pytest.mark.parametrize("text", ["1.001", "1e2", "--1.00", "1_0.00", "²1.00", "1.0-0", "", ".", "-"])
def test_bad_counts_raise_frame_error(text):
    with pytest.raises(F.FrameError):
        F.count_hundredths(text)


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_count_conversion_is_exact(value):
    text = format_count(value)
    assert F.count_hundredths(text) == value == parse_count(text)


@given(st.integers(min_value=0, max_value=10_000))
def test_price_conversion_is_exact(value):
    text = format_price(value)
    assert F.price_pips(text) == value == parse_price(text)


@pytest.mark.parametrize("text,value", [("-3.00", -300), ("1406474.86", 140647486), ("0.5", 50), ("12", 1200),
                                        ("-0.01", -1), ("+2.50", 250)])
def test_count_forms(text, value):
    assert F.count_hundredths(text) == value


def test_demo_session_ingests_without_a_gap():
    """The real sid-1 stream counts its ``ok`` replies: a tracker that ignores them sees gaps."""
    store = BookStore()
    ingestor = FrameIngestor(store)
    passed = [ingestor.feed(line) for line in demo_session()]
    stats = ingestor.stats
    assert (stats.gaps, stats.malformed, stats.rejected_deltas, stats.orphan_deltas, stats.duplicate_frames) == (0,) * 5
    assert ingestor.last_seq[1] == 198
    assert len(store) == 5 and not any(book.stale for book in store)
    assert sum(isinstance(f, F.OkFrame) for f in passed) == 4
    assert sum(isinstance(f, F.FillFrame) for f in passed) == 2
    # the same stream with the ok replies removed looks gapped: that is why they must be counted
    gapped = FrameIngestor(BookStore())
    for line in demo_session():
        if b'"type":"ok"' not in line:
            gapped.feed(line)
    assert gapped.stats.gaps == 3  # ok replies at seq 1, 3-4 and 6


def test_ingestor_skips_malformed_frames_and_goes_on():
    store = BookStore()
    ingestor = FrameIngestor(store)
    lines = demo_session()[:12]
    lines.insert(5, b'{"type":"orderbook_delta", garbage')
    lines.insert(7, b'{"type":"orderbook_delta","sid":9,"seq":1,"msg":{"market_ticker":"X","price_dollars":"abc",'
                    b'"delta_fp":"1.00","side":"yes"}}')
    for line in lines:
        ingestor.feed(line)
    assert ingestor.stats.malformed == 2
    assert ingestor.stats.frames == len(lines)
    assert len(store) == 5


def _with_bad_frames() -> list[bytes]:
    lines = demo_session()[:40]
    lines.insert(5, b'{"type":"orderbook_delta", garbage')
    lines.insert(7, b'{"type":"orderbook_delta","sid":9,"seq":1,"msg":{"market_ticker":"X","price_dollars":"abc",'
                    b'"delta_fp":"1.00","side":"yes"}}')
    lines.insert(20, lines[19])  # a duplicate seq
    return lines


def test_ingest_of_decoded_frames_is_feed():
    """``feed(raw)`` is ``decode`` then ``ingest``: a recorded session decoded once ingests the same way."""
    lines = _with_bad_frames()
    fed, split = FrameIngestor(BookStore()), FrameIngestor(BookStore())
    passed_fed = [fed.feed(line) for line in lines]
    decoded = [split.decode(line) for line in lines]
    assert decoded[5] is None and split.stats.malformed == 1  # counted when decoding fails
    passed_split = [None if frame is None else split.ingest(frame) for frame in decoded]
    assert passed_split == passed_fed
    assert split.stats == fed.stats and split.stats.frames == len(lines)
    assert (split.stats.malformed, split.stats.duplicate_frames) == (2, 1)
    books = [[(b.ticker, b.yes, b.no, b.stale) for b in ingestor.store] for ingestor in (split, fed)]
    assert books[0] == books[1]


def test_market_data_ingest_of_decoded_frames_is_feed():
    lines = _with_bad_frames()
    fed, split = MarketData(), MarketData()
    for line in lines:
        passed = fed.feed(line)
        frame = split.ingestor.decode(line)
        if frame is None:
            assert passed is None and fed.changed == []
            continue
        assert split.ingest(frame) == passed
        assert split.changed == fed.changed and split.clock_ms == fed.clock_ms
    assert split.ingestor.stats == fed.ingestor.stats
    for book in fed.books:
        assert split.history(book.ticker).summary(0) == fed.history(book.ticker).summary(0)


def test_production_deltas_with_only_an_rfc3339_ts_move_the_clock():
    """Kalshi's April 2026 production deltas carry ``ts`` and no ``ts_ms``: the exchange clock must still move
    (without it no decision tick ever fires and the actor never trades)."""
    lines = [line for line in CAPTURE.read_text().splitlines() if '"ts":"2026-04' in line]
    deltas = [F.decode(line) for line in lines]
    assert deltas and all(d.msg.ts_ms is None and d.msg.ts for d in deltas)
    ticker = deltas[0].msg.market_ticker
    md = MarketData()
    md.feed('{"type":"orderbook_snapshot","sid":1,"seq":8,"msg":{"market_ticker":"%s","yes_dollars_fp":[["0.0100",'
            '"10.00"]],"no_dollars_fp":[["0.8100","6000.00"],["0.8200","100.00"]]}}' % ticker)
    for line in lines:
        md.feed(line)
    last = deltas[-1].msg
    assert md.clock_ms == last.time_ms == F.rfc3339_ms(last.ts)
    assert F.rfc3339_ms("2026-04-18T05:34:49.816683Z") == 1776490489816
    assert F.rfc3339_ms("2026-04-18T07:34:49.816+02:00") == 1776490489816
    for bad in ("2026-04-18T05:34:49", "yesterday", ""):
        with pytest.raises(F.FrameError):
            F.rfc3339_ms(bad)
