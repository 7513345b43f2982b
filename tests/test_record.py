"""`kalshi-actor record` against a running simulator: the session replays into the engine's books."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest

from kalshi_actor.books import BookStore
from kalshi_actor.kalshi.models import Market
from kalshi_actor.kalshi.ws import FrameIngestor
from kalshi_actor.sessions.format import read_frames, read_header
from kalshi_actor.sessions.record import Recorder, RecordError, endpoints, load_signer
from support import until

CLI = [sys.executable, "-m", "kalshi_actor.cli"]


async def advance(http: httpx.AsyncClient, admin: str, steps: int = 8, ms: int = 500) -> None:
    """Move the simulator's virtual clock through its admin API."""
    for _ in range(steps):
        response = await http.post(f"{admin}/clock/advance", json={"ms": ms})
        response.raise_for_status()


def books_match(store: BookStore, engine, tickers: Iterable[str]) -> bool:
    for ticker in tickers:
        book = store.get(ticker)
        if book is None or book.stale or book.yes != engine.book(ticker, "yes") or book.no != engine.book(ticker, "no"):
            return False
    return True


def replayed(path: Path) -> tuple[BookStore, FrameIngestor]:
    """A session's frames through the same ingest path as the live client (frames -> seq check -> books)."""
    store = BookStore()
    ingestor = FrameIngestor(store)
    for _, raw in read_frames(path):
        ingestor.feed(raw)
    return store, ingestor


async def test_a_recorded_session_replays_into_the_engines_books(sim_server, tmp_path: Path):
    sim, urls = sim_server.sim, sim_server.urls
    engine = sim.engine
    path = tmp_path / "rec.session"
    async with httpx.AsyncClient() as http:
        await advance(http, urls.admin, 20)  # some trading first, so the markets' volumes differ
        recorder = Recorder(path, endpoints=endpoints(None, urls.rest, urls.ws), signer=sim_server.signer,
                            n_markets=3, flush_interval_s=0.05, ws_options={"backoff_initial": 0.05})
        task = asyncio.create_task(recorder.run())
        await until(lambda: recorder.ws is not None and len(recorder.ws.subscriptions) == 4 and recorder.ws.connected)
        tickers = [m.ticker for m in recorder.markets]
        others = set(engine.markets) - set(tickers)
        assert len(tickers) == 3 and min(engine.markets[t].volume for t in tickers) >= max(
            engine.markets[t].volume for t in others)  # the most traded ones
        await advance(http, urls.admin)
        sim.faults.skip_seq = 1  # a gap: the client heals it with a get_snapshot, which is recorded too
        await advance(http, urls.admin, 4)
        await until(lambda: recorder.ws.stats.gaps >= 1)
        (await http.patch(f"{urls.admin}/faults", json={"drop_connections": 1})).raise_for_status()
        await until(lambda: recorder.ws.stats.reconnects == 1 and recorder.ws.connected)
        await advance(http, urls.admin)
        closing = tickers[0]
        (await http.post(f"{urls.admin}/markets/{closing}/close")).raise_for_status()
        await advance(http, urls.admin, 4)
        await until(lambda: books_match(recorder.ws.store, engine, tickers))
        recorder.stop()
        stats = await task

    header = read_header(path)
    assert header["source"] == "custom" and header["tickers"] == tickers
    assert (header["rest_url"], header["ws_url"]) == (urls.rest, urls.ws)
    for ticker in tickers:  # what training needs later: close times and the tick grid
        market = Market.from_wire(header["market_info"][ticker])
        assert int(market.close_time.timestamp() * 1000) == engine.markets[ticker].close_time_ms
        assert [(r.start, r.end, r.step) for r in market.price_ranges] == [
            (r.start, r.end, r.step) for r in engine.markets[ticker].price_ranges]
        fees = header["market_info"][ticker]  # and its series' fee schedule (GET /series/{ticker})
        assert (fees["fee_type"], fees["fee_multiplier"]) == (engine.markets[ticker].fee_type,
                                                              engine.markets[ticker].fee_multiplier)

    records = list(read_frames(path))
    assert stats.frames == len(records) > 100 and stats.markets == 3
    assert stats.reconnects == 1 and stats.gaps >= 1
    stamps = [ts for ts, _ in records]
    assert stamps == sorted(stamps)
    raw = b"\n".join(frame for _, frame in records)
    assert raw.count(b'"type":"subscribed"') == 8  # 4 channels, subscribed twice (before and after the drop)
    assert b'"type":"trade"' in raw and b'"type":"ticker"' in raw and b'"type":"market_lifecycle_v2"' in raw

    store, ingestor = replayed(path)
    assert ingestor.stats.malformed == 0 and ingestor.stats.gaps >= 1  # the recorded gap, healed by its snapshot
    assert books_match(store, engine, tickers)
    assert any(engine.book(t, side) for t in tickers for side in ("yes", "no"))  # not trivially empty


async def test_a_session_cut_mid_line_is_readable_up_to_the_cut(sim_server, tmp_path: Path):
    sim, urls = sim_server.sim, sim_server.urls
    path = tmp_path / "cut.session"
    tickers = sorted(sim.engine.markets)[:2]
    recorder = Recorder(path, endpoints=endpoints("sim", urls.rest, urls.ws), signer=sim_server.signer,
                        tickers=tickers, flush_interval_s=0.05)
    task = asyncio.create_task(recorder.run(duration_s=30))
    async with httpx.AsyncClient() as http:
        await until(lambda: recorder.ws is not None and len(recorder.ws.subscriptions) == 4 and recorder.ws.connected)
        await advance(http, urls.admin, 6)
        await until(lambda: books_match(recorder.ws.store, sim.engine, tickers))
    recorder.stop()
    await task
    whole = list(read_frames(path))
    assert read_header(path)["source"] == "sim" and len(whole) > 20
    data = path.read_bytes()
    last_line_start = data.rindex(b"\n", 0, len(data) - 1) + 1
    path.write_bytes(data[: last_line_start + (len(data) - last_line_start) // 2])  # the crash: half a line
    assert list(read_frames(path)) == whole[:-1]
    store, ingestor = replayed(path)
    assert ingestor.stats.malformed == 0 and set(tickers) <= set(store.books)


async def _run_cli(args: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(*CLI, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)


def _frames_so_far(path: Path) -> int:
    try:
        return sum(1 for _ in read_frames(path))
    except (OSError, ValueError):
        return 0


async def test_the_record_command_stops_on_sigterm_and_survives_sigkill(sim_server, tmp_path: Path):
    sim, urls = sim_server.sim, sim_server.urls
    tickers = sorted(sim.engine.markets)[1:3]
    env = {**os.environ, "KALSHI_API_KEY_ID": sim_server.key.key_id, "KALSHI_PRIVATE_KEY": sim_server.key.private_pem}
    common = ["record", "--rest-url", urls.rest, "--ws-url", urls.ws, "--tickers", ",".join(tickers)]
    path = tmp_path / "cli.session"
    async with httpx.AsyncClient() as http:
        process = await _run_cli([*common, "--out", str(path)], env)
        await until(lambda: _frames_so_far(path) >= 4, timeout=60)  # subscribed x4 at least
        await advance(http, urls.admin, 6)
        await until(lambda: books_match(replayed(path)[0], sim.engine, tickers), timeout=30)  # flushed each second
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, err.decode()
        summary = out.decode().strip()
        assert summary.startswith(f"recorded {_frames_so_far(path)} frames of 2 markets")
        assert "0 reconnects, 0 gaps" in summary
        assert read_header(path)["tickers"] == tickers

        killed = tmp_path / "killed.session"
        process = await _run_cli([*common, "--out", str(killed), "--duration", "120"], env)
        await until(lambda: _frames_so_far(killed) >= 4, timeout=60)
        await advance(http, urls.admin, 6)
        await until(lambda: _frames_so_far(killed) > 20, timeout=30)
        process.kill()
        await process.wait()
    store, ingestor = replayed(killed)  # whatever was flushed before the kill is a valid session
    assert ingestor.stats.malformed == 0 and set(tickers) <= set(store.books)


async def test_record_refuses_bad_input_clearly(sim_server, tmp_path: Path):
    urls = sim_server.urls
    good = endpoints(None, urls.rest, urls.ws)
    recorder = Recorder(tmp_path / "x.session", endpoints=good, signer=sim_server.signer, tickers=["NO-SUCH-MARKET"])
    with pytest.raises(RecordError, match="no market 'NO-SUCH-MARKET'"):
        await recorder.run(1)
    existing = tmp_path / "exists.session"
    existing.write_text("#kalshi-session v1 {}\n")
    with pytest.raises(RecordError, match="exists"):
        await Recorder(existing, endpoints=good, signer=sim_server.signer).run(1)
    with pytest.raises(RecordError, match="no API key id.*KALSHI_API_KEY_ID"):
        load_signer(environ={})
    with pytest.raises(RecordError, match="no private key"):
        load_signer("key-1", environ={})
    with pytest.raises(RecordError, match="private key: not a usable"):
        load_signer(environ={"KALSHI_API_KEY_ID": "k", "KALSHI_PRIVATE_KEY": "garbage"})
    signer = load_signer(environ={"KALSHI_API_KEY_ID": "k", "KALSHI_PRIVATE_KEY": sim_server.key.private_pem})
    assert signer.key_id == "k"
    assert endpoints("demo").ws.startswith("wss://") and endpoints().rest.endswith("/trade-api/v2")
