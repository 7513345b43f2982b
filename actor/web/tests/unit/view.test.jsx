import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { Header } from "../../src/components/Header.jsx";
import { ActivityLog, activityRows, describe as describeEvent } from "../../src/components/ActivityLog.jsx";
import { ladder } from "../../src/components/MarketDetail.jsx";
import { ModelPanel, actionRows } from "../../src/components/ModelPanel.jsx";
import { PositionsTable, sortPositions } from "../../src/components/PositionsTable.jsx";
import { averageCostPips, count, money, position as side, price } from "../../src/format.js";
import { actorReducer, frameReceived, initialState } from "../../src/state.js";
import { action, fill, order, position, snapshot, status } from "./frames.js";

afterEach(cleanup);

const synced = (...frames) => frames.reduce((s, f) => actorReducer(s, frameReceived(f, 0)), initialState());

describe("formatting (exact strings, no floats)", () => {
  it("shows money, prices and counts as a trader reads them", () => {
    expect(money("12.3400")).toBe("$12.34");
    expect(money("-0.0175")).toBe("\u2212$0.0175");
    expect(money("1234567.5000")).toBe("$1,234,567.50");
    expect(money("0.5000", { signed: true })).toBe("+$0.50");
    expect(money("-0.0000", { signed: true })).toBe("$0.00");
    expect(money(null)).toBe("\u2014");
    expect(price("0.5600")).toBe("56\u00a2");
    expect(price("0.5650")).toBe("56.5\u00a2");
    expect(price("0.0025")).toBe("0.25\u00a2");
    expect(count("10.00")).toBe("10");
    expect(count("1.50")).toBe("1.5");
    expect(side("-3.00")).toEqual({ side: "NO", size: "3" });
    expect(side("0.00")).toEqual({ side: "flat", size: "0" });
    expect(averageCostPips("1.6800", "3.00")).toBe(5600); // $1.68 for 3 contracts: 56¢ each
    expect(averageCostPips("0.0000", "0.00")).toBe(null);
  });
});

describe("Header", () => {
  const stateWith = (extra, connection = "live") => ({
    ...synced(snapshot(1)),
    status: status(extra),
    connection: { status: connection, attempt: 0, downSince: null, reason: null },
  });

  it("makes production unmistakable", () => {
    render(<Header state={stateWith({ environment: "production" })} />);
    expect(screen.getByTestId("production-banner").textContent).toMatch(/PRODUCTION/);
    expect(screen.getByTestId("environment").dataset.state).toBe("production");
  });

  it("has no production banner elsewhere", () => {
    render(<Header state={stateWith({ environment: "demo" })} />);
    expect(screen.queryByTestId("production-banner")).toBeNull();
    expect(screen.getByTestId("environment").textContent).toBe("demo");
  });

  it("shows the view's and the exchange's connection, the risk state (paused wins) and the model", () => {
    render(<Header state={stateWith({ connected: false, paused: true, risk_state: "REDUCING" }, "reconnecting")} />);
    expect(screen.getByTestId("connection").dataset.state).toBe("reconnecting");
    expect(screen.getByTestId("exchange").dataset.state).toBe("disconnected");
    expect(screen.getByTestId("risk").dataset.state).toBe("PAUSED");
    expect(screen.getByTestId("model-id").textContent).toBe("m1");
    expect(screen.getByTestId("model-reload").textContent).toMatch(/reload ok/);
  });

  it("reports a failed reload", () => {
    const s = stateWith({});
    s.model = { ...s.model, last_reload: { ok: false, model_id: "m2", message: "schema hash mismatch", ts_ms: 1 } };
    render(<Header state={s} />);
    expect(screen.getByTestId("model-reload").textContent).toBe("reload failed: schema hash mismatch");
  });
});

describe("positions", () => {
  const rows = [
    position("B", { position: "-2.00", cost_basis: "0.9000", unrealized: "0.1000", resting_orders: 1 }),
    position("A", { position: "1.00", cost_basis: "0.5600", unrealized: "-0.0500" }),
    position("C", { position: "0.00", cost_basis: "0.0000", unrealized: "0.0000", mark: null }),
  ];

  it("sorts by any column, both ways", () => {
    expect(sortPositions(rows, { key: "ticker", dir: "asc" }).map((p) => p.market_ticker)).toEqual(["A", "B", "C"]);
    expect(sortPositions(rows, { key: "unrealized", dir: "desc" }).map((p) => p.market_ticker)).toEqual(["B", "C", "A"]);
    expect(sortPositions(rows, { key: "position", dir: "asc" }).map((p) => p.market_ticker)).toEqual(["B", "C", "A"]);
    expect(sortPositions(rows, { key: "exposure", dir: "desc" }).map((p) => p.market_ticker)).toEqual(["B", "A", "C"]);
  });

  it("marks the markets with resting orders and sorts on a header click", () => {
    const picked = [];
    render(<PositionsTable positions={Object.fromEntries(rows.map((p) => [p.market_ticker, p]))} onSelect={(t) => picked.push(t)} />);
    const trs = () => screen.getAllByTestId("position-row").map((r) => r.dataset.ticker);
    expect(trs()).toEqual(["A", "B", "C"]);
    const b = screen.getAllByTestId("position-row")[1];
    expect(within(b).getByTestId("resting-marker").textContent).toMatch(/1 resting/);
    expect(within(b).getByText("NO")).toBeTruthy();
    expect(b.textContent).toContain("45\u00a2"); // $0.90 / 2 contracts
    fireEvent.click(screen.getByTestId("sort-ticker"));
    expect(trs()).toEqual(["C", "B", "A"]);
    fireEvent.click(b);
    expect(picked).toEqual(["B"]);
  });
});

describe("activity", () => {
  const state = synced(snapshot(0), action(1, "A"), action(2, "A", "HOLD"), order(3, "A"),
    order(4, "B", { status: "rejected", reason: "insufficient_balance", message: "no money" }), fill(5, "B"));

  it("merges newest first, filters by market and type, hides HOLD by default", () => {
    expect(activityRows(state).map((e) => e.seq)).toEqual([5, 4, 3, 1]);
    expect(activityRows(state, { hideHold: false }).map((e) => e.seq)).toEqual([5, 4, 3, 2, 1]);
    expect(activityRows(state, { market: "B" }).map((e) => e.seq)).toEqual([5, 4]);
    expect(activityRows(state, { type: "order" }).map((e) => e.seq)).toEqual([4, 3]);
    expect(activityRows(state, { type: "fill", market: "A" })).toEqual([]);
  });

  it("says what each event is, with the reason of a rejection", () => {
    const rejected = state.orders.find((e) => e.seq === 4);
    expect(describeEvent(rejected)).toEqual({ text: "rejected place 1 YES @ 56\u00a2 \u00b7 insufficient_balance", tone: "bad" });
    expect(describeEvent(state.orders.find((e) => e.seq === 3)).text).toBe("placed 1 YES @ 56\u00a2");
    expect(describeEvent(state.fills[0]).text).toBe("bought 1 YES @ 56\u00a2 \u00b7 fee $0.01 \u00b7 taker");
    const cancelled = { type: "actor_order", seq: 9, ts_ms: 0, data: { market_ticker: "A", status: "cancelled", intent: "cancel" } };
    expect(describeEvent(cancelled).text).toBe("cancelled");
  });

  it("renders the filtered rows", () => {
    render(<ActivityLog state={state} onSelect={() => {}} />);
    expect(screen.getAllByTestId("activity-row")).toHaveLength(4);
    fireEvent.change(screen.getByTestId("filter-type"), { target: { value: "fill" } });
    expect(screen.getAllByTestId("activity-row").map((r) => r.dataset.type)).toEqual(["fill"]);
  });
});

describe("market detail", () => {
  it("lays the book out as a YES ladder and flags the actor's own orders", () => {
    const book = { yes: [["0.5500", "10.00"], ["0.5400", "3.00"]], no: [["0.4300", "5.00"], ["0.4000", "1.00"]] };
    const orders = [{ order_id: "o1", side: "yes", price: "0.5400", remaining: "1.00", filled: "0.00" },
      { order_id: "o2", side: "no", price: "0.4300", remaining: "1.00", filled: "0.00" }];
    const { asks, bids } = ladder(book, orders);
    expect(asks.map((l) => [l.pips, l.own])).toEqual([[6000, false], [5700, true]]); // best ask last
    expect(bids.map((l) => [l.pips, l.own])).toEqual([[5500, false], [5400, true]]); // best bid first
  });
});

describe("ModelPanel", () => {
  it("shows the live action shares beside the evaluated ones, and each verdict", () => {
    const model = { evaluation: { action_shares: { HOLD: 0.6, BUY_YES_LIMIT: 0.4 },
      verdicts: { hold: { verdict: "better", mean: 0.12 }, "momentum rule": { verdict: "not distinguishable", mean: -0.01 } } } };
    render(<ModelPanel model={model} pnl={{ action_shares: { HOLD: 0.3, BUY_YES_LIMIT: 0.7 } }} />);
    const rows = screen.getAllByTestId("action-share");
    expect(rows.map((r) => r.dataset.action)).toEqual(["HOLD", "BUY_YES_LIMIT"]);
    expect(rows[0].textContent).toBe("hold30%60%");
    expect(rows[0].className).toBe("drift"); // 30 points away from the evaluation
    expect(screen.getByTestId("verdicts").textContent).toContain("vs hold: better (+0.120 $/episode)");
  });

  it("says so when the model carries no evaluation", () => {
    render(<ModelPanel model={{ evaluation: null }} pnl={null} />);
    expect(screen.getByTestId("no-evaluation")).toBeTruthy();
  });

  it("pairs the action names of both sides", () => {
    expect(actionRows({ A: 0.5 }, { B: 1 })).toEqual([
      { name: "B", live: undefined, evaluated: 1, drift: null }, { name: "A", live: 0.5, evaluated: undefined, drift: null }]);
  });
});
