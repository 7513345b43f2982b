// P&L: the actor's account figures as numbers (exact strings) and the chart over time.

import { money, sign } from "../format.js";
import { PnlChart } from "./PnlChart.jsx";

const FIGURES = [
  ["total", "Total P&L", true],
  ["realized", "Realized", true],
  ["unrealized", "Unrealized", true],
  ["fees", "Fees", false],
  ["cash", "Cash", false],
  ["exposure", "Exposure", false],
];

export function PnlPanel({ pnl, series }) {
  return (
    <section className="card pnl" aria-label="P&L">
      <div className="figures">
        {FIGURES.map(([key, label, signed]) => {
          const value = pnl?.[key];
          const tone = signed ? ["neg", "zero", "pos"][sign(value) + 1] : "plain";
          return (
            <div className={`figure figure-${key}`} key={key}>
              <div className="figure-label">{label}</div>
              <div className={`figure-value ${tone}`} data-testid={`pnl-${key}`}>{money(value, { signed })}</div>
            </div>
          );
        })}
      </div>
      <PnlChart points={series} />
    </section>
  );
}
