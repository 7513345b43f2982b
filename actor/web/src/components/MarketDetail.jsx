// One market in detail: its book's top levels (as the actor last saw it), the actor's resting
// orders there, and its recent orders and fills. A drawer over the page (no layout change under it).

import { useEffect } from "react";
import { centsOfPips, clock, count, fixed, money, position, price } from "../format.js";
import { describe } from "./ActivityLog.jsx";

const ONE_DOLLAR = 10000; // pips

/** The book as a YES ladder: asks (from NO bids, best last) above bids (best first); own orders flagged. */
export function ladder(book, orders = []) {
  if (!book) return { asks: [], bids: [] };
  const own = new Set(orders.map((o) => `${o.side}:${fixed(o.price, 4)}`));
  const bids = (book.yes ?? []).map(([p, n]) => {
    const pips = fixed(p, 4);
    return { pips, size: n, own: own.has(`yes:${pips}`) };
  });
  const asks = (book.no ?? []).map(([p, n]) => {
    const pips = fixed(p, 4);
    return { pips: ONE_DOLLAR - pips, size: n, own: own.has(`no:${pips}`) };
  }).reverse();
  return { asks, bids };
}

function Level({ level, kind }) {
  return (
    <tr className={`level level-${kind}${level.own ? " own" : ""}`} data-testid="book-level">
      <td className="num">{centsOfPips(level.pips)}</td>
      <td className="num">{count(level.size)}</td>
      <td className="own-mark">{level.own ? "ours" : ""}</td>
    </tr>
  );
}

export function MarketDetail({ ticker, state, onClose }) {
  useEffect(() => {
    const key = (e) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", key);
    return () => window.removeEventListener("keydown", key);
  }, [onClose]);
  if (!ticker) return null;
  const p = state.positions[ticker];
  const { asks, bids } = ladder(p?.book, p?.orders);
  const fills = state.fills.filter((e) => e.data.market_ticker === ticker).slice(0, 50);
  const orders = state.orders.filter((e) => e.data.market_ticker === ticker).slice(0, 50);
  const pos = position(p?.position ?? "0");
  return (
    <div className="drawer-backdrop" onClick={onClose}>
      <aside className="drawer" role="dialog" aria-label={`market ${ticker}`} data-testid="market-detail"
             onClick={(e) => e.stopPropagation()}>
        <div className="drawer-head">
          <h2 data-testid="detail-ticker">{ticker}</h2>
          <button type="button" className="close" onClick={onClose} aria-label="close">×</button>
        </div>
        <div className="detail-summary">
          <span><b>{pos.side}</b> {pos.side === "flat" ? "" : pos.size}</span>
          <span>mark {price(p?.mark)}</span>
          <span>unrealized {money(p?.unrealized, { signed: true })}</span>
          <span>realized {money(p?.realized, { signed: true })}</span>
        </div>
        <h3>Book (YES){p?.book?.stale ? <span className="stale"> stale</span> : null}</h3>
        {p?.book ? (
          <table className="table ladder" data-testid="book">
            <thead><tr><th className="num">Price</th><th className="num">Size</th><th /></tr></thead>
            <tbody>
              {asks.map((l) => <Level key={`a${l.pips}`} level={l} kind="ask" />)}
              <tr className="spread"><td colSpan={3}>{asks.length && bids.length
                ? `spread ${centsOfPips(asks[asks.length - 1].pips - bids[0].pips)}` : "one-sided book"}</td></tr>
              {bids.map((l) => <Level key={`b${l.pips}`} level={l} kind="bid" />)}
            </tbody>
          </table>
        ) : (
          <p className="muted">No book data: the actor sends books for the markets it trades.</p>
        )}
        <h3>Resting orders</h3>
        <ul className="detail-list" data-testid="detail-orders">
          {(p?.orders ?? []).length === 0 && <li className="muted">none</li>}
          {(p?.orders ?? []).map((o) => (
            <li key={o.order_id}>{o.side.toUpperCase()} {count(o.remaining)} @ {price(o.price)} <span className="muted">filled {count(o.filled)}</span></li>
          ))}
        </ul>
        <h3>Fills</h3>
        <ul className="detail-list" data-testid="detail-fills">
          {fills.length === 0 && <li className="muted">none</li>}
          {fills.map((e) => <li key={e.key}><time>{clock(e.ts_ms)}</time> {describe(e).text}</li>)}
        </ul>
        <h3>Orders</h3>
        <ul className="detail-list" data-testid="detail-order-events">
          {orders.length === 0 && <li className="muted">none</li>}
          {orders.map((e) => <li key={e.key} className={describe(e).tone}><time>{clock(e.ts_ms)}</time> {describe(e).text}</li>)}
        </ul>
      </aside>
    </div>
  );
}
