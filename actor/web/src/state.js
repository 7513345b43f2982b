// The view's one state: the actor's snapshot, then its events, applied by ONE reducer.
//
// Frames (actor/events.py): one {"type": "actor_snapshot", "seq": N, "data": {...}} per connection,
// then events {"type", "seq", "ts_ms", "data"} with seq N+1, N+2, ... An event at or below the last
// seq is a duplicate (ignored); one beyond last+1 is a gap: nothing more is applied and `resync`
// asks the hook to reconnect, which starts again from a fresh snapshot. Every list is bounded.

export const LIMITS = Object.freeze({
  actions: 300, // actor_action entries kept
  orders: 300, // actor_order entries kept
  fills: 300, // actor_fill entries kept
  system: 100, // actor_status / actor_model entries kept
  pnlPoints: 3600, // P&L chart points (one a second: an hour)
});

const LIST_OF = {
  actor_action: "actions",
  actor_order: "orders",
  actor_fill: "fills",
  actor_status: "system",
  actor_model: "system",
};

export const CONNECTION = Object.freeze({
  CONNECTING: "connecting", // first connection not yet synced
  LIVE: "live", // connected and synced from a snapshot
  RECONNECTING: "reconnecting", // lost, trying again
  LOST: "lost", // down for a while (LOST_AFTER_MS or several failed attempts)
});

export const LOST_AFTER_MS = 5000;

const CLOSE_REASONS = {
  1001: "the actor is shutting down",
  1006: "connection to the actor lost",
  1011: "the actor failed to send its snapshot",
  1013: "the actor dropped this view (too slow)",
  4000: "re-syncing after a gap",
};
export const LOST_AFTER_ATTEMPTS = 3;

export function initialState() {
  return {
    connection: { status: CONNECTION.CONNECTING, attempt: 0, downSince: null, reason: null, retryAt: null },
    synced: false, // a snapshot was applied on the current connection
    resync: false, // a gap was seen: reconnect for a fresh snapshot
    lastSeq: null,
    epoch: null, // the actor process (status.started_ms): seqs restart with it
    lastFrameMs: null,
    status: null,
    model: null,
    pnl: null,
    pnlSeries: [], // [{t (seconds), total, realized, unrealized, fees}] oldest first
    positions: {}, // ticker -> the latest actor_position data
    actions: [],
    orders: [],
    fills: [],
    system: [],
  };
}

// --- connection actions (dispatched by the hook) ---

export const connecting = () => ({ kind: "connecting" });
export const opened = () => ({ kind: "open" });
export const closed = (now, code, reason) => ({ kind: "close", now, code, reason });
export const retrying = (now, attempt, delayMs) => ({ kind: "retry", now, attempt, delayMs });
export const tick = (now) => ({ kind: "tick", now });
export const frameReceived = (frame, now) => ({ kind: "frame", frame, now });

export function actorReducer(state, action) {
  switch (action.kind) {
    case "connecting":
      return { ...state, synced: false, resync: false };
    case "open":
      return state;
    case "close": {
      const c = state.connection;
      const downSince = c.downSince ?? action.now;
      return {
        ...state,
        synced: false,
        connection: {
          ...c,
          status: c.status === CONNECTION.LOST ? CONNECTION.LOST : CONNECTION.RECONNECTING,
          downSince,
          reason: action.reason || CLOSE_REASONS[action.code] || c.reason || `connection closed (${action.code ?? "no code"})`,
        },
      };
    }
    case "retry": {
      const c = state.connection;
      const downSince = c.downSince ?? action.now;
      const lost = action.attempt >= LOST_AFTER_ATTEMPTS || action.now - downSince >= LOST_AFTER_MS;
      return {
        ...state,
        connection: {
          ...c,
          attempt: action.attempt,
          downSince,
          retryAt: action.now + action.delayMs,
          status: lost ? CONNECTION.LOST : c.status === CONNECTION.CONNECTING ? c.status : CONNECTION.RECONNECTING,
        },
      };
    }
    case "tick": {
      const c = state.connection;
      if (c.status === CONNECTION.RECONNECTING && c.downSince != null && action.now - c.downSince >= LOST_AFTER_MS) {
        return { ...state, connection: { ...c, status: CONNECTION.LOST } };
      }
      return state;
    }
    case "frame":
      return applyFrame(state, action.frame, action.now);
    default:
      return state;
  }
}

function applyFrame(state, frame, now) {
  if (!frame || typeof frame.type !== "string") return state;
  if (frame.type === "actor_snapshot") return applySnapshot(state, frame, now);
  if (frame.type === "actor_dropped") {
    // the actor dropped us (too slow): the socket closes next; the next connection re-syncs
    const reason = frame.data?.reason ?? "dropped by the actor";
    return { ...state, synced: false, connection: { ...state.connection, reason } };
  }
  if (!state.synced || state.resync) return state; // nothing is applied before the snapshot or after a gap
  const seq = frame.seq;
  if (typeof seq !== "number") return state;
  if (seq <= state.lastSeq) return state; // a duplicate
  if (seq !== state.lastSeq + 1) return { ...state, resync: true }; // a gap: start again from a snapshot
  const next = { ...state, lastSeq: seq, lastFrameMs: now };
  applyEvent(next, frame, state.epoch);
  return next;
}

function applySnapshot(state, frame, now) {
  const data = frame.data ?? {};
  const status = data.status ?? null;
  const epoch = status?.started_ms ?? null;
  const sameProcess = epoch != null && epoch === state.epoch;
  const next = {
    ...state,
    synced: true,
    resync: false,
    lastSeq: frame.seq ?? 0,
    epoch,
    lastFrameMs: now,
    connection: { status: CONNECTION.LIVE, attempt: 0, downSince: null, reason: null, retryAt: null },
    status,
    model: data.model ?? null,
    pnl: data.pnl ?? null,
    positions: Object.fromEntries((data.positions ?? []).map((p) => [p.market_ticker, p])),
  };
  // The recent events (oldest first) fill in what this view missed. From the same process, only
  // those after what was applied; from a new one (seqs restart), all of them.
  const after = sameProcess ? state.lastSeq ?? 0 : -Infinity;
  const draft = { actions: [], orders: [], fills: [], system: [], pnl: [] };
  for (const event of data.recent ?? []) {
    if (event.seq > after) collect(draft, event, epoch);
  }
  for (const name of ["actions", "orders", "fills", "system"]) {
    next[name] = prepend(state[name], draft[name].reverse(), LIMITS[name]);
  }
  // a starting actor (not trading yet) reports zeros, not its P&L: kept off the chart
  next.pnlSeries = mergeSeries(state.pnlSeries, draft.pnl, status?.trading ? data.pnl : null, frame.ts_ms);
  return next;
}

// One event into `next` (a fresh copy of the state; its lists are replaced, not mutated).
function applyEvent(next, frame, epoch) {
  const data = frame.data ?? {};
  switch (frame.type) {
    case "actor_position":
      if (data.market_ticker) next.positions = { ...next.positions, [data.market_ticker]: data };
      break;
    case "actor_pnl":
      next.pnl = data;
      next.pnlSeries = appendPoint(next.pnlSeries, pnlPoint(frame.ts_ms, data));
      return;
    case "actor_status":
      next.status = data;
      break;
    case "actor_model":
      next.model = data;
      break;
    default:
      break;
  }
  const list = LIST_OF[frame.type];
  if (list) next[list] = prepend(next[list], [entry(frame, epoch)], LIMITS[list]);
}

function collect(draft, event, epoch) {
  if (event.type === "actor_pnl") {
    draft.pnl.push(pnlPoint(event.ts_ms, event.data ?? {}));
    return;
  }
  const list = LIST_OF[event.type];
  if (list) draft[list].push(entry(event, epoch));
}

function entry(frame, epoch) {
  return { key: `${epoch ?? "?"}:${frame.seq}`, type: frame.type, seq: frame.seq, ts_ms: frame.ts_ms, data: frame.data ?? {} };
}

// `items` newest first, in front of `list` (newest first), cut to `limit`.
function prepend(list, items, limit) {
  if (items.length === 0) return list;
  const out = items.length >= limit ? items.slice(0, limit) : items.concat(list.slice(0, limit - items.length));
  return out;
}

export function pnlPoint(tsMs, data) {
  return {
    t: tsMs / 1000,
    total: dollars(data.total),
    realized: dollars(data.realized),
    unrealized: dollars(data.unrealized),
    fees: dollars(data.fees),
  };
}

function appendPoint(series, point) {
  const last = series[series.length - 1];
  if (last && point.t <= last.t) return series; // the chart's x must increase
  const out = series.length >= LIMITS.pnlPoints ? series.slice(series.length - LIMITS.pnlPoints + 1) : series.slice();
  out.push(point);
  return out;
}

// Keep the older history this view has, then the snapshot's recent points, then the snapshot's own.
function mergeSeries(series, recent, pnl, tsMs) {
  const points = recent.slice();
  if (pnl && typeof tsMs === "number") points.push(pnlPoint(tsMs, pnl));
  if (points.length === 0) return series;
  const first = points[0].t;
  let out = series.filter((p) => p.t < first);
  for (const p of points) {
    const last = out[out.length - 1];
    if (!last || p.t > last.t) out.push(p);
  }
  if (out.length > LIMITS.pnlPoints) out = out.slice(out.length - LIMITS.pnlPoints);
  return out;
}

// A dollar string ("12.3400") as a number, for the chart only (the numbers shown are the strings).
export function dollars(text) {
  const n = Number.parseFloat(text);
  return Number.isFinite(n) ? n : null;
}
