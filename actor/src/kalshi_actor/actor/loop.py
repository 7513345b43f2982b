"""The live actor: the training pieces, unchanged, wired to a real exchange.

Data path (one call per arrow, nothing reaches back up)::

    WebSocket frame -> MarketData.feed (books, history, exchange clock: the training ingest path)
      -> DecisionTicks (the env's decision rule, on the exchange clock)
      -> ObservationBuilder (ONE batch for every due market) -> Policy.predict (one forward pass)
      -> intents_for_action (the training action space) -> RiskManager.check -> LiveOrderManager.submit
    fill / user_order frames -> LiveOrderManager.on_frame -> Portfolio (the one accounting)

Decisions run inside the WebSocket reader, right after the frame that fired the tick, so a
recorded session replayed through the training environment meets the same decision points
with the same state (the parity test). Sending is asynchronous: a market with orders still in
flight is not decided again until they are answered (it stays marked for the next tick).
A stale or gapped book is never decided on.

Startup: load the model, reconcile with the exchange (our resting orders from an earlier run
are cancelled: see :class:`~.orders.LiveOrderManager`), choose the markets, subscribe, and only
then trade. Shutdown: stop deciding, cancel our resting orders, close the connections.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..books.book import Book
from ..kalshi.auth import Signer
from ..kalshi import frames as F
from ..kalshi.errors import KalshiError
from ..kalshi.rest import RestClient
from ..kalshi.ws import KalshiWebSocket, WSCommandError
from ..marketdata import MarketData, MarketInfo
from ..marketdata.discovery import MarketSelectionError, discover_markets, fee_schedules, fetch_markets
from ..observation import MarketInput, ObservationBuilder
from ..registry import Registry
from ..trading.actions import action_mask, intents_for_action
from ..trading.fees import FeeSchedule
from ..trading.portfolio import Portfolio, mark_value
from ..trading.ticks import DecisionTicks
from ..trading.types import Action, CancelOrder, FillEvent, OrderIntent, WorkingOrder
from ..training.policy import Policy
from ..units import COUNT_SCALE, format_count, format_money, format_price
from .app import Health
from .config import ActorConfig, ConfigChange, apply_changes
from .events import EventHub
from .metrics import ActorMetrics
from .orders import LiveOrderManager, OrderResult
from .risk import RiskLimits, RiskManager

log = logging.getLogger(__name__)

BOOK_CHANNELS = ("orderbook_delta", "trade")
PRIVATE_CHANNELS = ("fill", "user_orders", "market_positions", "market_lifecycle_v2")
RECONCILE_EVERY_S = 30.0
RECONCILE_CHECK_S = 1.0  # how often the order manager's call for an early reconciliation is answered
PNL_EVERY_S = 1.0
MODEL_RETRY_S = 10.0
SHUTDOWN_BUDGET_S = 20.0  # cancelling our orders on SIGTERM must fit the pod's grace period
BOOK_LEVELS = 5  # top levels per side in the ``book`` of actor_position (the web view's market detail)

_ACCEPTED = {"placed": "accepted", "amended": "accepted", "cancelled": "accepted", "rejected": "rejected",
             "refused": "blocked", "unknown": "error"}


def _now_ms() -> int:
    return int(time.time() * 1000)


class Actor:
    """One actor trading one account (see the module docstring); served by :func:`~.app.create_app`."""

    def __init__(self, config: ActorConfig) -> None:
        self.config = config
        self.metrics = ActorMetrics()
        self.events = EventHub(snapshot=self.snapshot)
        self.metrics.track_event_hub(self.events)
        self.registry = Registry(config.registry)
        self.policy: Policy | None = None
        pem = config.private_key_pem()
        if not config.api_key_id or not pem:
            raise ValueError("an API key id and private key are required (RL_ACTOR_API_KEY_ID, RL_ACTOR_PRIVATE_KEY"
                             " or RL_ACTOR_PRIVATE_KEY_FILE)")
        signer = Signer.from_pem(config.api_key_id, pem)
        assert config.rest_url and config.ws_url  # the config validates them per environment
        self.rest = RestClient(config.rest_url, signer, client_order_id_prefix=config.client_order_prefix)
        self.ws = KalshiWebSocket(signer, config.ws_url, on_event=self._on_event)
        self.md = MarketData(ingestor=self.ws.ingestor)
        self.ws.feed = self._on_frame  # live frames take the training ingest path
        self.metrics.track_feed(self.ws.stats)
        self.portfolio = Portfolio(0)
        self.orders = LiveOrderManager(self.rest, self.portfolio, config.client_order_prefix, on_start="cancel",
                                       books=self.md.books, on_fill=self._on_fill)
        self.risk = RiskManager(RiskLimits.of(config.risk), paused=config.paused)
        self.ticks = DecisionTicks(round(config.tick_interval * 1000))
        self.builder = ObservationBuilder(own_orders_in_book=True)
        self.tickers: list[str] = []
        self.trading = False
        self.decisions = 0
        self._inflight: set[str] = set()
        self._deferred: set[str] = set()  # due while their orders were in flight: decided at the next tick
        self._tasks: set[asyncio.Task] = set()
        self._book_sub = None
        self._last_reload: dict[str, Any] | None = None
        self._loaded_at_ms: int | None = None
        self._reported_connected: bool | None = None  # the exchange connection the last actor_status told
        self._published_positions: dict[str, dict[str, Any]] = {}  # per traded market: its last actor_position
        self._last_error: dict[str, Any] | None = None
        self.decision_errors = 0  # decisions that raised (reported; the feed went on)
        self.action_counts: dict[str, int] = {}  # decisions by action name, for the live action shares
        self._alive = True
        self._halted = False
        self._started_ms = _now_ms()
        self._reconciled_at = 0.0
        self._series_fees: dict[str, FeeSchedule] = {}  # each followed market's series schedule
        self._event_of: dict[str, str] = {}  # market ticker -> its event ticker (fee overrides are per event)

    # --- lifecycle (ServedActor) ---

    async def start(self) -> None:
        self._spawn(self._run(), "startup")

    async def halt(self) -> None:
        """Shutdown's first step (from the signal, before anything that may wait): stop deciding and
        cancel our resting orders, bounded by SHUTDOWN_BUDGET_S. Sends in flight finish first (the order
        manager serialises them with the cancel), so none lands after it. Idempotent."""
        self.trading = False
        if self._halted:
            return
        self._halted = True
        for task in list(self._tasks):
            if task.get_name() != "actor-send":
                task.cancel()
        try:
            results = await asyncio.wait_for(self.orders.cancel_all_own(), SHUTDOWN_BUDGET_S)
            log.info("shutdown: %d order(s) cancelled", sum(r.outcome == "cancelled" for r in results))
        except (TimeoutError, KalshiError) as exc:
            log.error("shutdown: cancelling our orders failed: %s", exc)
        self._publish_status("stopped")

    async def stop(self) -> None:
        """Halt (when not yet done), then close the connections."""
        await self.halt()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ws.close()
        await self.rest.aclose()

    async def _run(self) -> None:
        await self._load_model_until_ready()
        report = await self.orders.reconcile(startup=True)
        log.info("reconciled with the exchange: %s", report)
        await self._follow(await self._choose_markets())
        if self._halted:  # a shutdown began while starting
            return
        self.trading = True
        self._publish_status("trading")
        if self._deferred:  # due while starting (tick interval 0: the books' first snapshots)
            due, self._deferred = self._deferred, set()
            self._decide_safely(due)
        self._reconciled_at = time.monotonic()
        self._spawn(self._every(RECONCILE_CHECK_S, self._reconcile_when_due), "reconcile")
        self._spawn(self._every(PNL_EVERY_S, self._publish_pnl), "pnl")

    async def _load_model_until_ready(self) -> None:
        """Retry every MODEL_RETRY_S: a missing or broken model is reported (health, the model event), never
        fatal; publishing a good one is enough to start. Exception only: a shutdown's cancellation ends it."""
        while self.policy is None:
            try:
                await self._load_model(self.config.model_id)
            except Exception as exc:
                log.info("retrying the model load in %gs after: %s", MODEL_RETRY_S, exc)
                await asyncio.sleep(MODEL_RETRY_S)

    async def _choose_markets(self) -> list[MarketInfo]:
        cfg = self.config
        try:
            if cfg.market_mode == "tickers":
                markets = await fetch_markets(self.rest, cfg.market_tickers)
            else:
                markets = await discover_markets(self.rest, cfg.market_limit)
            fees = await fee_schedules(self.rest, markets)  # REST markets carry none: their series' (once each)
            self._series_fees.update(fees)
            self._event_of.update({m.ticker: m.event_ticker for m in markets if m.event_ticker})
        except (MarketSelectionError, KalshiError) as exc:
            self._error(f"choosing markets: {exc}")
            raise
        return [MarketInfo.from_market(m, fees[m.ticker]) for m in markets]

    async def _follow(self, infos: list[MarketInfo]) -> None:
        """Subscribe the books of ``infos`` (replacing the current set) and our private channels."""
        for info in infos:
            self.md.add_market(info)
        # holds and fees as the exchange reckons them: each market's series' schedule (maker fees are held)
        self.orders.set_fee_schedules({i.ticker: i.fees for i in infos if i.fees is not None})
        wanted = [i.ticker for i in infos]
        if self._book_sub is None:
            self.ws.start()
            await self.ws.wait_ready()
            self._book_sub = (await self.ws.subscribe(BOOK_CHANNELS[:1], wanted))[0]
            await self.ws.subscribe(BOOK_CHANNELS[1:], wanted)
            await self.ws.subscribe(PRIVATE_CHANNELS)
        else:
            gone = [t for t in self.tickers if t not in wanted]
            new = [t for t in wanted if t not in self.tickers]
            if new:
                await self.ws.add_markets(self._book_sub, new)
            if gone:
                await self.ws.delete_markets(self._book_sub, gone)
                for ticker in gone:
                    self.md.remove_market(ticker)
                await self._cancel_orders_in(gone)
        self.tickers = wanted
        self.metrics.set_markets(wanted)
        log.info("following %d markets", len(wanted))

    async def _cancel_orders_in(self, tickers: list[str]) -> None:
        """Cancel our working orders in markets no longer followed: without a book nothing would manage them."""
        while self._inflight.intersection(tickers):  # a send under way there: its orders are cancelled too
            await asyncio.sleep(0.01)
        intents = [CancelOrder(o.ticker, o.order_id) for t in tickers for o in self.orders.working(t)]
        for result in await self.orders.submit(intents):
            self._on_order_result(result)

    # --- the decision path (runs inside the WebSocket reader) ---

    def _on_frame(self, raw: bytes) -> Any:
        md = self.md
        frame = md.feed(raw)
        # The decision rule sees every frame, those before trading starts too (the subscription's
        # snapshots), as the training env's does: what they marked is due at the first decision.
        ticks = self.ticks
        quiet = ticks.quiet_ticks
        due = ticks.on_frame(md.changed, md.clock_ms)
        if ticks.quiet_ticks != quiet:  # boundaries passed with no frame to decide on
            self.metrics.tick_skipped(ticks.quiet_ticks - quiet)
        if due is not None:
            due |= self._deferred
            self._deferred = set()
            if due:
                if self.trading:
                    self._decide_safely(due)
                else:
                    self._deferred = due  # decided as soon as trading starts
        return frame

    def _decide_safely(self, due: Iterable[str]) -> None:
        """:meth:`_decide`, where a failure is reported and the feed goes on: the books stay exact, the next
        tick decides again (a decision raising inside the WebSocket's reader would drop the connection)."""
        try:
            self._decide(due)
        except Exception as exc:
            self.metrics.decision_error()
            self.decision_errors += 1
            message = f"decision failed: {type(exc).__name__}: {exc}"
            self._last_error = {"message": message, "ts_ms": _now_ms()}
            if self.decision_errors & (self.decision_errors - 1) == 0:  # 1, 2, 4, 8...: visible, never a flood
                log.exception("%s (%d so far)", message, self.decision_errors)

    def _decide(self, due: Iterable[str]) -> None:
        policy = self.policy
        md = self.md
        books = md.books
        started = time.perf_counter()
        tickers = []
        for ticker in sorted(due):
            if ticker in self._inflight:
                self._deferred.add(ticker)
                continue
            book = books.get(ticker)
            if book is not None and not book.stale and ticker in md.markets:
                tickers.append(ticker)
        if policy is None or not tickers:
            return
        portfolio, orders = self.portfolio, self.orders
        equity = portfolio.equity(books.books, policy.env_config.mark)
        now_ms = md.now_ms
        inputs = [MarketInput(books.books[t], md.history(t), md.markets[t], now_ms, portfolio.positions.get(t),
                              orders.working(t), portfolio.cash, equity) for t in tickers]
        obs = self.builder.build(inputs)
        config = policy.action_config
        actions = policy.predict(obs, self._masks(config, tickers) if policy.masked else None)
        self.metrics.observe_inference(policy.last_latency_s, len(tickers))
        intents: list[OrderIntent] = []
        for ticker, action in zip(tickers, actions.tolist()):
            position = portfolio.positions.get(ticker)
            intents += intents_for_action(action, books.books[ticker], md.markets[ticker].grid,
                                          position.count if position else 0, orders.working(ticker), config,
                                          book_has_own_orders=True)
            name = _action_name(config, action)
            self.action_counts[name] = self.action_counts.get(name, 0) + 1
            self.events.publish("actor_action", {"market_ticker": ticker, "action": action, "action_name": name,
                                                 "model_id": policy.model_id, "exchange_ts_ms": now_ms})
        self.decisions += 1
        decision = self.risk.check(intents, portfolio, orders.orders(), books.books)
        if decision.transition is not None:
            self._on_risk_transition(decision.transition)
        for intent, reason in decision.rejected:
            self.metrics.order(_action_of(intent), "blocked")
            self.events.publish("actor_order", {"market_ticker": intent.ticker, "status": "blocked", "reason": reason,
                                                **_intent_data(intent)})
        if decision.allowed:
            sending = {i.ticker for i in decision.allowed}
            self._inflight |= sending
            self._spawn(self._send(decision.allowed, sending, started), "send")
        self.metrics.observe_tick(time.perf_counter() - started)

    def _masks(self, config: Any, tickers: list[str]) -> np.ndarray:
        """The actions allowed in each market now: the training env's masks, with the risk layer's position limit."""
        books, md, limit = self.md.books.books, self.md, self.config.risk.max_position
        return np.stack([action_mask(config, books[t], self.portfolio.positions.get(t) or 0, self.orders.working(t),
                                     limit, book_has_own_orders=True, grid=md.markets[t].grid) for t in tickers])

    async def _send(self, intents: list[OrderIntent], tickers: set[str], started: float) -> None:
        try:
            results = await self.orders.submit(intents)
        finally:
            self._inflight -= tickers
        self.metrics.observe_decision(time.perf_counter() - started)
        for result in results:
            self._on_order_result(result)

    def _on_order_result(self, result: OrderResult) -> None:
        self.metrics.order(result.action, _ACCEPTED.get(result.outcome, "error"))
        if result.outcome == "rejected":
            self.metrics.reject(result.code)
        data = {"market_ticker": result.ticker, "status": result.outcome, "order_id": result.order_id,
                "client_order_id": result.client_order_id, "action": result.action, **_intent_data(result.intent)}
        if result.outcome in ("rejected", "refused", "unknown"):
            data["reason"] = result.code or result.message
            data["message"] = result.message
        self.events.publish("actor_order", data)

    def _on_risk_transition(self, transition: Any) -> None:
        self.metrics.set_risk_state(transition.state, self.config.paused)
        log.warning("risk: %s -> %s (%s)", transition.previous.name, transition.state.name, transition.reason)
        self._publish_status(f"risk {transition.state.name}: {transition.reason}")

    # --- private channels ---

    def _on_event(self, frame: Any) -> None:
        if type(frame) is F.EventFeeUpdateFrame:
            self._on_fee_override(frame.msg)
        else:
            self.orders.on_frame(frame)

    def _on_fee_override(self, msg: F.EventFeeUpdateMsg) -> None:
        """An event's fee override set or cleared: its markets' schedules (the holds of resting orders, the
        fees the observation and risk reckon) follow at once; cleared, the series' schedule applies again."""
        changed: dict[str, FeeSchedule] = {}
        for ticker, event in self._event_of.items():
            info = self.md.markets.get(ticker)
            if event != msg.event_ticker or info is None:
                continue
            if msg.cleared:
                schedule = self._series_fees.get(ticker, FeeSchedule.of())
            else:
                multiplier = 1 if msg.fee_multiplier_override is None else msg.fee_multiplier_override
                schedule = FeeSchedule.of(msg.fee_type_override, multiplier)
            self.md.add_market(MarketInfo(ticker, info.grid, info.close_time_ms, schedule))
            changed[ticker] = schedule
        if changed:
            self.orders.set_fee_schedules(changed)
            log.info("fees of event %s now %s for %s", msg.event_ticker,
                     "its series'" if msg.cleared else f"{msg.fee_type_override} x{msg.fee_multiplier_override}",
                     sorted(changed))

    def _on_fill(self, fill: FillEvent) -> None:
        self.metrics.fill(fill.side, fill.is_taker, fill.count)
        self.events.publish("actor_fill", {"market_ticker": fill.ticker, "order_id": fill.order_id, "side": fill.side,
                                           "price": format_price(fill.price), "count": format_count(fill.count),
                                           "fee": format_money(fill.fee), "is_taker": fill.is_taker,
                                           "trade_id": fill.trade_id, "exchange_ts_ms": fill.ts_ms})
        self.events.publish("actor_position", self._position_data(fill.ticker))

    # --- periodic work ---

    async def _every(self, seconds: float, job) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception as exc:  # one failed round must not end the job
                self._error(f"{getattr(job, '__name__', job)}: {exc}")

    async def _reconcile_when_due(self) -> None:
        """Every RECONCILE_EVERY_S, and early when the order manager asks (``reconcile_due``): an order
        with an unknown outcome blocks its market and side until a reconciliation resolves it."""
        now = time.monotonic()
        if self.orders.reconcile_due or now - self._reconciled_at >= RECONCILE_EVERY_S:
            self._reconciled_at = now
            await self._reconcile()

    async def _reconcile(self) -> None:
        report = await self.orders.reconcile()
        if report is not None and getattr(report, "mismatches", None):
            log.warning("reconciliation healed: %s", report)

    async def _publish_pnl(self) -> None:
        pnl = self._pnl()
        books = self.md.books.books
        mark = self._mark()
        for ticker, pos in self.portfolio.positions.items():
            if ticker in self.tickers:
                self.metrics.set_market(ticker, position=pos.count, realized=pos.realized_pnl,
                                        unrealized=self.portfolio.unrealized_pnl(books, mark, ticker),
                                        fees=pos.fees_paid, exposure=pos.cost_basis)
        self.metrics.set_account(cash=self.portfolio.cash, exposure=self.portfolio.exposure,
                                 realized=self.portfolio.realized_pnl, unrealized=self.portfolio.unrealized_pnl(books, mark),
                                 fees=self.portfolio.fees_paid)
        self.metrics.set_exchange_connected(self.ws.connected)
        self.metrics.set_risk_state(self.risk.state, self.config.paused)
        stale = [t for t in self.tickers if (b := self.md.books.get(t)) is None or b.stale]
        now_ms = _now_ms()  # book age: since the exchange time of the book's last change (when the feed gives one)
        ages = {t: max(0.0, (now_ms - b.ts_ms) / 1000) for t in self.tickers
                if (b := self.md.books.get(t)) is not None and b.ts_ms is not None}
        self.metrics.set_books(len(stale), ages)
        self.events.publish("actor_pnl", pnl)
        self._publish_positions()
        if self.ws.connected != self._reported_connected:
            self._publish_status("exchange connected" if self.ws.connected else "exchange connection lost")
        if self.trading:  # the risk state also moves with prices, not only with our orders
            decision = self.risk.check([], self.portfolio, self.orders.orders(), books)
            if decision.transition is not None:
                self._on_risk_transition(decision.transition)
            if decision.allowed:
                for result in await self.orders.submit(decision.allowed):
                    self._on_order_result(result)

    # --- models and hot reload ---

    async def _load_model(self, model_id: str) -> Policy:
        """Load and validate off the loop, then swap between ticks (one assignment on the loop)."""
        wanted = model_id or None
        try:
            policy = await asyncio.to_thread(Policy.load, self.registry, wanted)
        except Exception as exc:
            self.metrics.model_load_failed()
            self._last_reload = {"ok": False, "model_id": model_id or "latest", "message": str(exc), "ts_ms": _now_ms()}
            self.events.publish("actor_model", self._model_data())
            self._error(f"model {model_id or 'latest'}: {exc}")
            raise
        self.policy = policy
        self._loaded_at_ms = _now_ms()
        self.metrics.model_loaded(policy.model_id, self._algorithm(policy))
        self._last_reload = {"ok": True, "model_id": policy.model_id, "message": "loaded", "ts_ms": _now_ms()}
        if round(self.config.tick_interval * 1000) != policy.env_config.tick_interval_ms:
            log.warning("tick interval %.3fs differs from the model's training tick %.3fs: observations drift "
                        "from training", self.config.tick_interval, policy.env_config.tick_interval_s)
        self.events.publish("actor_model", self._model_data())
        log.info("serving model %s", policy.model_id)
        return policy

    async def apply_config(self, changes: dict[str, Any]) -> ConfigChange:
        change = apply_changes(self.config, changes)
        new = change.config
        reload = "model_id" in change.applied or (changes.get("model_id") == "" and not new.model_id)
        if reload:
            try:
                await self._load_model(new.model_id)
            except Exception as exc:
                change = change.refuse("model_id", f"the model did not load; the serving one keeps serving: {exc}")
        if "tick_interval" in change.applied:
            self.ticks.set_interval(round(new.tick_interval * 1000))
        if "risk" in change.applied:
            self.risk.set_limits(RiskLimits.of(new.risk))
        if "paused" in change.applied:
            self.risk.set_paused(new.paused)
            if new.paused:
                for result in await self.orders.cancel_all_own():
                    self._on_order_result(result)
        if {"market_limit", "market_tickers", "market_mode"} & change.applied.keys() and self._book_sub is not None:
            previous, self.config = self.config, change.config
            try:
                await self._follow(await self._choose_markets())
            except (MarketSelectionError, KalshiError, WSCommandError) as exc:
                self.config = previous
                for name in {"market_limit", "market_tickers", "market_mode"} & change.applied.keys():
                    change = change.refuse(name, f"the markets could not be changed: {exc}")
        self.config = change.config  # (the app counts the change in the metrics: admin and file alike)
        self._publish_status("configuration changed")
        return change

    # --- reads (health, snapshot) ---

    def health(self) -> Health:
        books = self.md.books
        fresh = bool(self.tickers) and all((b := books.get(t)) is not None and not b.stale for t in self.tickers)
        return Health(connected=self.ws.connected, books_fresh=fresh, risk_state=self.risk.state.name,
                      active_model=self._model_data()["active"], markets=list(self.tickers),
                      last_reload=self._last_reload, last_error=self._last_error, alive=self._alive,
                      details={"trading": self.trading, "decisions": self.decisions,
                               "decision_errors": self.decision_errors,
                               "ticks": self.ticks.ticks, "ws": self.ws.stats.as_dict(),
                               "environment": self.config.environment})

    def snapshot(self) -> dict[str, Any]:
        return {"status": self._status_data("snapshot"), "model": self._model_data(),
                "positions": [self._position_data(t) for t in self._traded()],
                "pnl": self._pnl()}

    def _mark(self) -> str:
        return self.policy.env_config.mark if self.policy is not None else "bid"

    def _pnl(self) -> dict[str, Any]:
        p, books = self.portfolio, self.md.books.books
        unrealized = p.unrealized_pnl(books, self._mark())
        decided = sum(self.action_counts.values())
        return {"cash": format_money(p.cash), "realized": format_money(p.realized_pnl),
                "unrealized": format_money(unrealized), "fees": format_money(p.fees_paid),
                "total": format_money(p.realized_pnl + unrealized - p.fees_paid),
                "exposure": format_money(p.exposure),
                "action_shares": {n: round(c / decided, 4) for n, c in sorted(self.action_counts.items())}}

    def _position_data(self, ticker: str) -> dict[str, Any]:
        pos = self.portfolio.position(ticker)
        books = self.md.books.books
        working = self.orders.working(ticker)
        return {"market_ticker": ticker, "position": format_count(pos.count), "cost_basis": format_money(pos.cost_basis),
                "realized": format_money(pos.realized_pnl), "fees": format_money(pos.fees_paid),
                "unrealized": format_money(self.portfolio.unrealized_pnl(books, self._mark(), ticker)),
                "resting_orders": len(working), "mark": _mark_of(pos.count, self.md.books.get(ticker), self._mark()),
                "orders": [_working_data(o) for o in working], "book": _book_data(self.md.books.get(ticker))}

    def _traded(self) -> list[str]:
        """The markets with a position (open or closed) or resting orders of ours."""
        resting = {t for t in self.tickers if self.orders.working(t)}
        return sorted(resting.union(self.portfolio.positions))

    def _publish_positions(self) -> None:
        """Re-publish the traded markets whose figures moved (mark, book, resting orders): the view stays live."""
        for ticker in self._traded():
            data = self._position_data(ticker)
            if data != self._published_positions.get(ticker):
                self._published_positions[ticker] = data
                self.events.publish("actor_position", data)

    def _model_data(self) -> dict[str, Any]:
        policy = self.policy
        active = None if policy is None else {"id": policy.model_id, "algorithm": self._algorithm(policy),
                                              "loaded_at_ms": self._loaded_at_ms,
                                              "tick_interval_s": policy.env_config.tick_interval_s}
        return {"active": active, "target": self.config.model_id or "latest", "last_reload": self._last_reload,
                "evaluation": _evaluation_summary(policy)}

    def _status_data(self, message: str) -> dict[str, Any]:
        return {"name": self.config.name, "environment": self.config.environment, "message": message,
                "trading": self.trading, "connected": self.ws.connected, "risk_state": self.risk.state.name,
                "paused": self.config.paused, "markets": len(self.tickers), "started_ms": self._started_ms}

    def _publish_status(self, message: str) -> None:
        self._reported_connected = self.ws.connected
        self.events.publish("actor_status", self._status_data(message))

    @staticmethod
    def _algorithm(policy: Policy) -> str:
        record = policy.record
        return record.metadata.algorithm if record is not None else "ppo"

    def _error(self, message: str) -> None:
        log.error("%s", message)
        self._last_error = {"message": message, "ts_ms": _now_ms()}

    def _spawn(self, coro: Any, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=f"actor-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._error(f"{task.get_name()} failed: {type(exc).__name__}: {exc}")
            if task.get_name() == "actor-startup":
                self._alive = False  # nothing will trade: let the liveness probe restart the pod


def _evaluation_summary(policy: Policy | None) -> dict[str, Any] | None:
    """What the model's stored evaluation says of it: its action shares there (named as live: upper case) and each
    baseline's verdict; None for a model stored without one."""
    record = policy.record if policy is not None else None
    evaluation = record.metadata.evaluation if record is not None else None
    if not evaluation:
        return None
    policies = evaluation.get("policies") or {}
    subject = evaluation.get("subject") or next(iter(policies), None)
    shares = (policies.get(subject) or {}).get("actions") or {}
    return {"subject": subject, "episodes": (policies.get(subject) or {}).get("episodes"),
            "action_shares": {name.upper(): share for name, share in shares.items()},
            "verdicts": {c["baseline"]: {"verdict": c.get("verdict"), "mean": c.get("mean"), "low": c.get("low"),
                                         "high": c.get("high")} for c in evaluation.get("comparisons") or []}}


def _action_name(config: Any, action: int) -> str:
    """The event contract's name of an action (``"BUY_YES_LIMIT"``), from the model's own action config."""
    names = getattr(config, "action_names", None)
    return names[action].upper() if names is not None else Action(action).name


def _action_of(intent: OrderIntent) -> str:
    return {"PlaceOrder": "place", "AmendOrder": "amend", "CancelOrder": "cancel"}[type(intent).__name__]


def _intent_data(intent: OrderIntent) -> dict[str, Any]:
    data: dict[str, Any] = {"intent": _action_of(intent)}
    for name in ("side", "price", "count"):
        value = getattr(intent, name, None)
        if value is not None:
            data[name] = format_price(value) if name == "price" else format_count(value) if name == "count" else value
    return data


def _mark_of(count: int, book: Book | None, mark: str) -> str | None:
    """One contract of the held side at ``mark``, in dollars (None when flat or unpriced)."""
    if not count or book is None:
        return None
    bid = book.best_yes_bid_price if count > 0 else book.best_no_bid_price
    if bid is None:
        return None
    return format_money(mark_value(COUNT_SCALE if count > 0 else -COUNT_SCALE, book, mark))


def _working_data(order: WorkingOrder) -> dict[str, Any]:
    return {"order_id": order.order_id, "side": order.side, "price": format_price(order.price),
            "remaining": format_count(order.remaining), "filled": format_count(order.filled)}


def _book_data(book: Book | None) -> dict[str, Any] | None:
    """The top of a book (YES and NO bids, best first, ``[price, size]``), bounded by BOOK_LEVELS."""
    if book is None:
        return None
    return {"yes": [[format_price(p), format_count(n)] for p, n in book.bids("yes", BOOK_LEVELS)],
            "no": [[format_price(p), format_count(n)] for p, n in book.bids("no", BOOK_LEVELS)],
            "stale": book.stale, "ts_ms": book.ts_ms}
