"""Market regimes change the statistics they name; the latent sidecar is evaluation-only data."""

from __future__ import annotations

import math
import subprocess
import sys
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from kalshi_actor.sessions.format import (SessionError, latent_at, latent_path, read_frames, read_header,
                                          read_latent, read_regimes, replace_session)
from kalshi_actor.sim.generate import generate_session
from kalshi_actor.sim.regimes import DEFAULT_MIX, REGIMES, Regime
from kalshi_actor.sim.types import Filled, MarketStatus
from kalshi_actor.sim.world import INFORMED, World
from kalshi_actor.units import ONE_DOLLAR

STRETCH_MS = 600_000
MARKETS_PER_REGIME = 8


@dataclass
class RegimeStats:
    """One regime's statistics over a stretch: spreads in pips, latent moves in log-odds."""

    spreads: list[int] = field(default_factory=list)  # best YES ask - best YES bid, each second
    moves: list[float] = field(default_factory=list)  # |log-odds change| over each minute
    taker_volume: int = 0
    informed_volume: int = 0
    maker_fees: int = 0
    markets: int = 0
    settled: int = 0

    @property
    def median_spread(self) -> float:
        return statistics.median(self.spreads)

    @property
    def minute_vol(self) -> float:
        """RMS log-odds change per minute."""
        return math.sqrt(sum(m * m for m in self.moves) / len(self.moves))

    @property
    def informed_share(self) -> float:
        return self.informed_volume / self.taker_volume

    def row(self) -> str:
        return (f"spread {self.median_spread:6.0f}  vol/min {self.minute_vol:.3f}  informed {self.informed_share:.2f}  "
                f"maker fees ${self.maker_fees / 1e6:,.2f}  settled {self.settled}/{self.markets}")


def measure(seed: int = 1, regimes=DEFAULT_MIX, stretch_ms: int = STRETCH_MS) -> dict[str, RegimeStats]:
    """Run a world with ``regimes`` cycled over its markets in virtual time and measure each regime."""
    n_markets = MARKETS_PER_REGIME * len(regimes)
    world = World(seed=seed, n_markets=n_markets, regimes=regimes, relist=False, settle_delay_ms=5_000)
    first = dict(world.regime_of)
    trace = world.trace_latent()
    stats: dict[str, RegimeStats] = defaultdict(RegimeStats)
    engine, clock = world.engine, world.clock
    start = clock.now_ms()

    def sample_spreads() -> None:
        for ticker, regime in first.items():
            if engine.markets[ticker].status is MarketStatus.ACTIVE:
                yes, no = engine.best_bids(ticker)
                if yes and no:
                    stats[regime].spreads.append(ONE_DOLLAR - no - yes)
        clock.call_later(1_000, sample_spreads)

    def on_event(event) -> None:
        if isinstance(event, Filled) and event.ticker in first:
            s = stats[first[event.ticker]]
            if event.is_taker:
                s.taker_volume += event.count
                s.informed_volume += event.count if event.account == INFORMED else 0
            else:
                s.maker_fees += event.fee

    engine.listeners.append(on_event)
    clock.call_later(500, sample_spreads)
    world.run_for(stretch_ms)
    minutes = np.arange(start, start + stretch_ms + 1, 60_000)
    for ticker, regime in first.items():
        s = stats[regime]
        s.markets += 1
        s.settled += engine.markets[ticker].status is MarketStatus.SETTLED
        ts, p = trace[ticker]
        closed = min(engine.markets[ticker].close_time_ms, start + stretch_ms)
        p_min = latent_at((np.asarray(ts), np.asarray(p)), minutes[minutes <= closed])
        x = np.log(p_min / (1 - p_min))
        s.moves.extend(np.abs(np.diff(x)).tolist())
    return dict(stats)


@pytest.fixture(scope="module")
def regime_stats() -> dict[str, RegimeStats]:
    return measure()


def test_regimes_are_named_frozen_parameter_sets():
    assert set(DEFAULT_MIX) <= set(REGIMES)
    assert {"quiet", "trending", "jumpy", "informed", "wide", "narrow", "maker_fee", "settling"} <= set(DEFAULT_MIX)
    assert all(isinstance(r, Regime) and r.name == name for name, r in REGIMES.items())
    with pytest.raises(AttributeError):
        REGIMES["quiet"].vol = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown regime"):
        World(seed=0, n_markets=2, regimes=("quiet", "stormy"))


def test_regimes_cycle_over_markets_and_relisted_markets():
    world = World(seed=4, n_markets=10, regimes=("wide", "narrow", "settling"), settle_delay_ms=1_000)
    assert list(world.regime_of.values()) == ["wide", "narrow", "settling"] * 3 + ["wide"]
    world.run_for(300_000)  # the settling markets close, new events are listed
    assert len(world.regime_of) > 10
    names = list(world.regime_of.values())
    assert names == [("wide", "narrow", "settling")[i % 3] for i in range(len(names))]
    assert set(World(seed=4, n_markets=5, regimes="jumpy").regime_of.values()) == {"jumpy"}
    assert set(World(seed=4, n_markets=5).regime_of.values()) == {"base"}


def test_regimes_are_deterministic_per_seed():
    def stream(seed: int) -> list[str]:
        world = World(seed=seed, n_markets=8, regimes=DEFAULT_MIX)
        events: list = []
        world.engine.listeners.append(events.append)
        world.run_for(20_000)
        return [repr(e) for e in events]

    first = stream(5)
    assert stream(5) == first and stream(6) != first


def test_spreads_wide_over_narrow(regime_stats):
    s = regime_stats
    assert s["wide"].median_spread > 1.5 * s["quiet"].median_spread
    assert s["narrow"].median_spread < s["quiet"].median_spread
    assert s["wide"].median_spread > 3 * s["narrow"].median_spread


def test_latent_volatility_jumpy_and_trending_over_quiet(regime_stats):
    s = regime_stats
    assert s["jumpy"].minute_vol > 2 * s["quiet"].minute_vol
    assert s["trending"].minute_vol > 2 * s["quiet"].minute_vol


def test_informed_flow_share(regime_stats):
    s = regime_stats
    others = [s[r].informed_share for r in ("quiet", "wide", "narrow", "maker_fee")]
    assert s["informed"].informed_share > max(others) + 0.1


def test_maker_fees_only_in_maker_fee(regime_stats):
    s = regime_stats
    assert s["maker_fee"].maker_fees > 0
    assert all(s[r].maker_fees == 0 for r in s if r != "maker_fee")


def test_settling_markets_close_and_settle_inside_the_stretch(regime_stats):
    s = regime_stats
    assert s["settling"].settled == s["settling"].markets
    assert all(s[r].settled == 0 for r in s if r != "settling")


# --- the latent sidecar ---


def _frames(path: Path) -> list[tuple[int, bytes]]:
    return list(read_frames(path))


def test_the_latent_sidecar_is_invisible_to_frame_readers(tmp_path: Path):
    with_latent, without = tmp_path / "a.session", tmp_path / "b.session"
    stats = generate_session(with_latent, n_markets=8, seed=2, duration_s=120, regimes=DEFAULT_MIX)
    assert stats["latent"] == str(latent_path(with_latent)) and latent_path(with_latent).exists()
    plain = generate_session(without, n_markets=8, seed=2, duration_s=120, regimes=DEFAULT_MIX, latent=False)
    assert plain["latent"] is None
    assert not latent_path(without).exists()
    assert with_latent.read_bytes() == without.read_bytes()  # header and frames
    assert len(_frames(with_latent)) > 1_000
    with pytest.raises(SessionError, match="no latent data"):
        read_latent(without)
    header = read_header(with_latent)
    assert header["regimes"] == {t: DEFAULT_MIX[i] for i, t in enumerate(header["market_info"])}
    assert read_regimes(without) == header["regimes"]
    assert read_regimes(with_latent).items() >= header["regimes"].items()
    assert latent_path(tmp_path / "x.session.gz") == tmp_path / "x.session.latent.npz"
    moved = tmp_path / "moved.session"
    replace_session(with_latent, moved)
    assert not latent_path(with_latent).exists() and set(read_latent(moved)) == set(read_regimes(moved))


def test_no_regimes_no_header_entry(tmp_path: Path):
    path = tmp_path / "plain.session"
    generate_session(path, n_markets=3, seed=1, duration_s=30)
    assert "regimes" not in read_header(path)
    assert set(read_regimes(path).values()) == {"base"}  # the sidecar's
    bare = tmp_path / "bare.session"
    generate_session(bare, n_markets=3, seed=1, duration_s=30, latent=False)
    with pytest.raises(SessionError, match="no regimes"):
        read_regimes(bare)


def test_read_latent_round_trips_the_worlds_probability(tmp_path: Path):
    world = World(seed=6, n_markets=8, clock="virtual", regimes=DEFAULT_MIX, settle_delay_ms=5_000)
    tickers = list(world.live)
    said: list[tuple[str, int, float]] = []

    def ask() -> None:
        for ticker in tickers:
            if ticker in world.live:
                said.append((ticker, world.clock.now_ms(), world.probability(ticker)))
        world.clock.call_later(7_300, ask)

    world.clock.call_later(1_000, ask)
    path = tmp_path / "s.session"
    generate_session(path, n_markets=8, seed=6, duration_s=300, world=world)
    latent = read_latent(path)
    assert set(tickers) <= set(latent) and len(said) > 200
    for ticker, ts, p in said:
        assert latent_at(latent[ticker], ts) == p
    for ts, p in latent.values():
        assert ts.dtype == np.int64 and p.dtype == np.float64 and np.all(np.diff(ts) >= 0)
        assert np.all((p > 0) & (p < 1))
        assert math.isnan(latent_at((ts, p), int(ts[0]) - 1))
        assert latent_at((ts, p), np.array([ts[0], ts[-1] + 10**6])).tolist() == [p[0], p[-1]]


def test_the_latent_at_the_close_mostly_agrees_with_the_result():
    world = World(seed=8, n_markets=160, regimes="settling", relist=False, settle_delay_ms=1_000)
    trace = world.trace_latent()
    world.run_for(260_000)
    agree = total = 0
    for ticker, market in world.engine.markets.items():
        assert market.status is MarketStatus.SETTLED
        p_close = latent_at(tuple(np.asarray(a) for a in trace[ticker]), market.close_time_ms)
        if abs(p_close - 0.5) > 0.1:
            total += 1
            agree += (p_close > 0.5) == (market.result == "yes")
    assert total > 60 and agree / total > 0.7


def test_sim_generate_takes_regimes_and_writes_the_sidecar(tmp_path: Path):
    out = tmp_path / "cli.session"
    subprocess.run([sys.executable, "-m", "kalshi_actor.cli", "sim", "generate", "--markets", "3", "--duration", "20",
                    "--seed", "4", "--regime", "wide", "--regime", "settling", "--out", str(out)], check=True,
                   capture_output=True)
    assert list(read_header(out)["regimes"].values()) == ["wide", "settling", "wide"]
    assert set(read_latent(out)) >= set(read_header(out)["regimes"])
    bad = subprocess.run([sys.executable, "-m", "kalshi_actor.cli", "sim", "generate", "--markets", "3", "--duration",
                          "5", "--regime", "stormy", "--out", str(tmp_path / "bad.session")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown regime" in bad.stderr
