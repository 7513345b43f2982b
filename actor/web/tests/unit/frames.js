// Frames as the actor sends them (actor/events.py, actor/loop.py), for the unit tests.

export const STARTED = 1_700_000_000_000;

export function status(extra = {}) {
  return { name: "test-actor", environment: "sim", message: "snapshot", trading: true, connected: true,
    risk_state: "ACTIVE", paused: false, markets: 2, started_ms: STARTED, ...extra };
}

export function pnl(total = "0.0000", extra = {}) {
  return { cash: "100.0000", realized: "0.0000", unrealized: "0.0000", fees: "0.0000", total, exposure: "0.0000", ...extra };
}

export function position(ticker, extra = {}) {
  return { market_ticker: ticker, position: "1.00", cost_basis: "0.5600", realized: "0.0000", fees: "0.0100", unrealized: "-0.0100",
    resting_orders: 0, mark: "0.5500", orders: [], book: { yes: [["0.5500", "10.00"]], no: [["0.4300", "5.00"]], stale: false, ts_ms: 1 },
    ...extra };
}

export function event(type, seq, data, ts_ms = STARTED + seq * 1000) {
  return { type, seq, ts_ms, data: { timestamp: new Date(ts_ms).toISOString(), ...data } };
}

export const fill = (seq, ticker = "MKT-A", extra = {}) =>
  event("actor_fill", seq, { market_ticker: ticker, order_id: `o${seq}`, side: "yes", price: "0.5600", count: "1.00", fee: "0.0100",
    is_taker: true, trade_id: `t${seq}`, exchange_ts_ms: 0, ...extra });

export const order = (seq, ticker = "MKT-A", extra = {}) =>
  event("actor_order", seq, { market_ticker: ticker, status: "placed", order_id: `o${seq}`, client_order_id: `ka-${seq}`, action: "place",
    intent: "place", side: "yes", price: "0.5600", count: "1.00", ...extra });

export const action = (seq, ticker = "MKT-A", name = "BUY_YES_LIMIT", number = 1) =>
  event("actor_action", seq, { market_ticker: ticker, action: number, action_name: name, model_id: "m1",
    exchange_ts_ms: 0 });

export const pnlEvent = (seq, total) => event("actor_pnl", seq, pnl(total));

export function snapshot(seq, { recent = [], positions = [], started = STARTED, total = "0.0000", ts_ms } = {}) {
  return {
    type: "actor_snapshot", seq, ts_ms: ts_ms ?? started + seq * 1000 + 500,
    data: {
      status: status({ started_ms: started }),
      model: { active: { id: "m1", algorithm: "ppo", loaded_at_ms: started, tick_interval_s: 1 }, target: "latest",
        last_reload: { ok: true, model_id: "m1", message: "loaded", ts_ms: started } },
      positions, pnl: pnl(total), recent,
    },
  };
}
