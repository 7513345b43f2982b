"""The simulator's WebSocket feed: engine events -> Kalshi WebSocket frames, per subscription.

:class:`FeedHub` listens to the engine and serves :class:`FeedConnection` objects,
one per consumer. A consumer is anything with a ``send(bytes)`` callable: a
WebSocket (``sim.ws_api`` queues the bytes for its socket), or a session recorder
writing frames in virtual time. Nothing here touches a socket.

Frames follow ``asyncapi.yaml``: per-subscription ``sid``, ``seq`` from 1 on the
sequenced channels (``orderbook_delta``, ``trade``, ``market_lifecycle_v2``; the
``ok``/``unsubscribed``/``error`` replies scoped to such a sid count too), a
snapshot first on ``subscribe`` / ``add_markets`` / ``get_snapshot`` (and when a
market first appears under an all-markets subscription), then deltas. The
private channels (``fill``, ``user_orders``, ``market_positions``) carry only the
subscribing account's events. Each public message body is encoded once per event;
only the ``{"type","sid","seq"}`` envelope differs per subscription.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson

from ..books import Book
from ..units import ONE_DOLLAR, format_count, format_money, format_price
from .faults import Faults
from .types import BookChanged, EngineEvent, Filled, MarketLifecycle, Order, OrderUpdated, PositionChanged, Traded

log = logging.getLogger(__name__)

PUBLIC_CHANNELS = frozenset({"orderbook_delta", "trade", "ticker", "market_lifecycle_v2"})
PRIVATE_CHANNELS = frozenset({"fill", "user_orders", "market_positions"})
QUIET_CHANNELS = frozenset({  # valid Kalshi channels the simulator has nothing to say on
    "multivariate_market_lifecycle", "communications", "order_group_updates",
    "cfbenchmarks_value", "cfbenchmarks_value_5hz", "pyth_value",
})
CHANNELS = PUBLIC_CHANNELS | PRIVATE_CHANNELS | QUIET_CHANNELS
SEQUENCED = frozenset({"orderbook_delta", "trade", "market_lifecycle_v2"})
UPDATE_ACTIONS = ("add_markets", "delete_markets", "get_snapshot")

# Kalshi's WebSocket error codes (asyncapi.yaml, "Error Codes Reference")
ERRORS = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    4: "Subscription IDs required",
    5: "Unknown command",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    9: "Authentication required",
    10: "Channel error",
    11: "Invalid parameter",
    12: "Exactly one subscription ID is required",
    13: "Unsupported action",
    14: "Market Ticker required",
    15: "Action required",
    25: "Subscription buffer overflow",
}

Send = Callable[[bytes], None]


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _money(micros: int) -> str:
    """Kalshi shows money with 4 decimals; keep 6 when 4 would round."""
    return format_money(micros, 4 if micros % 100 == 0 else 6)


def _frame(kind: bytes, sid: int, seq: int | None, body: bytes) -> bytes:
    if seq is None:
        return b'{"type":"%b","sid":%d,"msg":%b}' % (kind, sid, body)
    return b'{"type":"%b","sid":%d,"seq":%d,"msg":%b}' % (kind, sid, seq, body)


@dataclass(eq=False)
class _Sub:
    conn: FeedConnection
    sid: int
    channel: str
    tickers: set[str] | None  # None: every market
    use_yes_price: bool = False
    seq: int = 0
    snapshotted: set[str] = field(default_factory=set)  # markets whose snapshot this sid has sent

    def covers(self, ticker: str) -> bool:
        return self.tickers is None or ticker in self.tickers


class FeedConnection:
    """One consumer's subscriptions. ``account`` is the authenticated key id (None: public data only)."""

    def __init__(self, hub: FeedHub, account: str | None, send: Send, *, faults: Faults | None = None,
                 on_drop: Callable[[], Awaitable[None] | None] | None = None) -> None:
        self.hub = hub
        self.account = account
        self.send = send
        self.faults = faults
        self.on_drop = on_drop
        self.subs: dict[int, _Sub] = {}
        self._next_sid = 1
        self.closed = False

    # --- commands (Kalshi's JSON) ---

    def handle(self, raw: bytes | str) -> None:
        """Execute one client command and send its replies (or Kalshi's error frame)."""
        try:
            command = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return self._error(0, 1)
        if not isinstance(command, dict):
            return self._error(0, 1)
        command_id = command.get("id") or 0
        if not isinstance(command_id, int) or isinstance(command_id, bool) or command_id < 0:
            return self._error(0, 11)
        cmd = command.get("cmd")
        params = command.get("params")
        if cmd == "list_subscriptions":
            body = [{"channel": s.channel, "sid": s.sid} for s in self.subs.values()]
            return self._send_reply({"id": command_id, "type": "ok", "msg": body})
        handler = {"subscribe": self._subscribe, "unsubscribe": self._unsubscribe,
                   "update_subscription": self._update}.get(cmd) if isinstance(cmd, str) else None
        if handler is None:
            return self._error(command_id, 5)
        if not isinstance(params, dict):
            return self._error(command_id, 2)
        handler(command_id, params)

    def _subscribe(self, command_id: int, params: dict[str, Any]) -> None:
        channels = params.get("channels")
        if not isinstance(channels, list) or not channels:
            return self._error(command_id, 3)
        tickers = _tickers(params, self.hub.engine.markets)
        use_yes_price = params.get("use_yes_price", False)
        if tickers is False or not isinstance(use_yes_price, bool):
            return self._error(command_id, 11)
        for channel in channels:
            if channel not in CHANNELS:
                self._error(command_id, 8)
            elif channel in PRIVATE_CHANNELS and self.account is None:
                self._error(command_id, 9)
            elif channel == "orderbook_delta" and tickers is None:
                self._error(command_id, 14)
            else:
                self.subscribe(channel, tickers, use_yes_price=use_yes_price, command_id=command_id)

    def _unsubscribe(self, command_id: int, params: dict[str, Any]) -> None:
        sids = params.get("sids")
        if not isinstance(sids, list) or not sids:
            return self._error(command_id, 4)
        for sid in sids:
            sub = self.subs.pop(sid, None) if isinstance(sid, int) else None
            if sub is None:
                self._error(command_id, 7)
                continue
            self.hub._remove(sub)
            self._send_reply({"id": command_id, "sid": sid, "seq": self._next_seq(sub), "type": "unsubscribed"})

    def _update(self, command_id: int, params: dict[str, Any]) -> None:
        action = params.get("action")
        if action is None:
            return self._error(command_id, 15)
        if action not in UPDATE_ACTIONS:
            return self._error(command_id, 13)
        sid = params.get("sid")
        sids = params.get("sids")
        if (sid is None) == (sids is None) or (sids is not None and (not isinstance(sids, list) or len(sids) != 1)):
            return self._error(command_id, 12)
        sid = sid if sid is not None else sids[0]
        sub = self.subs.get(sid) if isinstance(sid, int) else None
        if sub is None:
            return self._error(command_id, 7)
        tickers = _tickers(params, self.hub.engine.markets)
        if tickers is False:
            return self._error(command_id, 11, sub)
        if not tickers:
            return self._error(command_id, 14, sub)
        if action == "get_snapshot":
            if sub.channel != "orderbook_delta":
                return self._error(command_id, 13, sub)
            for ticker in sorted(tickers):
                self._snapshot(sub, ticker, command_id)
            return
        added = []
        if action == "add_markets":
            if sub.tickers is not None:
                added = sorted(tickers - sub.tickers)
                sub.tickers |= tickers
        elif sub.tickers is not None:
            sub.tickers -= tickers
            sub.snapshotted -= tickers
        reply: dict[str, Any] = {"id": command_id, "sid": sub.sid}
        if sub.channel in SEQUENCED:
            reply["seq"] = self._next_seq(sub)
        reply["type"] = "ok"
        reply["msg"] = {"market_tickers": sorted(sub.tickers) if sub.tickers is not None else []}
        self._send_reply(reply)
        if sub.channel == "orderbook_delta":
            for ticker in added:
                self._snapshot(sub, ticker)

    # --- the Python API (the recorder uses it directly) ---

    def subscribe(self, channel: str, tickers: set[str] | None = None, *, use_yes_price: bool = False,
                  command_id: int | None = None) -> int:
        """Open one subscription and send its ``subscribed`` reply (and snapshots); returns the sid.

        ``tickers`` None subscribes every market, including ``orderbook_delta``
        (which Kalshi's wire protocol does not allow; the recorder uses it).
        """
        sid = self._next_sid
        self._next_sid += 1
        sub = _Sub(self, sid, channel, None if tickers is None else set(tickers), use_yes_price)
        self.subs[sid] = sub
        self.hub._add(sub)
        reply: dict[str, Any] = {"type": "subscribed", "msg": {"channel": channel, "sid": sid}}
        if command_id is not None:
            reply = {"id": command_id, **reply}
        self._send_reply(reply)
        if channel == "orderbook_delta":
            known = self.hub.engine.markets
            for ticker in sorted(known if sub.tickers is None else sub.tickers & known.keys()):
                self._snapshot(sub, ticker)
        return sid

    def subscribe_all(self, channels: tuple[str, ...] = ("orderbook_delta", "trade", "ticker",
                                                         "market_lifecycle_v2")) -> list[int]:
        """Every market on the public channels (and this account's private ones, if it has an account)."""
        return [self.subscribe(c) for c in channels]

    def fail_subscriptions(self, code: int = 25) -> None:
        """End every subscription with a terminal error (e.g. 25: the consumer's buffer overflowed)."""
        for sub in list(self.subs.values()):
            self._error(0, code, sub)
            self.subs.pop(sub.sid, None)
            self.hub._remove(sub)

    async def drop(self) -> None:
        """Close the consumer's transport (fault injection); the hub forgets the connection."""
        self.close()
        if self.on_drop is not None:
            result = self.on_drop()
            if inspect.isawaitable(result):
                await result

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for sub in self.subs.values():
                self.hub._remove(sub)
            self.subs.clear()
            self.hub._connections.discard(self)

    # --- frames ---

    def _next_seq(self, sub: _Sub) -> int:
        sub.seq += 1
        if self.faults is not None and self.faults.skip_seq and self.faults.take("skip_seq"):
            sub.seq += 1  # the injected gap: this number is never sent
        return sub.seq

    def _snapshot(self, sub: _Sub, ticker: str, command_id: int | None = None) -> None:
        engine = self.hub.engine
        market = engine.markets.get(ticker)
        if market is None:
            return
        yes = sorted(engine.book(ticker, "yes").items())
        no = sorted(engine.book(ticker, "no").items())
        if sub.use_yes_price:
            no = sorted((ONE_DOLLAR - p, s) for p, s in no)
        msg: dict[str, Any] = {"market_ticker": ticker, "market_id": market.market_id}
        if yes:
            msg["yes_dollars_fp"] = [[format_price(p), format_count(s)] for p, s in yes]
        if no:
            msg["no_dollars_fp"] = [[format_price(p), format_count(s)] for p, s in no]
        frame: dict[str, Any] = {"type": "orderbook_snapshot", "sid": sub.sid, "seq": self._next_seq(sub), "msg": msg}
        if command_id is not None:
            frame = {"id": command_id, **frame}
        sub.snapshotted.add(ticker)
        self._send_reply(frame)

    def _send_reply(self, frame: dict[str, Any] | list[Any]) -> None:
        if not self.closed:
            self.send(orjson.dumps(frame))

    def _error(self, command_id: int, code: int, sub: _Sub | None = None) -> None:
        frame: dict[str, Any] = {"id": command_id, "type": "error"}
        if sub is not None:
            frame["sid"] = sub.sid
            if sub.channel in SEQUENCED:
                frame["seq"] = self._next_seq(sub)
        frame["msg"] = {"code": code, "msg": ERRORS[code]}
        self._send_reply(frame)


def _tickers(params: dict[str, Any], markets: dict[str, Any]) -> set[str] | None | bool:
    """The market spec of a command (``market_ticker(s)`` and/or ``market_id(s)``): a set of tickers,
    None when absent, False when malformed. An unknown market id names no market."""
    given = False
    tickers: set[str] = set()
    for one_key, many_key, by_id in (("market_ticker", "market_tickers", False), ("market_id", "market_ids", True)):
        one, many = params.get(one_key), params.get(many_key)
        values: list[Any] = []
        if one is not None:
            values.append(one)
        if many is not None:
            if not isinstance(many, list):
                return False
            values.extend(many)
        if not all(isinstance(v, str) for v in values):
            return False
        given = given or one is not None or many is not None
        if by_id:
            ids = set(values)
            tickers.update(t for t, m in markets.items() if m.market_id in ids)
        else:
            tickers.update(values)
    return tickers if given else None


class FeedHub:
    """Engine listener that fans events out to every :class:`FeedConnection` as Kalshi frames."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._connections: set[FeedConnection] = set()
        self._subs: dict[str, list[_Sub]] = {c: [] for c in CHANNELS}
        self._tops: dict[str, Book] = {}  # per market: a mirror of the engine's book, for ticker frames
        self._last_ticker: dict[str, tuple] = {}
        self._last_trade_size: dict[str, int] = {}
        self._notional: dict[str, int] = {}  # traded notional, micros
        self._volume: dict[tuple[str, str], int] = {}  # (account, ticker) -> contracts traded, hundredths
        engine.listeners.append(self.on_event)

    def connect(self, account: str | None, send: Send, *, faults: Faults | None = None,
                on_drop: Callable[[], Awaitable[None] | None] | None = None) -> FeedConnection:
        conn = FeedConnection(self, account, send, faults=faults, on_drop=on_drop)
        self._connections.add(conn)
        return conn

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def drop_connections(self, faults: Faults) -> int:
        """Close as many open connections as ``faults.drop_connections`` asks (consuming it)."""
        dropped = 0
        for conn in sorted(self._connections, key=id):
            if not faults.take("drop_connections"):
                break
            await conn.drop()
            dropped += 1
        faults.drop_connections = 0  # no connection left to drop: the request is spent
        return dropped

    async def close(self) -> None:
        for conn in list(self._connections):
            await conn.drop()

    def _add(self, sub: _Sub) -> None:
        self._subs[sub.channel].append(sub)

    def _remove(self, sub: _Sub) -> None:
        subs = self._subs[sub.channel]
        if sub in subs:
            subs.remove(sub)

    # --- engine events ---

    def on_event(self, event: EngineEvent) -> None:
        kind = type(event)
        if kind is BookChanged:
            self._book_changed(event)
        elif kind is Traded:
            self._traded(event)
        elif kind is Filled:
            self._filled(event)
        elif kind is OrderUpdated:
            self._order_updated(event)
        elif kind is PositionChanged:
            self._position_changed(event)
        elif kind is MarketLifecycle:
            self._lifecycle(event)

    def _book_changed(self, e: BookChanged) -> None:
        top = self._tops.get(e.ticker)
        if top is None:
            top = self._tops[e.ticker] = Book(e.ticker)
            top.apply_snapshot(self.engine.book(e.ticker, "yes").items(), self.engine.book(e.ticker, "no").items())
        else:
            top.set_level(e.side, e.price, e.size)
        subs = self._subs["orderbook_delta"]
        if subs:
            bodies: dict[tuple[bool, bool], bytes] = {}
            for sub in list(subs):
                if not sub.covers(e.ticker):
                    continue
                if e.ticker not in sub.snapshotted:  # first sight under this sid: the snapshot includes e
                    sub.conn._snapshot(sub, e.ticker)
                    continue
                own = bool(e.client_order_id) and sub.conn.account == e.account
                yes_priced = sub.use_yes_price and e.side == "no"
                body = bodies.get((own, yes_priced))
                if body is None:
                    body = bodies[(own, yes_priced)] = self._delta_body(e, own, yes_priced)
                sub.conn.send(_frame(b"orderbook_delta", sub.sid, sub.conn._next_seq(sub), body))
        self._maybe_ticker(e.ticker, e.ts_ms)

    def _delta_body(self, e: BookChanged, own: bool, yes_priced: bool) -> bytes:
        market = self.engine.markets.get(e.ticker)
        msg: dict[str, Any] = {
            "market_ticker": e.ticker,
            "market_id": market.market_id if market is not None else "",
            "price_dollars": format_price(ONE_DOLLAR - e.price if yes_priced else e.price),
            "delta_fp": format_count(e.delta),
            "side": e.side,
        }
        if own:
            msg["client_order_id"] = e.client_order_id
        msg["ts"] = _iso(e.ts_ms)
        msg["ts_ms"] = e.ts_ms
        return orjson.dumps(msg)

    def _maybe_ticker(self, ticker: str, ts_ms: int) -> None:
        """Send a ticker frame when any ticker field changed (top of book, last trade, volume)."""
        subs = self._subs["ticker"]
        if not subs:
            return
        market = self.engine.markets.get(ticker)
        top = self._tops.get(ticker)
        if market is None:
            return
        bid = top.best_yes_bid() if top is not None else None
        ask = top.best_yes_ask() if top is not None else None
        state = (bid, ask, market.last_price, market.volume, market.open_interest)
        if self._last_ticker.get(ticker) == state:
            return
        self._last_ticker[ticker] = state
        bid_price, bid_size = bid if bid is not None else (0, 0)
        ask_price, ask_size = ask if ask is not None else (ONE_DOLLAR, 0)
        body = orjson.dumps({
            "market_id": market.market_id,
            "market_ticker": ticker,
            "price_dollars": format_price(market.last_price),
            "yes_bid_dollars": format_price(bid_price),
            "yes_ask_dollars": format_price(ask_price),
            "volume_fp": format_count(market.volume),
            "open_interest_fp": format_count(market.open_interest),
            "dollar_volume": self._notional.get(ticker, 0) // 1_000_000,
            "dollar_open_interest": market.open_interest * market.last_price // 1_000_000,
            "yes_bid_size_fp": format_count(bid_size),
            "yes_ask_size_fp": format_count(ask_size),
            "last_trade_size_fp": format_count(self._last_trade_size.get(ticker, 0)),
            "ts": ts_ms // 1000,
            "ts_ms": ts_ms,
            "time": _iso(ts_ms),
        })
        for sub in list(subs):
            if sub.covers(ticker):
                sub.conn.send(_frame(b"ticker", sub.sid, None, body))

    def _traded(self, e: Traded) -> None:
        self._notional[e.ticker] = self._notional.get(e.ticker, 0) + e.yes_price * e.count
        self._last_trade_size[e.ticker] = e.count
        subs = self._subs["trade"]
        if subs:
            body = orjson.dumps({
                "trade_id": e.trade_id,
                "market_ticker": e.ticker,
                "yes_price_dollars": format_price(e.yes_price),
                "no_price_dollars": format_price(ONE_DOLLAR - e.yes_price),
                "count_fp": format_count(e.count),
                "taker_side": e.taker_side,
                "taker_outcome_side": e.taker_side,
                "taker_book_side": "bid" if e.taker_side == "yes" else "ask",
                "is_block_trade": False,
                "ts": e.ts_ms // 1000,
                "ts_ms": e.ts_ms,
            })
            for sub in list(subs):
                if sub.covers(e.ticker):
                    sub.conn.send(_frame(b"trade", sub.sid, sub.conn._next_seq(sub), body))
        self._maybe_ticker(e.ticker, e.ts_ms)

    def _private(self, channel: str, account: str, ticker: str) -> list[_Sub]:
        return [s for s in self._subs[channel] if s.conn.account == account and s.covers(ticker)]

    def _filled(self, e: Filled) -> None:
        key = (e.account, e.ticker)
        self._volume[key] = self._volume.get(key, 0) + e.count
        subs = self._private("fill", e.account, e.ticker)
        if not subs:
            return
        body = orjson.dumps({
            "trade_id": e.trade_id,
            "order_id": e.order_id,
            "client_order_id": e.client_order_id,
            "market_ticker": e.ticker,
            "exchange_index": 0,
            "is_taker": e.is_taker,
            "side": e.side,
            "yes_price_dollars": format_price(e.yes_price),
            "count_fp": format_count(e.count),
            "fee_cost": format_money(e.fee, 6),
            "action": "buy",
            "ts": e.ts_ms // 1000,
            "ts_ms": e.ts_ms,
            "post_position_fp": format_count(e.post_position),
            "purchased_side": e.side,
            "outcome_side": e.side,
            "book_side": "bid" if e.side == "yes" else "ask",
            "subaccount": 0,
        })
        for sub in subs:
            sub.conn.send(_frame(b"fill", sub.sid, None, body))

    def _order_updated(self, e: OrderUpdated) -> None:
        o: Order = e.order
        subs = self._private("user_orders", o.account, o.ticker)
        if not subs:
            return
        yes_price = o.price if o.side == "yes" else ONE_DOLLAR - o.price
        body = orjson.dumps({
            "order_id": o.order_id,
            "user_id": o.account,
            "ticker": o.ticker,
            "exchange_index": 0,
            "status": o.status.value,
            "side": o.side,
            "is_yes": o.side == "yes",
            "outcome_side": o.side,
            "book_side": "bid" if o.side == "yes" else "ask",
            "yes_price_dollars": format_price(yes_price),
            "fill_count_fp": format_count(o.filled),
            "remaining_count_fp": format_count(o.remaining),
            "initial_count_fp": format_count(o.initial_count),
            "taker_fill_cost_dollars": format_money(o.taker_fill_cost, 6),
            "maker_fill_cost_dollars": format_money(o.maker_fill_cost, 6),
            "taker_fees_dollars": format_money(o.taker_fees, 6),
            "maker_fees_dollars": format_money(o.maker_fees, 6),
            "client_order_id": o.client_order_id,
            "self_trade_prevention_type": o.self_trade_prevention.value,
            "created_time": _iso(o.created_ts_ms),
            "created_ts_ms": o.created_ts_ms,
            "last_update_time": _iso(e.ts_ms),
            "last_updated_ts_ms": e.ts_ms,
            "subaccount_number": 0,
        })
        for sub in subs:
            sub.conn.send(_frame(b"user_order", sub.sid, None, body))

    def _position_changed(self, e: PositionChanged) -> None:
        subs = self._private("market_positions", e.account, e.ticker)
        if not subs:
            return
        body = orjson.dumps({
            "user_id": e.account,
            "market_ticker": e.ticker,
            "position_fp": format_count(e.position),
            "position_cost_dollars": _money(e.cost_basis),
            "realized_pnl_dollars": _money(e.realized_pnl),
            "fees_paid_dollars": _money(e.fees_paid),
            "position_fee_cost_dollars": _money(e.fees_paid),
            "volume_fp": format_count(self._volume.get((e.account, e.ticker), 0)),
            "subaccount": 0,
        })
        for sub in subs:
            sub.conn.send(_frame(b"market_position", sub.sid, None, body))

    def _lifecycle(self, e: MarketLifecycle) -> None:
        if e.event_type in ("determined", "settled", "deactivated"):
            self._tops.pop(e.ticker, None)  # the engine cancelled resting orders; rebuild on next change
        subs = self._subs["market_lifecycle_v2"]
        if not subs:
            return
        market = self.engine.markets.get(e.ticker)
        msg: dict[str, Any] = {"market_ticker": e.ticker, "event_type": e.event_type}
        ts = e.ts_ms // 1000
        if e.event_type == "created" and market is not None:
            msg.update(exchange_index=0, open_ts=market.open_time_ms // 1000, close_ts=market.close_time_ms // 1000,
                       additional_metadata={
                           "name": market.title, "title": market.title, "yes_sub_title": "", "no_sub_title": "",
                           "rules_primary": "", "rules_secondary": "", "can_close_early": True,
                           "event_ticker": market.event_ticker, "expected_expiration_ts": market.close_time_ms // 1000})
        if e.event_type in ("created", "price_level_structure_updated") and market is not None:
            msg["price_level_structure"] = market.price_level_structure
            msg["price_ranges"] = [{"start": format_price(r.start), "end": format_price(r.end),
                                    "step": format_price(r.step)} for r in market.price_ranges]
        elif e.event_type in ("activated", "deactivated"):
            msg["is_deactivated"] = e.event_type == "deactivated"
        elif e.event_type == "determined":
            msg.update(result=e.result, determination_ts=ts,
                       settlement_value=format_price(ONE_DOLLAR if e.result == "yes" else 0))
        elif e.event_type == "settled":
            msg.update(result=e.result, settled_ts=ts)
        body = orjson.dumps(msg)
        for sub in list(subs):
            sub.conn.send(_frame(b"market_lifecycle_v2", sub.sid, sub.conn._next_seq(sub), body))
