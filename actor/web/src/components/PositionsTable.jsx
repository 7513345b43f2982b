// Positions: one row per market the actor traded. Sortable by any column; markets with resting
// orders of the actor's are marked. A click opens the market's detail.

import { useMemo, useState } from "react";
import { averageCostPips, centsOfPips, fixed, money, position, price, sign } from "../format.js";

const COLUMNS = [
  { key: "ticker", label: "Market", value: (p) => p.market_ticker, text: true },
  { key: "position", label: "Position", value: (p) => fixed(p.position ?? "0", 2) },
  { key: "avg", label: "Avg cost", value: (p) => averageCostPips(p.cost_basis, p.position) ?? -Infinity },
  { key: "mark", label: "Mark", value: (p) => (p.mark == null ? -Infinity : fixed(p.mark, 6)) },
  { key: "unrealized", label: "Unrealized", value: (p) => fixed(p.unrealized ?? "0", 6) },
  { key: "realized", label: "Realized", value: (p) => fixed(p.realized ?? "0", 6) },
  { key: "exposure", label: "Exposure", value: (p) => fixed(p.cost_basis ?? "0", 6) },
];

function tone(text) {
  return ["neg", "zero", "pos"][sign(text) + 1];
}

export function sortPositions(rows, sort) {
  const column = COLUMNS.find((c) => c.key === sort.key) ?? COLUMNS[0];
  const dir = sort.dir === "desc" ? -1 : 1;
  return rows.slice().sort((a, b) => {
    const x = column.value(a);
    const y = column.value(b);
    const c = column.text ? String(x).localeCompare(String(y)) : x - y;
    return c !== 0 ? c * dir : a.market_ticker.localeCompare(b.market_ticker);
  });
}

export function PositionsTable({ positions, onSelect, selected }) {
  const [sort, setSort] = useState({ key: "ticker", dir: "asc" });
  const rows = useMemo(() => sortPositions(Object.values(positions), sort), [positions, sort]);
  const toggle = (key) =>
    setSort((s) => (s.key === key ? { key, dir: s.dir === "asc" ? "desc" : "asc" } : { key, dir: key === "ticker" ? "asc" : "desc" }));

  return (
    <section className="card positions" aria-label="Positions">
      <h2>Positions <span className="count" data-testid="positions-count">{rows.length}</span></h2>
      <div className="table-scroll">
        <table className="table" data-testid="positions-table">
          <thead>
            <tr>
              {COLUMNS.map((c) => (
                <th key={c.key} className={c.text ? "" : "num"} aria-sort={sort.key === c.key ? (sort.dir === "asc" ? "ascending" : "descending") : "none"}>
                  <button type="button" className="sort" onClick={() => toggle(c.key)} data-testid={`sort-${c.key}`}>
                    {c.label}
                    <span className="sort-mark">{sort.key === c.key ? (sort.dir === "asc" ? "\u25b2" : "\u25bc") : ""}</span>
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && (
              <tr className="empty"><td colSpan={COLUMNS.length}>No positions yet.</td></tr>
            )}
            {rows.map((p) => {
              const pos = position(p.position);
              const resting = p.resting_orders ?? 0;
              return (
                <tr key={p.market_ticker} data-testid="position-row" data-ticker={p.market_ticker}
                    className={`${pos.side === "flat" ? "flat" : ""} ${selected === p.market_ticker ? "selected" : ""}`}
                    onClick={() => onSelect(p.market_ticker)} tabIndex={0}
                    onKeyDown={(e) => (e.key === "Enter" ? onSelect(p.market_ticker) : null)}>
                  <td className="ticker">
                    <span className="ticker-text">{p.market_ticker}</span>
                    {resting > 0 && (
                      <span className="resting" data-testid="resting-marker" title={`${resting} resting order(s)`}>
                        {resting} resting
                      </span>
                    )}
                  </td>
                  <td className="num"><span className={`side side-${pos.side}`}>{pos.side}</span> {pos.side === "flat" ? "" : pos.size}</td>
                  <td className="num">{centsOfPips(averageCostPips(p.cost_basis, p.position))}</td>
                  <td className="num">{price(p.mark == null ? null : p.mark)}</td>
                  <td className={`num ${tone(p.unrealized)}`}>{money(p.unrealized, { signed: true })}</td>
                  <td className={`num ${tone(p.realized)}`}>{money(p.realized, { signed: true })}</td>
                  <td className="num">{money(p.cost_basis)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
