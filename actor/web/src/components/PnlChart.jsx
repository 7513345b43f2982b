// The P&L over time, in dollars (uPlot). The chart is created once and fed new data; its box
// has a fixed height and follows its container's width, so streaming never moves the page.

import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { axisDollars, clock } from "../format.js";

const HEIGHT = 220;

const SERIES = [
  { label: "Total", key: "total", stroke: "#2563eb", width: 2 },
  { label: "Realized", key: "realized", stroke: "#16a34a", width: 1.5 },
  { label: "Unrealized", key: "unrealized", stroke: "#d97706", width: 1.5 },
  { label: "Fees", key: "fees", stroke: "#9ca3af", width: 1, dash: [4, 3] },
];

const GAP_S = 5; // points further apart than this (the actor was away) are not joined by a line

function columns(points) {
  const xs = [];
  const ys = SERIES.map(() => []);
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    if (i > 0 && p.t - points[i - 1].t > GAP_S) {
      xs.push(points[i - 1].t + 1);
      for (const y of ys) y.push(null); // uPlot draws a gap at a null
    }
    xs.push(p.t);
    for (let s = 0; s < SERIES.length; s++) ys[s].push(p[SERIES[s].key]);
  }
  return [xs, ...ys];
}

// Time ticks as wall-clock HH:MM:SS (or HH:MM), never fractions of a second.
const TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400];
function timeTicks(_u, ticks, _axis, _space, incr) {
  return ticks.map((t) => {
    const text = clock(t * 1000);
    return incr >= 60 ? text.slice(0, 5) : text;
  });
}

// A y range that always shows $0 and never collapses to a line when P&L is flat.
function yRange(_u, min, max) {
  const lo = Math.min(min ?? 0, 0);
  const hi = Math.max(max ?? 0, 0);
  const pad = Math.max((hi - lo) * 0.1, 0.05);
  return [lo - pad, hi + pad];
}

export function PnlChart({ points }) {
  const box = useRef(null);
  const plot = useRef(null);

  useEffect(() => {
    const el = box.current;
    const opts = {
      width: Math.max(200, el.clientWidth),
      height: HEIGHT,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: yRange } },
      axes: [
        { stroke: "#6b7280", grid: { stroke: "#e5e7eb" }, incrs: TIME_INCRS, space: 70, values: timeTicks },
        { stroke: "#6b7280", grid: { stroke: "#e5e7eb" }, size: 64, values: (_u, ticks) => ticks.map(axisDollars) },
      ],
      series: [{}, ...SERIES.map(({ label, stroke, width, dash }) => ({
        label, stroke, width, dash, points: { show: false }, value: (_u, v) => axisDollars(v),
      }))],
    };
    plot.current = new uPlot(opts, columns([]), el);
    const resize = new ResizeObserver(() => {
      plot.current?.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData(columns(points));
  }, [points]);

  return <div className="pnl-chart" ref={box} data-testid="pnl-chart" data-points={points.length} />;
}
