"""Replay mode and generated sessions: the recorded books drive the simulator, exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_actor.books import Book
from kalshi_actor.kalshi.frames import OrderbookDeltaFrame, OrderbookSnapshotFrame, decode
from kalshi_actor.sessions.format import read_frames, read_header
from kalshi_actor.sim.generate import generate_session
from kalshi_actor.sim.replay import ReplayWorld
from kalshi_actor.trading.fees import FeeSchedule


def _books_from_session(path: Path) -> dict[str, Book]:
    books: dict[str, Book] = {}
    for _, raw in read_frames(path):
        frame = decode(raw)
        if isinstance(frame, OrderbookSnapshotFrame):
            book = books.setdefault(frame.msg.market_ticker, Book(frame.msg.market_ticker))
            book.apply_snapshot(frame.msg.yes_levels(), frame.msg.no_levels())
        elif isinstance(frame, OrderbookDeltaFrame):
            m = frame.msg
            assert books[m.market_ticker].apply_delta(m.side, m.price, m.delta) is not False
    return books


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sessions") / "sim.session"
    stats = generate_session(path, n_markets=4, seed=11, duration_s=90)
    assert stats["frames"] > 1000
    return path


def test_generated_session_is_a_valid_gapless_stream(session: Path) -> None:
    header = read_header(session)
    assert header["source"] == "sim" and header["seed"] == 11 and header["markets"] == 4
    seqs: dict[int, int] = {}
    times = []
    for ts, raw in read_frames(session):
        frame = decode(raw)
        times.append(ts)
        sid, seq = getattr(frame, "sid", None), getattr(frame, "seq", None)
        if sid is not None and seq is not None:
            assert seq == seqs.get(sid, 0) + 1, f"sid {sid} jumps from {seqs.get(sid)} to {seq}"
            seqs[sid] = seq
    assert times == sorted(times), "virtual receive times never go back"
    assert times[-1] - times[0] >= 80 * 10**9, "the session spans its simulated duration"
    books = _books_from_session(session)
    assert len(books) == 4 and all(b.best_yes_bid() and b.best_no_bid() for b in books.values())


def test_same_seed_same_session(tmp_path: Path) -> None:
    a, b = tmp_path / "a.session", tmp_path / "b.session"
    generate_session(a, n_markets=2, seed=3, duration_s=20)
    generate_session(b, n_markets=2, seed=3, duration_s=20)
    assert a.read_bytes() == b.read_bytes()


def test_replay_rebuilds_the_recorded_books_in_the_engine(session: Path) -> None:
    world = ReplayWorld(session, clock="virtual")
    world.run_for(120_000)
    recorded = _books_from_session(session)
    assert set(world.engine.markets) == set(recorded)
    for ticker, book in recorded.items():
        yes, no = book.levels()
        assert world.engine.book(ticker, "yes") == dict(yes), ticker
        assert world.engine.book(ticker, "no") == dict(no), ticker


def test_an_order_trades_against_replayed_liquidity(session: Path) -> None:
    world = ReplayWorld(session, clock="virtual")
    world.run_for(30_000)
    ticker = sorted(world.engine.markets)[0]
    best_no = max(world.engine.book(ticker, "no"))
    world.engine.open_account("me", 1_000 * 1_000_000)
    order = world.engine.place_order("me", ticker, "yes", 10_000 - best_no, 100)  # buy 1 YES at the ask
    assert order.filled == 100
    assert world.engine.accounts["me"].positions[ticker] == 100


def test_replay_refuses_a_session_without_books(tmp_path: Path) -> None:
    from kalshi_actor.sessions.format import SessionWriter

    path = tmp_path / "empty.session"
    with SessionWriter(path, {"source": "test"}) as writer:
        writer.write(b'{"type":"subscribed","id":1,"msg":{"channel":"trade","sid":1}}', 1)
    with pytest.raises(ValueError, match="no orderbook frames"):
        ReplayWorld(path)


def test_generated_session_header_describes_its_markets(session: Path) -> None:
    from kalshi_actor.marketdata.info import MarketInfo

    infos = MarketInfo.from_session_header(read_header(session))
    assert len(infos) == 4
    assert all(info.close_time_ms and info.close_time_ms > 1_700_000_000_000 for info in infos)
    assert set(i.ticker for i in infos) == set(_books_from_session(session))
    assert {i.fees for i in infos} == {FeeSchedule.of("quadratic", 0.5)}  # seed 11: KXINXU, half the fee


def test_replay_charges_the_recorded_fee_schedule(session: Path) -> None:
    world = ReplayWorld(session, clock="virtual")
    world.run_for(30_000)
    ticker = sorted(world.engine.markets)[0]
    market = world.engine.markets[ticker]
    assert (market.fee_type, market.fee_multiplier) == ("quadratic", 0.5)
    best_no = max(world.engine.book(ticker, "no"))
    world.engine.open_account("me", 1_000 * 1_000_000)
    price = 10_000 - best_no
    world.engine.place_order("me", ticker, "yes", price, 100)
    assert world.engine.accounts["me"].fees_paid[ticker] == FeeSchedule.of("quadratic", 0.5).taker_fee(price, 100)
