"""Risk: limits never passed if everything filled, order-rate window, loss halts, REDUCING, paused."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_actor.actor.risk import RiskLimits, RiskManager, RiskState
from kalshi_actor.books.book import Book
from kalshi_actor.trading.portfolio import Portfolio, book_fill
from kalshi_actor.trading.types import AmendOrder, CancelOrder, FillEvent, PlaceOrder, WorkingOrder
from kalshi_actor.units import parse_count, parse_money, parse_price

P, C, M = parse_price, parse_count, parse_money
TICKERS = ("KXA-1", "KXB-1", "KXC-1")
NOON = datetime(2026, 7, 3, 12, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def portfolio_with(*fills: tuple[str, str, int, int]) -> Portfolio:
    """A portfolio that bought ``count`` of ``side`` at ``price`` per (ticker, side, price, count)."""
    portfolio = Portfolio(M("10000"))
    for i, (ticker, side, price, count) in enumerate(fills):
        portfolio.apply_fill(FillEvent(ticker, f"o{i}", side, price, count, 0, True, 0, f"t{i}"))  # type: ignore[arg-type]
    return portfolio


def book(ticker: str, yes_bid: int, no_bid: int) -> Book:
    b = Book(ticker)
    b.apply_snapshot([(yes_bid, C("100"))], [(no_bid, C("100"))])
    return b


def wo(order_id: str, ticker: str, side: str, price: int, remaining: int, filled: int = 0) -> WorkingOrder:
    return WorkingOrder(order_id, "ka-" + order_id, ticker, side, price, remaining, 0, filled)  # type: ignore[arg-type]


# --- the limits hold if everything filled (property) ---


def apply_intents(orders: list[WorkingOrder], intents) -> dict[str, WorkingOrder]:
    """The working orders once the allowed intents took effect (an independent little model)."""
    result = {o.order_id: replace(o) for o in orders}
    for i, intent in enumerate(intents):
        if isinstance(intent, CancelOrder):
            result.pop(intent.order_id, None)
        elif isinstance(intent, AmendOrder):
            o = result[intent.order_id]
            o.price, o.remaining = intent.price, intent.count - o.filled
        else:
            result[f"new{i}"] = wo(f"new{i}", intent.ticker, intent.side, intent.price, intent.count)
    return result


def worst_case(portfolio: Portfolio, orders: dict[str, WorkingOrder], ticker: str) -> tuple[int, int, int]:
    """(YES held, NO held, cost basis) at their worst over every fill order of every one-side scenario."""
    pos = portfolio.position(ticker)
    long_ = short = 0
    cost = pos.cost_basis
    for side in ("yes", "no"):
        mine = [o for o in orders.values() if o.ticker == ticker and o.side == side]
        total = sum(o.remaining for o in mine)
        if side == "yes":
            long_ = pos.count + total
        else:
            short = total - pos.count
        for perm in permutations(mine):
            count, basis = pos.count, pos.cost_basis
            for o in perm:
                count, basis, _, _ = book_fill(count, basis, side, o.price, o.remaining)  # type: ignore[arg-type]
            cost = max(cost, basis)
    return long_, short, cost


prices = st.integers(1, 99).map(lambda c: c * 100)
counts = st.integers(1, 40).map(lambda n: n * 100)
tickers = st.sampled_from(TICKERS)
sides = st.sampled_from(["yes", "no"])


@st.composite
def scenarios(draw):
    fills = draw(st.lists(st.tuples(tickers, sides, prices, counts), max_size=4))
    orders = []
    taken = set()
    for i, (ticker, side, price, remaining) in enumerate(draw(st.lists(st.tuples(tickers, sides, prices, counts),
                                                                       max_size=4))):
        if (ticker, side) not in taken:
            taken.add((ticker, side))
            orders.append(wo(f"w{i}", ticker, side, price, remaining, draw(st.sampled_from([0, 100]))))
    intents = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["place", "amend", "cancel"]))
        if kind == "place":
            intents.append(PlaceOrder(draw(tickers), draw(sides), draw(prices), draw(counts)))
        elif orders:
            o = draw(st.sampled_from(orders))
            if kind == "amend":
                intents.append(AmendOrder(o.ticker, o.order_id, o.side, draw(prices), o.filled + draw(counts)))
            else:
                intents.append(CancelOrder(o.ticker, o.order_id))
    limits = RiskLimits(max_position=draw(st.integers(0, 60)) * 100, max_exposure=M(str(draw(st.integers(0, 40)))),
                        max_orders_per_minute=draw(st.sampled_from([None, 2, 100])))
    return portfolio_with(*fills), orders, intents, limits


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_nothing_allowed_passes_a_limit_if_everything_filled(scenario):
    portfolio, orders, intents, limits = scenario
    risk = RiskManager(limits, clock=Clock())
    decision = risk.check(intents, portfolio, orders)
    after = apply_intents(orders, decision.allowed)
    total = portfolio.exposure
    for ticker in TICKERS:
        long_, short, cost = worst_case(portfolio, after, ticker)
        pos = portfolio.position(ticker).count
        # never past the limit; a holding already beyond it (REDUCING) may only shrink
        assert long_ <= max(limits.max_position, pos)
        assert short <= max(limits.max_position, -pos)
        total += cost - portfolio.position(ticker).cost_basis
    assert total <= max(limits.max_exposure, portfolio.exposure)
    sent = [i for i in decision.allowed if not isinstance(i, CancelOrder)]
    if limits.max_orders_per_minute is not None:
        assert len(sent) <= limits.max_orders_per_minute
    for intent, _ in decision.clipped:  # clipped, never enlarged
        assert intent in intents
    for intent in sent:
        original = next(i for i in intents if type(i) is type(intent) and i.ticker == intent.ticker
                        and i.price == intent.price and (not isinstance(i, AmendOrder) or i.order_id == intent.order_id)
                        and i.count >= intent.count)
        assert original is not None
    assert {id(i) for i, _ in decision.rejected} <= {id(i) for i in intents}


# --- hand-worked cases ---


def test_exposure_clips_to_the_exact_limit():
    risk = RiskManager(RiskLimits(max_position=None, max_exposure=M("10")), clock=Clock())
    decision = risk.check([PlaceOrder(TICKERS[0], "yes", P("0.40"), C("50"))], Portfolio(M("100")), [])
    assert decision.allowed == [PlaceOrder(TICKERS[0], "yes", P("0.40"), C("25"))]  # 25 x $0.40 = $10
    assert decision.clipped and "exposure" in decision.clipped[0][1]


def test_a_closing_order_adds_no_exposure():
    portfolio = portfolio_with((TICKERS[0], "yes", P("0.60"), C("10")))  # $6 of YES
    risk = RiskManager(RiskLimits(max_position=C("10"), max_exposure=M("6")), clock=Clock())
    closing = PlaceOrder(TICKERS[0], "no", P("0.30"), C("10"))
    opening = PlaceOrder(TICKERS[1], "yes", P("0.30"), C("10"))
    decision = risk.check([closing, opening], portfolio, [])
    assert decision.allowed == [closing]
    assert decision.rejected[0][0] == opening and "exposure" in decision.rejected[0][1]


def test_position_limit_counts_resting_orders_and_clips_to_whole_contracts():
    portfolio = portfolio_with((TICKERS[0], "yes", P("0.50"), C("3")))
    resting = wo("a", TICKERS[0], "yes", P("0.45"), C("4"))
    risk = RiskManager(RiskLimits(max_position=C("10.5"), max_exposure=None), clock=Clock())
    amend = AmendOrder(TICKERS[0], "a", "yes", P("0.46"), C("10"))
    decision = risk.check([amend], portfolio, [resting])
    assert decision.allowed == [replace(amend, count=C("7"))]  # 3 held + 7 resting <= 10.5, whole contracts


def test_order_rate_is_a_sliding_window():
    clock = Clock()
    risk = RiskManager(RiskLimits(max_orders_per_minute=3, max_exposure=None), clock=clock)
    portfolio = Portfolio(M("100"))
    places = [PlaceOrder(t, s, P("0.10"), C("1")) for t in TICKERS for s in ("yes", "no")]
    first = risk.check(places[:5], portfolio, [])
    assert len(first.allowed) == 3 and len(first.rejected) == 2
    assert all("order rate" in why for _, why in first.rejected)
    clock.now += 30
    assert risk.check(places[5:], portfolio, []).allowed == []
    assert risk.check([CancelOrder(TICKERS[0], "x")], portfolio, []).allowed == [CancelOrder(TICKERS[0], "x")]
    clock.now += 30.001  # the first three left the window
    assert len(risk.check(places[:4], portfolio, []).allowed) == 3
    assert risk.orders_last_minute == 3


def test_loss_limit_halts_cancels_everything_and_stays_latched():
    clock = Clock()
    portfolio = portfolio_with((TICKERS[0], "yes", P("0.50"), C("100")))
    orders = [wo("a", TICKERS[0], "no", P("0.40"), C("5")), wo("b", TICKERS[1], "yes", P("0.20"), C("5"))]
    risk = RiskManager(RiskLimits(max_position=None, max_exposure=None, max_loss_session=M("20")), clock=clock)
    start = risk.check([], portfolio, orders, {TICKERS[0]: book(TICKERS[0], P("0.50"), P("0.48"))})
    assert risk.state is RiskState.ACTIVE and start.allowed == []
    crash = {TICKERS[0]: book(TICKERS[0], P("0.30"), P("0.68"))}  # 100 YES lose $20 at the bid
    decision = risk.check([PlaceOrder(TICKERS[2], "yes", P("0.10"), C("1"))], portfolio, orders, crash)
    assert risk.state is RiskState.HALTED and "session loss" in risk.reason
    assert decision.transition is not None and decision.transition.previous is RiskState.ACTIVE
    assert {i.order_id for i in decision.allowed} == {"a", "b"}  # cancels only
    assert all(isinstance(i, CancelOrder) for i in decision.allowed)
    assert decision.rejected and "halted" in decision.rejected[0][1]
    recovered = {TICKERS[0]: book(TICKERS[0], P("0.55"), P("0.44"))}
    risk.check([], portfolio, [], recovered)
    assert risk.state is RiskState.HALTED  # latched
    risk.set_limits(RiskLimits(max_position=None, max_exposure=None, max_loss_session=M("20")))
    decision = risk.check([], portfolio, [], recovered)
    assert risk.state is RiskState.ACTIVE and decision.transition.state is RiskState.ACTIVE


def test_daily_loss_resets_at_utc_midnight():
    clock = Clock(datetime(2026, 7, 3, 23, 59, tzinfo=UTC).timestamp())
    portfolio = portfolio_with((TICKERS[0], "yes", P("0.50"), C("100")))
    risk = RiskManager(RiskLimits(max_position=None, max_exposure=None, max_loss_daily=M("10")), clock=clock)
    risk.check([], portfolio, [], {TICKERS[0]: book(TICKERS[0], P("0.50"), P("0.49"))})
    risk.check([], portfolio, [], {TICKERS[0]: book(TICKERS[0], P("0.40"), P("0.59"))})
    assert risk.state is RiskState.HALTED and "daily" in risk.reason
    clock.now += 120  # 00:01 the next day: a new daily base
    risk.check([], portfolio, [], {TICKERS[0]: book(TICKERS[0], P("0.40"), P("0.59"))})
    assert risk.state is RiskState.ACTIVE and risk.daily_pnl == 0 and risk.session_pnl == -M("10")


def test_loss_near_the_limit_reduces():
    portfolio = portfolio_with((TICKERS[0], "yes", P("0.50"), C("100")))
    risk = RiskManager(RiskLimits(max_position=None, max_exposure=None, max_loss_session=M("10")), clock=Clock())
    risk.check([], portfolio, [], {TICKERS[0]: book(TICKERS[0], P("0.50"), P("0.49"))})
    risk.check([], portfolio, [], {TICKERS[0]: book(TICKERS[0], P("0.41"), P("0.58"))})  # -$9: 90% of the limit
    assert risk.state is RiskState.REDUCING and "near the limit" in risk.reason


def test_reducing_allows_only_orders_that_reduce():
    portfolio = portfolio_with((TICKERS[0], "yes", P("0.50"), C("8")))
    orders = [wo("same", TICKERS[0], "yes", P("0.45"), C("2")), wo("closing", TICKERS[0], "no", P("0.40"), C("3"))]
    risk = RiskManager(RiskLimits(max_position=C("10"), max_exposure=None), clock=Clock())
    assert risk.check([], portfolio, orders).allowed == []
    risk.set_limits(RiskLimits(max_position=C("5"), max_exposure=None))  # lowered live: 8 YES are too many
    decision = risk.check([
        PlaceOrder(TICKERS[1], "yes", P("0.10"), C("1")),  # flat elsewhere: nothing to reduce
        AmendOrder(TICKERS[0], "closing", "no", P("0.42"), C("20")),  # closing, but at most the 8 held
    ], portfolio, orders)
    assert risk.state is RiskState.REDUCING and "position" in risk.reason
    assert decision.transition is not None and decision.transition.state is RiskState.REDUCING
    assert decision.allowed == [CancelOrder(TICKERS[0], "same"), AmendOrder(TICKERS[0], "closing", "no", P("0.42"),
                                                                            C("8"))]
    assert [i for i, _ in decision.rejected] == [PlaceOrder(TICKERS[1], "yes", P("0.10"), C("1"))]
    assert "reducing" in decision.rejected[0][1]


def test_paused_halts_cleanly_and_resumes():
    portfolio = Portfolio(M("100"))
    orders = [wo("a", TICKERS[0], "yes", P("0.40"), C("1"))]
    risk = RiskManager(clock=Clock())
    risk.set_paused(True)
    decision = risk.check([PlaceOrder(TICKERS[1], "no", P("0.30"), C("1"))], portfolio, orders)
    assert risk.state is RiskState.HALTED and risk.reason == "paused"
    assert decision.allowed == [CancelOrder(TICKERS[0], "a")] and decision.rejected
    risk.set_paused(False)
    decision = risk.check([PlaceOrder(TICKERS[1], "no", P("0.30"), C("1"))], portfolio, [])
    assert risk.state is RiskState.ACTIVE and len(decision.allowed) == 1
    assert [t.state for t in risk.transitions] == [RiskState.HALTED, RiskState.ACTIVE]


def test_lowered_exposure_limit_cancels_the_largest_resting_order_first():
    orders = [wo("small", TICKERS[0], "yes", P("0.10"), C("10")), wo("big", TICKERS[1], "no", P("0.50"), C("10"))]
    risk = RiskManager(RiskLimits(max_position=None, max_exposure=M("3")), clock=Clock())
    decision = risk.check([], Portfolio(M("100")), orders)
    assert decision.allowed == [CancelOrder(TICKERS[1], "big")]  # $1 + $5 > $3: the $5 one goes


def test_limits_from_the_actor_config():
    from kalshi_actor.actor.config import RiskLimits as Settings

    limits = RiskLimits.of(Settings(max_position=5, max_exposure=250, max_loss_session=20))
    assert (limits.max_position, limits.max_exposure, limits.max_loss_session) == (C("5"), M("250"), M("20"))
    assert limits.count_step == 100 and limits.max_loss_daily == Settings().max_loss_daily


def test_limits_are_validated():
    with pytest.raises(ValueError):
        RiskLimits(max_position=-1)
    with pytest.raises(ValueError):
        RiskLimits(count_step=0)
    with pytest.raises(ValueError):
        RiskLimits(reduce_at_loss_share=0.0)
    with pytest.raises(TypeError):
        RiskManager().set_limits({"max_position": 1})  # type: ignore[arg-type]
