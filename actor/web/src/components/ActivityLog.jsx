// The activity log: the actor's decisions, orders and fills (and status/model changes), newest
// first, filterable by market and type. The lists are bounded in the reducer; at most SHOWN rows
// are rendered, in a fixed-height scroll box.

import { useMemo, useState } from "react";
import { clock, count, money, price } from "../format.js";

export const SHOWN = 200;

const DONE = new Set(["placed", "amended", "cancelled"]); // the other statuses are failures

const TYPES = [
  ["all", "All"],
  ["fill", "Fills"],
  ["order", "Orders"],
  ["action", "Actions"],
  ["system", "Status"],
];

const KIND = { actor_action: "action", actor_order: "order", actor_fill: "fill", actor_status: "system", actor_model: "system" };

/** The log's rows: the lists merged newest first (by seq within a process, by time across). */
export function activityRows(state, { market = "", type = "all", hideHold = true } = {}) {
  const lists = type === "all" ? [state.fills, state.orders, state.actions, state.system]
    : type === "fill" ? [state.fills] : type === "order" ? [state.orders]
      : type === "action" ? [state.actions] : [state.system];
  const rows = [];
  for (const list of lists) {
    for (const e of list) {
      if (market && e.data.market_ticker !== market) continue;
      if (hideHold && e.type === "actor_action" && e.data.action_name === "HOLD") continue;
      rows.push(e);
    }
  }
  rows.sort((a, b) => b.ts_ms - a.ts_ms || b.seq - a.seq);
  return rows.slice(0, SHOWN);
}

function side(s) {
  return s ? s.toUpperCase() : "";
}

export function describe(e) {
  const d = e.data;
  switch (e.type) {
    case "actor_action":
      return { text: d.action_name, tone: d.action_name === "HOLD" ? "muted" : "" };
    case "actor_fill":
      return {
        text: `bought ${count(d.count)} ${side(d.side)} @ ${price(d.price)} · fee ${money(d.fee)}${d.is_taker ? " · taker" : " · maker"}`,
        tone: "good",
      };
    case "actor_order": {
      const failed = !DONE.has(d.status);
      const terms = d.count ? [count(d.count), side(d.side), d.price ? `@ ${price(d.price)}` : ""] : [];
      // "placed 1 YES @ 56¢", "cancelled", "rejected place 1 YES @ 56¢ · insufficient_balance"
      const what = [d.status, failed ? d.intent ?? d.action : "", ...terms].filter(Boolean).join(" ");
      return { text: `${what}${d.reason ? ` · ${d.reason}` : ""}`, tone: failed ? "bad" : "" };
    }
    case "actor_model": {
      const r = d.last_reload;
      return { text: r ? (r.ok ? `model ${r.model_id} loaded` : `model reload failed: ${r.message}`) : "model", tone: r && !r.ok ? "bad" : "" };
    }
    case "actor_status":
      return { text: `${d.message ?? "status"} · ${d.paused ? "PAUSED" : d.risk_state}`, tone: d.risk_state === "HALTED" ? "bad" : "" };
    default:
      return { text: e.type, tone: "" };
  }
}

export function ActivityLog({ state, onSelect }) {
  const [market, setMarket] = useState("");
  const [type, setType] = useState("all");
  const [hideHold, setHideHold] = useState(true);
  const rows = useMemo(() => activityRows(state, { market, type, hideHold }),
    [state.fills, state.orders, state.actions, state.system, market, type, hideHold]);
  const markets = useMemo(() => {
    const seen = new Set(Object.keys(state.positions));
    for (const list of [state.fills, state.orders, state.actions]) for (const e of list) if (e.data.market_ticker) seen.add(e.data.market_ticker);
    return [...seen].sort();
  }, [state.positions, state.fills, state.orders, state.actions]);

  return (
    <section className="card activity" aria-label="Activity">
      <div className="activity-head">
        <h2>Activity</h2>
        <div className="filters">
          <select value={market} onChange={(e) => setMarket(e.target.value)} data-testid="filter-market" aria-label="market">
            <option value="">All markets</option>
            {markets.map((t) => <option key={t} value={t}>{t}</option>)}
          </select>
          <select value={type} onChange={(e) => setType(e.target.value)} data-testid="filter-type" aria-label="type">
            {TYPES.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
          </select>
          <label className="check">
            <input type="checkbox" checked={hideHold} onChange={(e) => setHideHold(e.target.checked)} /> hide HOLD
          </label>
        </div>
      </div>
      <div className="log-scroll">
        <ol className="log" data-testid="activity-log">
          {rows.length === 0 && <li className="log-empty">Nothing yet.</li>}
          {rows.map((e) => {
            const kind = KIND[e.type];
            const { text, tone } = describe(e);
            return (
              <li key={e.key} className={`log-row ${tone}`} data-testid="activity-row" data-type={kind} data-key={e.key}>
                <time className="log-time">{clock(e.ts_ms)}</time>
                <span className={`log-kind kind-${kind}`}>{kind}</span>
                <button type="button" className="log-market" onClick={() => e.data.market_ticker && onSelect(e.data.market_ticker)}
                        disabled={!e.data.market_ticker}>{e.data.market_ticker ?? ""}</button>
                <span className="log-text">{text}</span>
              </li>
            );
          })}
        </ol>
      </div>
    </section>
  );
}
