"""The live order manager against the simulator (real sockets on 127.0.0.1, no mocks of our code).

Our account trades through the manager (REST) and hears its fills on the WebSocket; a
counterparty account trades straight on the engine to cross our orders. At every check the
manager's working orders and the portfolio must equal the exchange's own figures exactly.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from kalshi_actor.actor.orders import LiveOrderManager
from kalshi_actor.kalshi import frames as F
from kalshi_actor.kalshi.rest import RateLimits, RestClient, RetryPolicy
from kalshi_actor.kalshi.ws import KalshiWebSocket
from kalshi_actor.sim.types import OrderStatus, TimeInForce
from kalshi_actor.trading.actions import ActionConfig, intents_for_action
from kalshi_actor.trading.fees import FeeSchedule
from kalshi_actor.trading.portfolio import Portfolio
from kalshi_actor.trading.types import Action, AmendOrder, CancelOrder, PlaceOrder
from kalshi_actor.units import ONE_DOLLAR, parse_count, parse_money, parse_price
from support import books_match_engine, until

P, C, M = parse_price, parse_count, parse_money
PREFIX = "ka-test-"
MAKER = "test-counterparty"
FAST = RetryPolicy(attempts=8, base_delay_s=0.001, max_delay_s=0.01)
UNLIMITED = RateLimits(read_per_s=0, write_per_s=0)


@dataclass
class Desk:
    """The simulator, our REST client, one manager and (optionally) its WebSocket."""

    running: object
    rest: RestClient
    manager: LiveOrderManager
    tickers: list[str]
    ws: KalshiWebSocket | None = None

    @property
    def sim(self):
        return self.running.sim  # type: ignore[attr-defined]

    @property
    def engine(self):
        return self.sim.engine

    @property
    def account(self) -> str:
        return self.running.key.key_id  # type: ignore[attr-defined]

    def new_manager(self, **options) -> LiveOrderManager:
        return LiveOrderManager(self.rest, new_portfolio(self.engine), PREFIX, **options)

    async def connect(self, manager: LiveOrderManager | None = None, *, books: bool = False) -> KalshiWebSocket:
        manager = manager or self.manager
        ws = KalshiWebSocket(self.running.signer, self.running.urls.ws, on_event=manager.on_frame)  # type: ignore[attr-defined]
        await ws.__aenter__()
        await ws.subscribe(["fill", "user_orders", "market_positions", "market_lifecycle_v2"])
        if books:
            await ws.subscribe(["orderbook_delta"], self.tickers)
            manager.books = ws.store
        self.ws = ws
        return ws

    def resting(self) -> dict[str, tuple[str, str, int, int]]:
        """The engine's resting orders of our account: order id -> (ticker, side, price, remaining)."""
        return {o.order_id: (o.ticker, o.side, o.price, o.remaining)
                for o in self.engine.resting_orders(self.account)}

    def working(self, manager: LiveOrderManager | None = None) -> dict[str, tuple[str, str, int, int]]:
        manager = manager or self.manager
        return {o.order_id: (o.ticker, o.side, o.price, o.remaining) for o in manager.orders()}

    def exchange_figures(self) -> dict:
        acct = self.engine.accounts[self.account]
        tickers = set(acct.positions) | set(acct.realized_pnl) | set(acct.fees_paid)
        return {
            "balance": acct.balance,
            "positions": {t: (acct.positions.get(t, 0), acct.cost_basis.get(t, 0), acct.realized_pnl.get(t, 0),
                              acct.fees_paid.get(t, 0)) for t in tickers},
            "realized": sum(acct.realized_pnl.values()),
            "fees": sum(acct.fees_paid.values()),
        }

    def portfolio_figures(self, manager: LiveOrderManager | None = None) -> dict:
        p = (manager or self.manager).portfolio
        acct = self.engine.accounts[self.account]
        tickers = set(acct.positions) | set(acct.realized_pnl) | set(acct.fees_paid)
        return {
            "balance": p.available,
            "positions": {t: (p.position(t).count, p.position(t).cost_basis, p.position(t).realized_pnl,
                              p.position(t).fees_paid) for t in tickers},
            "realized": p.realized_pnl,
            "fees": p.fees_paid,
        }

    def our_fills(self) -> int:
        return len(self.sim.ledger.fills.get(self.account, []))

    async def settled(self, manager: LiveOrderManager | None = None) -> None:
        """Wait until every fill and order update of ours has come through the WebSocket."""
        manager = manager or self.manager
        await until(lambda: manager.stats.fills + manager.stats.foreign_fills >= self.our_fills()
                    and self.working(manager) == self.resting())


def new_portfolio(engine) -> Portfolio:
    """A portfolio that knows each market's fees (for the holds of resting orders); cash comes from reconcile."""
    fees = {t: FeeSchedule.of(m.fee_type, m.fee_multiplier) for t, m in engine.markets.items()}
    return Portfolio(0, fees=fees)


@pytest.fixture
async def desk(sim_server) -> AsyncIterator[Desk]:
    engine = sim_server.sim.engine
    engine.open_account(MAKER, M("1000000"))
    async with RestClient(sim_server.urls.rest, sim_server.signer, retry=FAST, limits=UNLIMITED) as rest:
        d = Desk(sim_server, rest, None, list(engine.markets))  # type: ignore[arg-type]
        d.manager = d.new_manager()
        try:
            yield d
        finally:
            if d.ws is not None:
                await d.ws.close()


def inside(engine, ticker: str, side: str) -> int:
    """A price one cent above the side's best bid and below its ask (our order is the best bid, alone)."""
    yes, no = engine.best_bids(ticker)
    best, other = (yes, no) if side == "yes" else (no, yes)
    price = (best // 100 + 1) * 100 if best else P("0.05")
    assert price + other < ONE_DOLLAR, "no room inside the spread"
    return price


def cross(engine, ticker: str, side: str, price: int, count: int) -> None:
    """The counterparty takes ``count`` from the best bid of ``side`` at ``price`` (an IOC on the other side)."""
    other = "no" if side == "yes" else "yes"
    engine.place_order(MAKER, ticker, other, ONE_DOLLAR - price, count, time_in_force=TimeInForce.IOC)


# --- sending ---


async def test_place_amend_cancel_track_the_engine(desk: Desk) -> None:
    m = desk.manager
    await m.reconcile(startup=True)
    assert m.portfolio.available == desk.sim.initial_balance
    t0, t1 = desk.tickers[:2]
    yes0, no0, yes1 = inside(desk.engine, t0, "yes"), inside(desk.engine, t0, "no"), inside(desk.engine, t1, "yes")
    results = await m.submit([PlaceOrder(t0, "yes", yes0, C("3")), PlaceOrder(t0, "no", no0, C("2")),
                              PlaceOrder(t1, "yes", yes1, C("1.5"))])
    assert [r.outcome for r in results] == ["placed"] * 3
    assert all(r.client_order_id.startswith(PREFIX) for r in results)
    assert desk.working() == desk.resting() and len(desk.resting()) == 3
    engine_order = desk.engine.orders[results[1].order_id]
    assert (engine_order.side, engine_order.price) == ("no", no0)  # a NO bid at q: an ask at 1 - q on the wire
    assert m.portfolio.available == desk.engine.accounts[desk.account].balance  # holds agree

    yes_order = next(o for o in m.working(t0) if o.side == "yes")
    placed_ts = yes_order.placed_ts_ms
    desk.sim.world.run_for(1_000)  # time passes; the amend must keep the order's age
    moved = await m.submit([AmendOrder(t0, yes_order.order_id, "yes", yes0 - 100, C("4"))])
    assert moved[0].outcome == "amended" and moved[0].remaining == C("4")
    assert yes_order.price == yes0 - 100 and yes_order.placed_ts_ms == placed_ts
    assert desk.working() == desk.resting()

    cancelled = await m.submit([CancelOrder(t1, results[2].order_id)])
    assert cancelled[0].outcome == "cancelled" and m.working(t1) == []
    assert desk.working() == desk.resting() and len(desk.resting()) == 2
    assert m.portfolio.available == desk.engine.accounts[desk.account].balance


async def test_rejections_carry_kalshis_code_and_crash_nothing(desk: Desk) -> None:
    m = desk.manager
    await m.reconcile(startup=True)
    t = next(t for t, mk in desk.engine.markets.items() if mk.price_level_structure == "linear_cent")
    results = await m.submit([
        PlaceOrder(t, "yes", P("0.2050"), C("1")),  # not on a one-cent grid
        PlaceOrder(t, "no", P("0.02"), C("10000000")),  # $200,000 of NO: more than the balance
        AmendOrder(t, "no-such-order", "yes", P("0.10"), C("1")),
    ])
    assert [r.outcome for r in results] == ["rejected", "rejected", "refused"]
    assert (results[0].code, results[0].status) == ("invalid_price", 400)
    assert results[1].code == "insufficient_balance" and results[1].message
    assert m.stats.rejects == 2 and desk.resting() == {} and m.orders() == []
    placed = await m.submit([PlaceOrder(t, "yes", P("0.02"), C("1"))])
    busy = await m.submit([PlaceOrder(t, "yes", P("0.03"), C("1"))])  # one order per market and side
    assert placed[0].outcome == "placed" and (busy[0].outcome, busy[0].code) == ("refused", "side_busy")
    gone = placed[0].order_id
    desk.engine.cancel_order(desk.account, gone)  # cancelled behind our back
    late = await m.submit([CancelOrder(t, gone)])
    assert late[0].outcome == "rejected" and late[0].status == 404 and m.orders() == []


# --- fills ---


async def test_random_trading_portfolio_equals_the_exchange(desk: Desk) -> None:
    m = desk.manager
    await m.reconcile(startup=True)
    ws = await desk.connect(books=True)
    rng = random.Random(11)
    grids = {t: (await desk.rest.get_market(t)).tick_grid for t in desk.tickers}
    actions = [Action.BUY_YES_LIMIT, Action.SELL_YES_LIMIT, Action.BUY_NO_LIMIT, Action.SELL_NO_LIMIT, Action.HOLD]
    sent = 0
    for step in range(60):
        await until(lambda: books_match_engine(ws, desk.engine, desk.tickers))
        t = rng.choice(desk.tickers)
        config = ActionConfig(size=rng.choice([100, 200, 300]), pricing=rng.choice(["join", "improve", "cross"]))
        intents = intents_for_action(rng.choice(actions), ws.store[t], grids[t], m.portfolio.position(t),
                                     m.working(t), config, book_has_own_orders=True)
        results = await m.submit(intents)
        sent += len(results)
        assert all(r.outcome in ("placed", "amended", "cancelled") for r in results), results
        for order in list(m.working(t)):
            if rng.random() < 0.5:  # the counterparty hits our order, partly or fully
                cross(desk.engine, t, order.side, order.price, rng.choice([50, 100, order.remaining]))
        if step % 10 == 9:
            desk.sim.world.run_for(2_000)  # the synthetic traders move the books (and may hit us)
        await desk.settled()
    assert sent > 30 and m.stats.fills > 10
    assert desk.portfolio_figures() == desk.exchange_figures()
    assert m.stats.foreign_fills == 0 and m.stats.position_frame_drift == 0

    # settlement through the lifecycle channel
    t = next((t for t in desk.tickers if m.portfolio.position(t).count), desk.tickers[0])
    desk.engine.settle_market(t, "yes")
    await until(lambda: m.portfolio.position(t).count == 0 and m.working(t) == [])
    await desk.settled()
    assert desk.portfolio_figures() == desk.exchange_figures()

    report = await m.reconcile()  # the exchange agrees: nothing to heal
    assert report.consistent and report.mismatches == [] and m.stats.mismatches == 0


async def test_a_fill_delivered_twice_is_booked_once(desk: Desk) -> None:
    m = desk.manager
    await m.reconcile(startup=True)
    frames: list[object] = []
    ws = KalshiWebSocket(desk.running.signer, desk.running.urls.ws,  # type: ignore[attr-defined]
                         on_event=lambda f: (frames.append(f), m.on_frame(f)))
    async with ws:
        await ws.subscribe(["fill", "user_orders"])
        t = desk.tickers[0]
        price = inside(desk.engine, t, "yes")
        placed = await m.submit([PlaceOrder(t, "yes", price, C("5"))])
        cross(desk.engine, t, "yes", price, C("2"))
        await desk.settled()
    fill = next(f for f in frames if isinstance(f, F.FillFrame))
    booked = desk.portfolio_figures()
    assert m.on_frame(fill) is None and m.stats.duplicate_fills == 1  # the WebSocket again
    report = await m.reconcile()  # and the REST fills listing: the same fill, booked once
    assert report.fills_recovered == 0 and m.stats.duplicate_fills >= 2
    assert desk.portfolio_figures() == booked == desk.exchange_figures()
    assert m.working(t)[0].order_id == placed[0].order_id and m.working(t)[0].filled == C("2")
    assert m.working(t)[0].remaining == C("3")


async def test_fills_missed_while_disconnected_are_fetched(desk: Desk) -> None:
    m = desk.manager
    await m.reconcile(startup=True)
    t = desk.tickers[1]
    price = inside(desk.engine, t, "no")
    await m.submit([PlaceOrder(t, "no", price, C("4"))])
    cross(desk.engine, t, "no", price, C("3"))  # no WebSocket: this fill is only on the REST side
    report = await m.reconcile()
    assert report.fills_recovered == 1 and report.mismatches == [] and m.stats.fills_recovered == 1
    assert desk.portfolio_figures() == desk.exchange_figures()
    assert desk.working() == desk.resting() and m.working(t)[0].remaining == C("1")


async def test_foreign_fills_are_not_booked_and_reconcile_heals(desk: Desk) -> None:
    m = desk.manager
    await m.reconcile(startup=True)
    await desk.connect()
    t = desk.tickers[2]
    price = inside(desk.engine, t, "yes")
    # someone else trades our account (another prefix): breaks the one-writer rule
    desk.engine.place_order(desk.account, t, "yes", price, C("2"), client_order_id="manual-1")
    cross(desk.engine, t, "yes", price, C("2"))
    await until(lambda: m.stats.foreign_fills == 1)
    assert m.portfolio.position(t).count == 0 and m.reconcile_due
    report = await m.reconcile()
    assert report.consistent and report.mismatches and m.stats.mismatches >= 1
    assert desk.portfolio_figures() == desk.exchange_figures()


# --- restart and shutdown ---


@pytest.mark.parametrize("on_start", ["cancel", "adopt"])
async def test_restart_with_resting_orders(desk: Desk, on_start: str) -> None:
    first = desk.manager
    await first.reconcile(startup=True)
    t0, t1 = desk.tickers[:2]
    price = inside(desk.engine, t0, "yes")
    await first.submit([PlaceOrder(t0, "yes", price, C("5")), PlaceOrder(t1, "no", inside(desk.engine, t1, "no"),
                                                                         C("2"))])
    cross(desk.engine, t0, "yes", price, C("1"))  # a position survives the restart too
    foreign = desk.engine.place_order(desk.account, t1, "yes", P("0.01"), C("1"), client_order_id="manual-2")
    ours = {o.order_id for o in desk.engine.resting_orders(desk.account)} - {foreign.order_id}
    assert len(ours) == 2

    second = desk.new_manager(on_start=on_start)  # a new process: empty portfolio, same prefix
    report = await second.reconcile(startup=True)
    resting = {o.order_id for o in desk.engine.resting_orders(desk.account)}
    assert foreign.order_id in resting and report.foreign_orders == 1  # not ours: left alone
    if on_start == "cancel":
        assert set(report.cancelled) == ours and resting == {foreign.order_id} and second.orders() == []
    else:
        assert set(report.adopted) == ours and {o.order_id for o in second.orders()} == ours
        assert desk.working(second) == {k: v for k, v in desk.resting().items() if k in ours}
        adopted = next(o for o in second.working(t0))
        assert (adopted.filled, adopted.remaining) == (C("1"), C("4"))
    assert desk.portfolio_figures(second) == desk.exchange_figures()
    assert second.portfolio.position(t0).count == C("1")


async def test_cancel_all_own_leaves_other_orders(desk: Desk) -> None:
    m = desk.manager
    await m.reconcile(startup=True)
    await m.submit([PlaceOrder(t, "yes", P("0.02"), C("1")) for t in desk.tickers])
    foreign = desk.engine.place_order(desk.account, desk.tickers[0], "no", P("0.01"), C("1"),
                                      client_order_id="manual-3")
    results = await m.cancel_all_own()
    assert [r.outcome for r in results] == ["cancelled"] * len(desk.tickers)
    assert [o.order_id for o in desk.engine.resting_orders(desk.account)] == [foreign.order_id]
    assert m.orders() == []
    report = await m.reconcile()  # the other order's hold is not ours: the balance is healed to the exchange's
    assert report.foreign_orders == 1 and [x for x in report.mismatches if not x.startswith("balance")] == []
    assert m.portfolio.available == desk.engine.accounts[desk.account].balance


# --- faults ---


async def test_5xx_and_timeouts_on_create_lose_and_duplicate_nothing(desk: Desk) -> None:
    m = desk.manager
    await m.reconcile(startup=True)
    faults = desk.sim.faults
    faults.rate_5xx, faults.create_timeout_rate, faults.create_timeout_s = 0.3, 0.3, 0.5
    async with RestClient(desk.running.urls.rest, desk.running.signer, timeout_s=0.2,  # type: ignore[attr-defined]
                          retry=RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.005),
                          limits=UNLIMITED) as fragile:
        m.rest = fragile
        outcomes = []
        for round_ in range(3):
            intents = [PlaceOrder(t, side, P("0.02") + 100 * round_, C("1")) for t in desk.tickers
                       for side in ("yes", "no") if not any(o.side == side for o in m.working(t))]
            outcomes += [r.outcome for r in await m.submit(intents)]
            moves = [AmendOrder(o.ticker, o.order_id, o.side, o.price + 100, o.filled + C("2")) for o in m.orders()]
            outcomes += [r.outcome for r in await m.submit(moves)]
        faults.rate_5xx = faults.create_timeout_rate = 0.0
        report = await m.reconcile()
    assert outcomes.count("placed") == 2 * len(desk.tickers)  # every create resolved (by client_order_id)
    assert "unknown" in outcomes  # some amends got a 503: healed by the reconciliation
    assert report.consistent and m.unknown_client_order_ids == []
    ours = [o for o in desk.engine.orders.values() if o.account == desk.account]
    resting = [o for o in ours if o.status is OrderStatus.RESTING]
    per_side = [(o.ticker, o.side) for o in resting]
    assert len(per_side) == len(set(per_side))  # no duplicate: at most one order per market and side
    assert desk.working() == desk.resting()  # none lost, none orphaned
    assert all(o.client_order_id.startswith(PREFIX) for o in ours)
    assert len({o.client_order_id for o in ours}) == len(ours)  # every create sent once (or resent, same id)
    assert m.portfolio.available == desk.engine.accounts[desk.account].balance


async def test_unknown_create_outcome_blocks_the_side_until_reconciled(desk: Desk) -> None:
    m = desk.manager
    await m.reconcile(startup=True)
    t = desk.tickers[3]
    desk.sim.faults.rate_5xx = 1.0  # the create and every lookup fail
    async with RestClient(desk.running.urls.rest, desk.running.signer,  # type: ignore[attr-defined]
                          retry=RetryPolicy(attempts=2, base_delay_s=0.001), limits=UNLIMITED) as fragile:
        m.rest = fragile
        first = await m.submit([PlaceOrder(t, "yes", P("0.02"), C("1"))])
        again = await m.submit([PlaceOrder(t, "yes", P("0.02"), C("1"))])
    m.rest = desk.rest
    desk.sim.faults.rate_5xx = 0.0
    assert first[0].outcome == "unknown" and m.unknown_client_order_ids == [first[0].client_order_id]
    assert (again[0].outcome, again[0].code) == ("refused", "unknown_outcome_pending")
    report = await m.reconcile()
    assert report.unknown_resolved == 1 and m.unknown_client_order_ids == []
    assert desk.working() == desk.resting()  # the 503 was injected before the engine: nothing landed
    assert await asyncio.wait_for(m.submit([PlaceOrder(t, "yes", P("0.02"), C("1"))]), 10)
    assert len(m.working(t)) == 1 and desk.working() == desk.resting()
