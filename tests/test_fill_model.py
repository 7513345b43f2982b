"""The training fill model: hand-worked queue examples, and the simulator's matching engine on the same flow.

The engine comparison runs two engines on one script: engine A holds only the synthetic
traders (its public frames are the "recording", the market without us); engine B holds
the same traders plus our orders (what would really have happened). The fill model
replays A's frames with our intents; its fills must equal B's fills of our account.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_actor.books.book import Book
from kalshi_actor.kalshi import frames as F
from kalshi_actor.kalshi.grid import TickGrid
from kalshi_actor.sim.engine import Engine, EngineError
from kalshi_actor.sim.feed import FeedHub
from kalshi_actor.sim.types import Filled, Market, PriceRange, TimeInForce
from kalshi_actor.trading.fees import FeeSchedule
from kalshi_actor.trading.types import AmendOrder, CancelOrder, FillEvent, PlaceOrder
from kalshi_actor.training.fill_model import FillModel
from kalshi_actor.units import ONE_DOLLAR, parse_count, parse_money, parse_price

P = parse_price
C = parse_count
M = parse_money
T = "KXTEST-T1"
LINEAR = TickGrid.from_structure("linear_cent")


class Replay:
    """A recorded market by hand: each change goes to the book first, then to the fill model."""

    def __init__(self, yes=(), no=(), fee_type="quadratic") -> None:
        self.book = Book(T)
        self.book.apply_snapshot([(P(p), C(s)) for p, s in yes], [(P(p), C(s)) for p, s in no])
        self.model = FillModel({T: self.book}, fees={T: FeeSchedule.of(fee_type)}, grids={T: LINEAR})
        self.ts = 1_000
        self.fills: list[FillEvent] = []

    def tick(self) -> int:
        self.ts += 1
        return self.ts

    def delta(self, side, price, size, *, same_time=False):
        ts = self.ts if same_time else self.tick()
        self.book.apply_delta(side, P(price), C(size), ts)
        got = list(self.model.on_delta(T, side, P(price), C(size), ts))
        self.fills += got
        return got

    def trade(self, taker_side, yes_price, count, *, same_time=True):
        """A taker's trade; the simulator reports the maker's level decrease first, at the same ts."""
        maker_side = "no" if taker_side == "yes" else "yes"
        maker_price = P(yes_price) if maker_side == "yes" else ONE_DOLLAR - P(yes_price)
        ts = self.tick()
        self.book.apply_delta(maker_side, maker_price, -C(count), ts)
        got = list(self.model.on_delta(T, maker_side, maker_price, -C(count), ts))
        got += self.model.on_trade(T, P(yes_price), C(count), taker_side, ts if same_time else self.tick())
        self.fills += got
        return got

    def submit(self, *intents):
        got = list(self.model.submit(intents, self.tick()))
        self.fills += got
        return got

    @property
    def order(self):
        (order,) = self.model.working(T)
        return order


def place(side, price, count, **kw):
    return PlaceOrder(T, side, P(price), C(count), **kw)


def summary(fills):
    return [(f.side, f.price, f.count, f.fee, f.is_taker) for f in fills]


# --- hand-worked queues ---


def test_trades_consume_the_queue_ahead_then_fill_us():
    r = Replay(yes=[("0.40", "10")], no=[("0.55", "3")])
    r.submit(place("yes", "0.40", "5", post_only=True))
    assert r.order.queue_ahead == C("10")  # everything resting at 0.40 was there first
    assert r.trade("no", "0.40", "4") == []  # a NO taker sells YES at 0.40: 4 of the 10 ahead
    assert r.order.queue_ahead == C("6")
    r.delta("yes", "0.40", "6")  # new orders join behind us: no change ahead
    assert r.order.queue_ahead == C("6")
    fills = r.trade("no", "0.40", "8")  # 6 ahead, then 2 of ours (maker, no maker fee on this series)
    assert summary(fills) == [("yes", P("0.40"), C("2"), 0, False)]
    assert (r.order.queue_ahead, r.order.remaining, r.order.filled) == (0, C("3"), C("2"))
    fills = r.trade("no", "0.40", "1")
    assert [f.count for f in fills] == [C("1")]
    assert r.order.remaining == C("2")


def test_a_trade_through_our_price_fills_us_first():
    r = Replay(yes=[("0.40", "10"), ("0.39", "5")])
    r.submit(place("yes", "0.41", "3"))  # improves the bid: nobody ahead
    assert r.order.queue_ahead == 0
    # the recording (without us) shows a taker selling into the 0.40 bid: it would have hit our 0.41 first
    assert summary(r.trade("no", "0.40", "2")) == [("yes", P("0.41"), C("2"), 0, False)]
    assert summary(r.trade("no", "0.40", "4")) == [("yes", P("0.41"), C("1"), 0, False)]
    assert r.model.working(T) == []


def test_cancels_are_behind_us_until_the_level_shrinks_below_the_queue_ahead():
    r = Replay(yes=[("0.40", "10")])
    r.submit(place("yes", "0.40", "5"))
    r.delta("yes", "0.40", "6")  # level 16: 10 ahead of us, 6 behind
    r.delta("yes", "0.40", "-4")  # a cancel: assumed behind us
    r.delta("yes", "0.39", "1")  # a later frame: the decrease matched no trade, so it was a cancel
    assert r.order.queue_ahead == C("10")
    r.delta("yes", "0.40", "-5")  # level 7 < 10 ahead: at most 7 can be ahead
    r.delta("yes", "0.39", "1")
    assert r.order.queue_ahead == C("7")
    r.delta("yes", "0.40", "5")  # level 12: 7 ahead, 5 behind
    fills = r.trade("no", "0.40", "9")  # 7 ahead, then 2 of ours
    assert [f.count for f in fills] == [C("2")]


def test_a_trade_reported_after_its_decrease_is_counted_once():
    r = Replay(yes=[("0.40", "5")])
    r.submit(place("yes", "0.40", "4"))
    r.delta("yes", "0.40", "3")  # 5 ahead, 3 behind
    ts = r.tick()
    # the simulator's order: the level falls by 6 (to 2, below the 5 ahead), then the trade of 6
    r.book.apply_delta("yes", P("0.40"), -C("6"), ts)
    assert list(r.model.on_delta(T, "yes", P("0.40"), -C("6"), ts)) == []
    assert r.order.queue_ahead == C("5")  # not yet clamped: the decrease may be (and is) the trade
    fills = list(r.model.on_trade(T, P("0.40"), C("6"), "no", ts))
    assert [f.count for f in fills] == [C("1")]  # 5 ahead, then 1 of ours; not 4
    assert r.order.queue_ahead == 0


def test_a_trade_reported_before_its_decrease_is_counted_once():
    r = Replay(yes=[("0.40", "5")])
    r.submit(place("yes", "0.40", "4"))
    ts = r.tick()
    assert list(r.model.on_trade(T, P("0.40"), C("2"), "no", ts)) == []
    r.book.apply_delta("yes", P("0.40"), -C("2"), ts)
    r.model.on_delta(T, "yes", P("0.40"), -C("2"), ts)
    r.delta("yes", "0.39", "1")
    assert r.order.queue_ahead == C("3")


def test_new_size_crossing_our_resting_order_would_have_traded_with_us():
    r = Replay(yes=[("0.40", "10")], no=[("0.55", "3")], fee_type="quadratic_with_maker_fees")
    r.submit(place("yes", "0.40", "5"))
    # someone bids 0.62 for NO (= sells YES at 0.38): invisible to the recording, it crosses our 0.40
    fills = r.delta("no", "0.62", "2")
    # maker fee: 0.0175 * 2 * 0.40 * 0.60 = 0.0084 -> 0.01
    assert summary(fills) == [("yes", P("0.40"), C("2"), M("0.01"), False)]
    assert r.model.available(T, "no", P("0.62")) == 0  # we took it
    assert r.submit(place("no", "0.62", "1", time_in_force="immediate_or_cancel")) == []  # cannot take it again
    assert r.order.remaining == C("3")


def test_a_crossing_order_walks_the_levels():
    r = Replay(yes=[("0.40", "10")], no=[("0.55", "3"), ("0.54", "4"), ("0.50", "9")])
    fills = r.submit(place("yes", "0.46", "10"))
    # YES asks are 0.45 (3) and 0.46 (4); taker fees 0.07*3*.45*.55 = 0.0520 -> 0.06, 0.07*4*.46*.54 = 0.0696 -> 0.07
    assert summary(fills) == [("yes", P("0.45"), C("3"), M("0.06"), True), ("yes", P("0.46"), C("4"), M("0.07"), True)]
    assert (r.order.price, r.order.remaining, r.order.filled, r.order.queue_ahead) == (P("0.46"), C("3"), C("7"), 0)
    # the recording still shows the 0.55 and 0.54 NO bids; they are gone for us
    assert r.model.available(T, "no", P("0.55")) == 0
    assert r.submit(place("no", "0.50", "1", post_only=True)) == []  # 0.50 + 0.46 < 1: passive, accepted
    ioc = r.submit(place("no", "0.54", "2", time_in_force="immediate_or_cancel"))
    # a NO bid at 0.54 crosses our own YES bid at 0.46: self-trade prevention stops it; nothing else is left above
    assert ioc == [] and len(r.model.working(T)) == 2


def test_consumed_liquidity_returns_only_as_the_recorded_level_changes():
    r = Replay(no=[("0.55", "5")])
    r.submit(place("yes", "0.45", "3", time_in_force="immediate_or_cancel"))
    assert r.model.available(T, "no", P("0.55")) == C("2")
    r.delta("no", "0.55", "-4")  # the level (5 -> 1) shrank below what we took: 1 left, also taken
    assert r.model.available(T, "no", P("0.55")) == 0
    r.delta("no", "0.55", "6")  # new size arrives behind
    assert r.model.available(T, "no", P("0.55")) == C("6")


def test_ioc_remainder_is_dropped_and_post_only_crossing_is_rejected():
    r = Replay(yes=[("0.40", "10")], no=[("0.55", "3")])
    assert [f.count for f in r.submit(place("yes", "0.45", "5", time_in_force="immediate_or_cancel"))] == [C("3")]
    assert r.model.working(T) == []
    r.delta("no", "0.55", "2")
    intent = place("yes", "0.45", "1", post_only=True)
    assert r.submit(intent) == [] and r.model.rejections[-1] == (intent, "post_only_cross")


@pytest.mark.parametrize(("intent", "code"), [
    (place("yes", "0.405", "1"), "invalid_price"),  # off the cent grid
    (place("yes", "0.40", "0"), "invalid_count"),
    (CancelOrder(T, "nope"), "order_not_found"),
    (PlaceOrder("KXOTHER", "yes", P("0.40"), C("1")), "market_not_found"),
])
def test_rejections(intent, code):
    r = Replay(yes=[("0.40", "10")])
    assert r.submit(intent) == [] and r.model.rejections == [(intent, code)]


def test_a_stale_book_takes_no_orders():
    r = Replay(yes=[("0.40", "10")])
    r.book.mark_stale("gap")
    r.submit(place("yes", "0.40", "1"))
    assert r.model.rejections[-1].code == "stale_book"


def test_amend_keeps_priority_only_when_shrinking_at_the_same_price():
    r = Replay(yes=[("0.40", "10"), ("0.39", "2")])
    r.submit(place("yes", "0.40", "5"))
    oid = r.order.order_id
    r.trade("no", "0.40", "4")
    r.delta("yes", "0.40", "3")  # 6 ahead, 3 behind
    r.submit(AmendOrder(T, oid, "yes", P("0.40"), C("4")))  # smaller: keeps its place
    assert (r.order.remaining, r.order.queue_ahead) == (C("4"), C("6"))
    r.submit(AmendOrder(T, oid, "yes", P("0.40"), C("5")))  # larger: back of the queue
    assert (r.order.remaining, r.order.queue_ahead) == (C("5"), C("9"))
    r.submit(AmendOrder(T, oid, "yes", P("0.39"), C("5")))  # new price: behind the 2 there
    assert (r.order.price, r.order.queue_ahead, r.order.order_id) == (P("0.39"), C("2"), oid)


def test_amend_to_a_crossing_price_trades_and_counts_the_fills():
    r = Replay(yes=[("0.40", "10")], no=[("0.55", "3")])
    r.submit(place("yes", "0.40", "5"))
    oid = r.order.order_id
    fills = r.submit(AmendOrder(T, oid, "yes", P("0.45"), C("5")))
    assert [(f.price, f.count, f.is_taker) for f in fills] == [(P("0.45"), C("3"), True)]
    assert (r.order.remaining, r.order.filled) == (C("2"), C("3"))
    # Kalshi's amend count is the total: 3 filled + 1 left
    r.submit(AmendOrder(T, oid, "yes", P("0.45"), C("4")))
    assert r.order.remaining == C("1")
    r.submit(AmendOrder(T, oid, "yes", P("0.45"), C("3")))
    assert r.model.rejections[-1].code == "invalid_count"


def test_frames_elsewhere_cost_nothing_and_closing_cancels():
    r = Replay(yes=[("0.40", "10")])
    assert r.model.on_delta("KXOTHER", "yes", P("0.40"), C("1"), 5) == ()
    assert r.model.on_trade("KXOTHER", P("0.40"), C("1"), "no", 5) == ()
    r.submit(place("yes", "0.40", "5"))
    assert len(r.model.close_market(T)) == 1 and r.model.working(T) == [] and not r.model.orders


def test_on_frame_dispatches_decoded_frames():
    r = Replay(yes=[("0.40", "1")])
    r.submit(place("yes", "0.40", "5"))
    delta = F.decode(b'{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"%s","price_dollars":'
                     b'"0.4000","delta_fp":"-1.00","side":"yes","ts_ms":2000}}' % T.encode())
    trade = F.decode(b'{"type":"trade","sid":2,"seq":1,"msg":{"trade_id":"t1","market_ticker":"%s",'
                     b'"yes_price_dollars":"0.4000","count_fp":"3.00","taker_side":"no","ts_ms":2000}}' % T.encode())
    r.book.apply_delta("yes", P("0.40"), -C("1"), 2000)
    assert r.model.on_frame(delta) == ()
    (fill,) = r.model.on_frame(trade)
    assert (fill.count, fill.trade_id, fill.ts_ms) == (C("2"), "t1", 2000)
    closing = F.decode(b'{"type":"market_lifecycle_v2","sid":3,"seq":1,"msg":{"market_ticker":"%s",'
                       b'"event_type":"deactivated"}}' % T.encode())
    r.model.on_frame(closing)
    assert r.model.working(T) == []


# --- against the matching engine ---

US = "us"


class TwoWorlds:
    """Engine A: the traders (its frames are the recording). Engine B: the traders and us."""

    def __init__(self, fee_type: str = "quadratic") -> None:
        self.t = 1_000
        self.a = Engine(lambda: self.t, seed=1)
        self.b = Engine(lambda: self.t, seed=1)
        for engine in (self.a, self.b):
            engine.add_market(Market(T, "E", "S", "t", "m", 0, 10**13, "linear_cent",
                                     [PriceRange(0, ONE_DOLLAR, 100)], fee_type=fee_type))
            for name in ("t1", "t2", "t3", US):
                engine.open_account(name, M("100000"))
        self.ids: list[tuple[str | None, str | None]] = []  # the same trader order in A and in B
        self.ours: dict[str, str] = {}  # the model's order id -> B's
        self.engine_fills: list[Filled] = []
        self.b.listeners.append(lambda e: type(e) is Filled and e.account == US and self.engine_fills.append(e))
        self.book = Book(T)
        self.model = FillModel({T: self.book}, fees={T: FeeSchedule.of(fee_type)}, grids={T: LINEAR})
        self.model_fills: list[FillEvent] = []
        feed = FeedHub(self.a).connect(None, self._frame)
        feed.subscribe("orderbook_delta", {T})
        feed.subscribe("trade", {T})

    def _frame(self, raw: bytes) -> None:
        frame = F.decode(raw)
        if type(frame) is F.OrderbookSnapshotFrame:
            self.book.apply_snapshot(frame.msg.yes_levels(), frame.msg.no_levels())
        elif type(frame) is F.OrderbookDeltaFrame:
            self.book.apply_delta(frame.msg.side, frame.msg.price, frame.msg.delta, frame.msg.ts_ms)
        self.model_fills += self.model.on_frame(frame)

    def trader(self, account: str, side: str, price: int, count: int) -> int:
        """The same GTC order in both worlds; returns its index for cancels."""
        self.t += 1
        ids = []
        for engine in (self.a, self.b):
            ids.append(engine.place_order(account, T, side, price, count).order_id)
        self.ids.append((account, ids[0], ids[1]))
        return len(self.ids) - 1

    def cancel(self, index: int) -> None:
        self.t += 1
        account, in_a, in_b = self.ids[index]
        for engine, order_id in ((self.a, in_a), (self.b, in_b)):
            try:
                engine.cancel_order(account, order_id)
            except EngineError:  # already traded away in that world
                pass

    def ours_place(self, side: str, price: int, count: int, tif: str) -> None:
        self.t += 1
        intent = PlaceOrder(T, side, price, count, False, tif)
        self.model_fills += self.model.submit([intent], self.t)
        self.b.place_order(US, T, side, price, count, time_in_force=TimeInForce(tif))

    def compare_fill_by_fill(self) -> None:
        engine = [(e.side, e.yes_price if e.side == "yes" else ONE_DOLLAR - e.yes_price, e.count, e.fee, e.is_taker)
                  for e in self.engine_fills]
        assert summary(self.model_fills) == engine

    def compare_totals(self) -> None:
        def totals(fills):
            return (sum(c for *_, c, _, _ in fills), sum(p * c for _, p, c, _, _ in fills),
                    sum(f for *_, f, _ in fills))
        engine = [(e.side, e.yes_price if e.side == "yes" else ONE_DOLLAR - e.yes_price, e.count, e.fee, e.is_taker)
                  for e in self.engine_fills]
        assert totals(summary(self.model_fills)) == totals(engine)
        assert {f[0] for f in summary(self.model_fills)} == {f[0] for f in engine}


@st.composite
def crossing_scripts(draw):
    """Traders rest one order per price level (a fee rounds per order on the exchange, per level here)."""
    yes = draw(st.lists(st.integers(30, 45), min_size=1, max_size=8, unique=True))
    no = draw(st.lists(st.integers(40, 54), min_size=1, max_size=8, unique=True))
    steps = draw(st.lists(st.one_of(
        st.tuples(st.just("cross"), st.sampled_from(["yes", "no"]), st.integers(0, 4), st.integers(1, 2_000)),
        st.tuples(st.just("cancel"), st.integers(0, 40)),
        st.tuples(st.just("rest"), st.sampled_from(["yes", "no"]), st.integers(25, 54), st.integers(1, 800)),
    ), min_size=3, max_size=25))
    sizes = draw(st.lists(st.integers(1, 800), min_size=len(yes) + len(no), max_size=len(yes) + len(no)))
    return yes, no, sizes, steps


@settings(max_examples=100, deadline=None)
@given(script=crossing_scripts(), fee_type=st.sampled_from(["quadratic", "quadratic_with_maker_fees"]))
def test_crossing_orders_fill_as_the_engine_fills_them(script, fee_type):
    yes, no, sizes, steps = script
    w = TwoWorlds(fee_type)
    traders = ("t1", "t2", "t3")
    for i, (side, cents) in enumerate([("yes", c) for c in yes] + [("no", c) for c in no]):
        w.trader(traders[i % 3], side, cents * 100, sizes[i])
    for step in steps:
        if step[0] == "cross":
            _, side, depth, count = step
            other = w.a.best_bids(T)[1 if side == "yes" else 0]
            if other:
                limit = min(ONE_DOLLAR - other + depth * 100, ONE_DOLLAR - 100)
                w.ours_place(side, limit, count, "immediate_or_cancel")
        elif step[0] == "cancel" and w.ids:
            w.cancel(step[1] % len(w.ids))
        elif step[0] == "rest":
            _, side, cents, count = step
            levels = w.a.book(T, side)
            yes_bid, no_bid = w.a.best_bids(T)
            other = no_bid if side == "yes" else yes_bid
            if cents * 100 not in levels and cents * 100 + other < ONE_DOLLAR:  # a new level, not crossing
                w.trader("t1", side, cents * 100, count)
    w.compare_fill_by_fill()


@st.composite
def queue_scripts(draw):
    ahead = draw(st.lists(st.integers(1, 500), min_size=0, max_size=4))
    below = draw(st.lists(st.integers(1, 500), min_size=0, max_size=3))
    ours = draw(st.integers(1, 1_500))
    steps = draw(st.lists(st.one_of(
        st.tuples(st.just("join"), st.integers(1, 500)),
        st.tuples(st.just("cancel_behind"), st.integers(0, 20)),
        st.tuples(st.just("take"), st.integers(1, 1_200), st.integers(0, 3)),
        st.tuples(st.just("lower"), st.integers(1, 3), st.integers(1, 500)),
    ), min_size=4, max_size=30))
    return ahead, below, ours, steps


@settings(max_examples=100, deadline=None)
@given(script=queue_scripts())
def test_a_fifo_queue_fills_as_the_engine_fills_it(script):
    """Our YES bid at 0.50 behind traders' orders; takers (NO buyers) come; only orders behind us cancel."""
    ahead, below, ours, steps = script
    w = TwoWorlds()
    p = P("0.50")
    for i, size in enumerate(ahead):
        w.trader(("t1", "t2")[i % 2], "yes", p, size)
    for depth, size in enumerate(below, start=1):
        w.trader("t2", "yes", p - depth * 100, size)
    w.ours_place("yes", p, ours, "good_till_canceled")
    behind: list[int] = []
    for step in steps:
        if step[0] == "join":
            behind.append(w.trader("t1", "yes", p, step[1]))
        elif step[0] == "cancel_behind" and behind:
            w.cancel(behind.pop(step[1] % len(behind)))
        elif step[0] == "take":  # a NO buyer willing to pay up to `depth` cents past our price
            _, count, depth = step
            w.trader("t3", "no", ONE_DOLLAR - p + depth * 100, count)
        elif step[0] == "lower":
            _, depth, size = step
            w.trader("t2", "yes", p - depth * 100, size)
        if not w.b.resting_orders(US):
            break  # filled: from here on the two worlds differ in ways that no longer concern us
    w.compare_totals()
    assert [o.remaining for o in w.model.working(T)] == [o.remaining for o in w.b.resting_orders(US)]
