"""The actor's Prometheus metrics, in their own registry, behind a small typed API.

Every name starts with ``kalshi_actor_``. The loop calls :class:`ActorMetrics` methods with
the project's units (money in micros, counts in hundredths, durations in seconds); the
metrics show dollars and contracts. Labels are bounded: enums (action, result, side,
kind, state) are checked, reject reasons are capped (:data:`MAX_REJECT_REASONS`, then
``"other"``), and per-market series exist only for the markets traded: :meth:`set_markets`
(the traded set) removes the series of every market that left it.

===========================================  ==========  ====================================
name (``kalshi_actor_`` + ...)                type        labels
===========================================  ==========  ====================================
decision_latency_seconds                     histogram   book change received -> order sent
inference_latency_seconds                    histogram   one batched forward pass
inference_batch_size                         histogram   markets per forward pass
tick_duration_seconds                        histogram
ticks_total / ticks_skipped_total            counter     skipped: late ticks not run
book_frames_total                            counter     kind = snapshot | delta (the feed's own counts)
sequence_gaps_total / resyncs_total          counter     the feed's own counts
books_stale                                  gauge       markets whose book is stale or gapped
book_age_seconds                             gauge       market: since its book last changed
orders_total                                 counter     action, result
rejects_total                                counter     reason (the exchange's error code)
fills_total / fill_contracts_total           counter     side, liquidity = maker | taker
position_contracts                           gauge       market (+YES / -NO)
market_pnl_dollars                           gauge       market, kind
market_exposure_dollars                      gauge       market
pnl_dollars                                  gauge       kind = realized | unrealized | fees | total
cash_dollars / exposure_dollars              gauge
markets                                      gauge       markets traded
risk_state                                   gauge       state = ACTIVE | REDUCING | HALTED (1 = current)
paused                                       gauge
model_info                                   info        model_id, algorithm
model_loaded_timestamp_seconds               gauge
model_reloads_total                          counter     result = ok | failed
config_changes_total                         counter     result = applied | refused (fields)
exchange_connected                           gauge       1 = connected
exchange_reconnects_total                    counter     the feed's own count
ws_clients / ws_clients_dropped_total        gauge/ctr   the event hub's WebSocket clients
events_total                                 counter     type (events published)
===========================================  ==========  ====================================
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..units import COUNT_SCALE, MONEY_SCALE, Count, Money

if TYPE_CHECKING:
    from ..kalshi.ws import WSStats
    from .events import EventHub

__all__ = [
    "CONTENT_TYPE_LATEST",
    "MAX_REJECT_REASONS",
    "ORDER_ACTIONS",
    "ORDER_RESULTS",
    "PREFIX",
    "RISK_STATES",
    "ActorMetrics",
]

PREFIX = "kalshi_actor_"
RISK_STATES = ("ACTIVE", "REDUCING", "HALTED")
ORDER_ACTIONS = ("place", "amend", "cancel")
ORDER_RESULTS = ("accepted", "rejected", "error", "blocked")  # blocked: by a risk check, never sent
PNL_KINDS = ("realized", "unrealized", "fees", "total")
MAX_REJECT_REASONS = 32
MAX_MARKETS = 1000  # the largest market_limit

# 100 µs .. 1 s, roughly 1-2.5-5 per decade; decision latency adds a few seconds (a tick can wait)
_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_DECISION_BUCKETS = (*_LATENCY_BUCKETS, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def _dollars(money: Money) -> float:
    return money / MONEY_SCALE


def _contracts(count: Count) -> float:
    return count / COUNT_SCALE


class ActorMetrics:
    """The actor's metrics. ``registry`` is private to this object (never the global one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        p = PREFIX
        self._decision = Histogram(f"{p}decision_latency_seconds", "Book change received to order sent.",
                                   buckets=_DECISION_BUCKETS, registry=r)
        self._inference = Histogram(f"{p}inference_latency_seconds", "One batched forward pass of the policy.",
                                    buckets=_LATENCY_BUCKETS, registry=r)
        self._batch = Histogram(f"{p}inference_batch_size", "Markets decided in one forward pass.",
                                buckets=_BATCH_BUCKETS, registry=r)
        self._tick = Histogram(f"{p}tick_duration_seconds", "Duration of one tick (observe, infer, act).",
                               buckets=_LATENCY_BUCKETS, registry=r)
        self._ticks = Counter(f"{p}ticks", "Ticks run.", registry=r)
        self._skipped = Counter(f"{p}ticks_skipped", "Ticks skipped because the previous one ran late.", registry=r)
        self._decision_errors = Counter(f"{p}decision_errors", "Decisions that raised (the feed went on; the health "
                                        "endpoint's last_error says why).", registry=r)
        self._stale = Gauge(f"{p}books_stale", "Markets whose book is stale or gapped.", registry=r)
        self._book_age = Gauge(f"{p}book_age_seconds", "Seconds since a market's book last changed.", ["market"],
                               registry=r)
        orders = Counter(f"{p}orders", "Order requests by action and result.", ["action", "result"], registry=r)
        self._orders = {(a, res): orders.labels(a, res) for a in ORDER_ACTIONS for res in ORDER_RESULTS}
        self._rejects = Counter(f"{p}rejects", "Orders rejected by the exchange, by error code.", ["reason"],
                                registry=r)
        self._reasons: set[str] = set()
        fills = Counter(f"{p}fills", "Fills of our orders.", ["side", "liquidity"], registry=r)
        contracts = Counter(f"{p}fill_contracts", "Contracts filled.", ["side", "liquidity"], registry=r)
        self._fills = {(s, liq): (fills.labels(s, liq), contracts.labels(s, liq))
                       for s in ("yes", "no") for liq in ("maker", "taker")}
        self._position = Gauge(f"{p}position_contracts", "Position per market: +YES / -NO contracts.", ["market"],
                               registry=r)
        self._market_pnl = Gauge(f"{p}market_pnl_dollars", "P&L per market, dollars.", ["market", "kind"],
                                 registry=r)
        self._market_exposure = Gauge(f"{p}market_exposure_dollars",
                                      "Cost of a market's open position and resting orders, dollars.", ["market"],
                                      registry=r)
        pnl = Gauge(f"{p}pnl_dollars", "Account P&L, dollars (total = realized + unrealized - fees).", ["kind"],
                    registry=r)
        self._pnl = {kind: pnl.labels(kind) for kind in PNL_KINDS}
        self._cash = Gauge(f"{p}cash_dollars", "All cash (free and held by resting orders), dollars.", registry=r)
        self._exposure = Gauge(f"{p}exposure_dollars", "Total exposure, dollars.", registry=r)
        self._markets_gauge = Gauge(f"{p}markets", "Markets traded.", registry=r)
        risk = Gauge(f"{p}risk_state", "Risk state: 1 for the current state, 0 for the others.", ["state"],
                     registry=r)
        self._risk = {state: risk.labels(state) for state in RISK_STATES}
        self._paused = Gauge(f"{p}paused", "1 when paused by configuration.", registry=r)
        self._model = Info(f"{p}model", "The serving model.", registry=r)
        self._model_loaded = Gauge(f"{p}model_loaded_timestamp_seconds", "When the serving model was loaded.",
                                   registry=r)
        reloads = Counter(f"{p}model_reloads", "Model (re)loads by result.", ["result"], registry=r)
        self._reloads = {res: reloads.labels(res) for res in ("ok", "failed")}
        changes = Counter(f"{p}config_changes", "Configuration fields changed live, by result.", ["result"],
                          registry=r)
        self._changes = {res: changes.labels(res) for res in ("applied", "refused")}
        self._connected = Gauge(f"{p}exchange_connected", "1 when connected to the exchange.", registry=r)
        self._markets: set[str] = set()
        self._hub_collector: _EventHubCollector | None = None
        self._feed_collector: _FeedCollector | None = None

    # --- decisions ---

    def observe_decision(self, seconds: float) -> None:
        """Book change received -> order sent, for one order."""
        self._decision.observe(seconds)

    def observe_inference(self, seconds: float, batch_size: int) -> None:
        self._inference.observe(seconds)
        self._batch.observe(batch_size)

    def observe_tick(self, seconds: float) -> None:
        self._ticks.inc()
        self._tick.observe(seconds)

    def decision_error(self) -> None:
        self._decision_errors.inc()

    def tick_skipped(self, count: int = 1) -> None:
        self._skipped.inc(count)

    # --- market data ---

    def track_feed(self, stats: WSStats) -> None:
        """Expose the exchange feed's own counters (frames applied, gaps, resyncs, reconnects), read at
        scrape time from the client's :class:`~kalshi_actor.kalshi.ws.WSStats`: one source, never a copy
        that can lag or be forgotten."""
        if self._feed_collector is None:
            self._feed_collector = _FeedCollector(stats)
            self.registry.register(self._feed_collector)
        else:
            self._feed_collector.stats = stats

    def set_books(self, stale: int, ages_s: Mapping[str, float] | None = None) -> None:
        """How many books are stale, and (optionally) each traded market's book age in seconds."""
        self._stale.set(stale)
        for ticker, age in (ages_s or {}).items():
            if self._track(ticker):
                self._book_age.labels(ticker).set(age)

    # --- orders and fills ---

    def order(self, action: Literal["place", "amend", "cancel"],
              result: Literal["accepted", "rejected", "error", "blocked"]) -> None:
        """One order request. ``blocked``: stopped by a risk check before it was sent."""
        try:
            self._orders[(action, result)].inc()
        except KeyError:
            raise ValueError(f"order(action={action!r}, result={result!r}): action is one of {ORDER_ACTIONS}, "
                             f"result one of {ORDER_RESULTS}") from None

    def reject(self, reason: str) -> None:
        """An exchange rejection, by its error code (e.g. ``insufficient_balance``)."""
        reason = reason or "unknown"
        if reason not in self._reasons:
            if len(self._reasons) >= MAX_REJECT_REASONS:
                reason = "other"
            self._reasons.add(reason)
        self._rejects.labels(reason).inc()

    def fill(self, side: Literal["yes", "no"], is_taker: bool, count: Count) -> None:
        fills, contracts = self._fills[(side, "taker" if is_taker else "maker")]
        fills.inc()
        contracts.inc(_contracts(count))

    # --- positions and P&L (money in micros, counts in hundredths) ---

    def set_market(self, ticker: str, *, position: Count, realized: Money, unrealized: Money, fees: Money,
                   exposure: Money) -> None:
        """One traded market's figures (total = realized + unrealized - fees)."""
        if not self._track(ticker):
            return
        self._position.labels(ticker).set(_contracts(position))
        for kind, value in (("realized", realized), ("unrealized", unrealized), ("fees", fees),
                            ("total", realized + unrealized - fees)):
            self._market_pnl.labels(ticker, kind).set(_dollars(value))
        self._market_exposure.labels(ticker).set(_dollars(exposure))

    def set_account(self, *, cash: Money, exposure: Money, realized: Money, unrealized: Money, fees: Money) -> None:
        self._cash.set(_dollars(cash))
        self._exposure.set(_dollars(exposure))
        for kind, value in (("realized", realized), ("unrealized", unrealized), ("fees", fees),
                            ("total", realized + unrealized - fees)):
            self._pnl[kind].set(_dollars(value))

    def set_markets(self, tickers: Iterable[str]) -> None:
        """The markets traded now: every per-market series of a market not in ``tickers`` is removed."""
        wanted = list(dict.fromkeys(tickers))
        for ticker in self._markets - set(wanted):
            self.forget_market(ticker)
        for ticker in wanted:
            self._track(ticker)
        self._markets_gauge.set(len(wanted))

    def forget_market(self, ticker: str) -> None:
        """Remove a market's series (it is no longer traded)."""
        self._markets.discard(ticker)
        for gauge, labels in ((self._position, (ticker,)), (self._market_exposure, (ticker,)),
                              (self._book_age, (ticker,)),
                              *((self._market_pnl, (ticker, kind)) for kind in PNL_KINDS)):
            try:
                gauge.remove(*labels)
            except KeyError:
                pass

    def _track(self, ticker: str) -> bool:
        if ticker in self._markets:
            return True
        if len(self._markets) >= MAX_MARKETS:
            return False
        self._markets.add(ticker)
        return True

    @property
    def markets(self) -> frozenset[str]:
        """Markets that have per-market series."""
        return frozenset(self._markets)

    # --- state ---

    def set_risk_state(self, state: Any, paused: bool | None = None) -> None:
        """``state``: ``"ACTIVE"``, ``"REDUCING"`` or ``"HALTED"`` (or an enum with that ``name``)."""
        name = str(getattr(state, "name", state)).upper()
        if name not in self._risk:
            raise ValueError(f"unknown risk state {state!r}; expected one of {RISK_STATES}")
        for other, child in self._risk.items():
            child.set(1 if other == name else 0)
        if paused is not None:
            self._paused.set(1 if paused else 0)

    def model_loaded(self, model_id: str, algorithm: str, loaded_at_s: float | None = None) -> None:
        """The serving model changed (also counts a successful reload)."""
        self._model.info({"model_id": model_id, "algorithm": algorithm})
        self._model_loaded.set(time.time() if loaded_at_s is None else loaded_at_s)
        self._reloads["ok"].inc()

    def model_load_failed(self) -> None:
        """A model failed to load or validate (the serving one, if any, keeps serving)."""
        self._reloads["failed"].inc()

    def config_change(self, applied: int, refused: int) -> None:
        """Fields applied and refused by one configuration change (admin endpoint or file)."""
        self._changes["applied"].inc(applied)
        self._changes["refused"].inc(refused)

    def set_exchange_connected(self, connected: bool) -> None:
        self._connected.set(1 if connected else 0)

    def track_event_hub(self, hub: EventHub) -> None:
        """Expose the hub's clients, drops and event counts (read at scrape time). Idempotent."""
        if self._hub_collector is None:
            self._hub_collector = _EventHubCollector(hub)
            self.registry.register(self._hub_collector)
        else:
            self._hub_collector.hub = hub

    # --- exposition ---

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


class _FeedCollector(Collector):
    def __init__(self, stats: WSStats | None) -> None:
        self.stats = stats

    def describe(self) -> list[Any]:
        return _FeedCollector(None).collect()

    def collect(self) -> list[Any]:
        stats = self.stats
        frames = CounterMetricFamily(f"{PREFIX}book_frames", "Order book frames applied.", labels=["kind"])
        gaps = CounterMetricFamily(f"{PREFIX}sequence_gaps", "Sequence gaps on the book feed.")
        resyncs = CounterMetricFamily(f"{PREFIX}resyncs", "Book re-synchronisations (a snapshot asked for after a "
                                                          "gap or an impossible delta).")
        reconnects = CounterMetricFamily(f"{PREFIX}exchange_reconnects", "Reconnections to the exchange.")
        if stats is not None:
            frames.add_metric(["snapshot"], stats.snapshots)
            frames.add_metric(["delta"], stats.deltas)
            gaps.add_metric([], stats.gaps)
            resyncs.add_metric([], stats.resyncs)
            reconnects.add_metric([], stats.reconnects)
        return [frames, gaps, resyncs, reconnects]


class _EventHubCollector(Collector):
    def __init__(self, hub: EventHub) -> None:
        self.hub = hub

    def describe(self) -> list[Any]:
        return list(self._families(None))

    def collect(self) -> Iterable[Any]:
        return self._families(self.hub)

    @staticmethod
    def _families(hub: EventHub | None) -> list[Any]:
        clients = GaugeMetricFamily(f"{PREFIX}ws_clients", "WebSocket clients of /rl/actor/ws.")
        dropped = CounterMetricFamily(f"{PREFIX}ws_clients_dropped", "WebSocket clients dropped for being slow.")
        events = CounterMetricFamily(f"{PREFIX}events", "Events published, by type.", labels=["type"])
        if hub is not None:
            clients.add_metric([], hub.client_count)
            dropped.add_metric([], hub.dropped_clients)
            for kind, count in hub.published.items():
                events.add_metric([kind], count)
        return [clients, dropped, events]
