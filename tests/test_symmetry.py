"""YES/NO symmetry: a session and its mirror (YES <-> NO) are the same market seen from the other side.

The mirror of a session swaps the two books (a YES bid at ``p`` becomes a NO bid at ``p``: own-side
prices do not change), maps YES prices ``p -> 1 - p`` (trades' and tickers' YES prices, so a trade's
YES and NO prices swap), swaps trades' taker side (and book side: a taker of YES lifts the ask, a taker
of NO hits the YES bid) and the result ``yes <-> no``. A scripted policy and its mirror (BUY_YES <->
BUY_NO, SELL_YES <-> SELL_NO) then face the same decisions at the same times and must earn the same
net P&L TO THE MICRO, with the same fills and fees, through env + fill model + portfolio: any side
bias in the fill model, the accounting, the marks or the env's liquidation shows up here.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import orjson
import pytest

from kalshi_actor.sessions.format import SessionWriter, read_frames, read_header
from kalshi_actor.sim.generate import generate_session
from kalshi_actor.sim.world import World
from kalshi_actor.trading.actions import ActionConfig
from kalshi_actor.trading.types import Action
from kalshi_actor.training.env import EnvConfig, KalshiMarketEnv

_SIDE = {"yes": "no", "no": "yes"}
_BOOK_SIDE = {"bid": "ask", "ask": "bid"}
MIRROR_ACTION = {Action.HOLD: Action.HOLD, Action.BUY_YES_LIMIT: Action.BUY_NO_LIMIT,
                 Action.BUY_NO_LIMIT: Action.BUY_YES_LIMIT, Action.SELL_YES_LIMIT: Action.SELL_NO_LIMIT,
                 Action.SELL_NO_LIMIT: Action.SELL_YES_LIMIT}


def _complement(dollars: str) -> str:
    """``1 - p`` for a fixed-point dollar string, keeping its number of decimals."""
    return str((Decimal(1) - Decimal(dollars)).quantize(Decimal(dollars)))


def _swap(msg: dict, a: str, b: str) -> None:
    va, vb = msg.pop(a, None), msg.pop(b, None)
    if vb is not None:
        msg[a] = vb
    if va is not None:
        msg[b] = va


def mirror_frame(frame: dict) -> dict:
    """The frame as the other side sees it (see the module docstring)."""
    msg = frame.get("msg")
    if not isinstance(msg, dict):
        return frame
    kind = frame.get("type")
    if kind == "orderbook_snapshot":
        _swap(msg, "yes_dollars_fp", "no_dollars_fp")
        _swap(msg, "yes", "no")
    elif kind == "orderbook_delta":
        msg["side"] = _SIDE[msg["side"]]
    elif kind == "trade":
        _swap(msg, "yes_price_dollars", "no_price_dollars")
        _swap(msg, "yes_price", "no_price")
        for key in ("taker_side", "taker_outcome_side"):
            if msg.get(key) in _SIDE:
                msg[key] = _SIDE[msg[key]]
        if msg.get("taker_book_side") in _BOOK_SIDE:
            msg["taker_book_side"] = _BOOK_SIDE[msg["taker_book_side"]]
    elif kind == "ticker":
        bid, ask = msg.get("yes_bid_dollars"), msg.get("yes_ask_dollars")
        if bid is not None:
            msg["yes_ask_dollars"] = _complement(bid)
        if ask is not None:
            msg["yes_bid_dollars"] = _complement(ask)
        _swap(msg, "yes_bid_size_fp", "yes_ask_size_fp")
        if msg.get("price_dollars") not in (None, "0.0000"):
            msg["price_dollars"] = _complement(msg["price_dollars"])
    elif kind == "market_lifecycle_v2":
        if msg.get("result") in _SIDE:
            msg["result"] = _SIDE[msg["result"]]
        if msg.get("settlement_value") is not None:
            msg["settlement_value"] = _complement(msg["settlement_value"])
    return frame


def mirror_session(path: Path, out: Path) -> Path:
    with SessionWriter(out, read_header(path)) as writer:
        for ts, raw in read_frames(path):
            writer.write(orjson.dumps(mirror_frame(orjson.loads(raw))), ts)
    return out


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A session whose markets close and settle (and new ones list), and its mirror."""
    tmp = tmp_path_factory.mktemp("symmetry")
    path = tmp / "original.session"
    world = World(seed=3, n_markets=3, clock="virtual", lifetime_ms=(60_000, 240_000), settle_delay_ms=5_000)
    generate_session(path, n_markets=3, seed=3, duration_s=420, world=world)
    return path, mirror_session(path, tmp / "mirror.session")


def _play(path: Path, config: EnvConfig, actions: np.ndarray, mirrored: bool) -> list[tuple]:
    """Every market as one episode, the scripted actions by decision index; per episode its exact outcome."""
    env = KalshiMarketEnv([path], config, min_decisions=0)
    out = []
    for index, ticker in env.episodes:
        env.reset(options={"session": index, "ticker": ticker})
        done, step, fills, rewards = env._done, 0, [], 0.0
        terminated = truncated = None
        info = env._info()
        while not done:
            action = Action(int(actions[step % len(actions)]))
            _, reward, terminated, truncated, info = env.step(MIRROR_ACTION[action] if mirrored else action)
            rewards += reward
            fills += [(f.price, f.count, f.fee, f.is_taker, f.ts_ms, _SIDE[f.side] if mirrored else f.side)
                      for f in env.step_fills]
            step += 1
            done = terminated or truncated
        settled = info.get("settled")
        out.append((ticker, step, info["net_pnl"], info["fees"], info["fills"], -info["position"] if mirrored
                    else info["position"], _SIDE[settled] if mirrored and settled else settled, fills,
                    round(rewards, 6), (terminated, truncated)))
    return out


@pytest.mark.parametrize("pricing", ["join", "improve", "cross"])
@pytest.mark.parametrize("mark", ["bid", "mid"])
def test_a_policy_and_its_mirror_earn_the_same_to_the_micro(pair: tuple[Path, Path], pricing: str,
                                                            mark: str) -> None:
    path, mirror = pair
    config = EnvConfig(tick_interval_s=1.0, action=ActionConfig(size=300, pricing=pricing), mark=mark,
                       max_position=900)
    actions = np.random.default_rng(7).integers(0, 5, 4096)
    original = _play(path, config, actions, mirrored=False)
    mirrored = _play(mirror, config, actions, mirrored=True)
    assert [o[0] for o in original] == [m[0] for m in mirrored]
    for o, m in zip(original, mirrored):
        assert o == m, o[0]
    assert sum(o[4] for o in original) > 20  # the policy traded
    assert any(o[6] is not None for o in original) and any(o[6] is None for o in original)  # settled and not


def test_the_mirror_swaps_the_books(pair: tuple[Path, Path]) -> None:
    """The mirrored session is the original from the other side: at every decision the books are swapped."""
    path, mirror = pair
    config = EnvConfig(tick_interval_s=1.0)
    a, b = KalshiMarketEnv([path], config, min_decisions=0), KalshiMarketEnv([mirror], config, min_decisions=0)
    for index, ticker in a.episodes:
        a.reset(options={"session": index, "ticker": ticker})
        b.reset(options={"session": index, "ticker": ticker})
        done = a._done
        while not done:
            assert (a.book.yes, a.book.no) == (b.book.no, b.book.yes)
            _, _, terminated, truncated, _ = a.step(0)
            b.step(0)
            done = terminated or truncated
