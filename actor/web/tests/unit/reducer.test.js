import { describe, expect, it } from "vitest";
import {
  CONNECTION, LIMITS, LOST_AFTER_ATTEMPTS, LOST_AFTER_MS, actorReducer, closed, frameReceived, initialState, retrying, tick,
} from "../../src/state.js";
import { STARTED, action, event, fill, order, pnlEvent, position, snapshot } from "./frames.js";

const apply = (state, ...frames) => frames.reduce((s, f) => actorReducer(s, frameReceived(f, 0)), state);

describe("snapshot then events", () => {
  it("starts from the snapshot and applies the events after it, in order", () => {
    let s = apply(initialState(), snapshot(10, { positions: [position("MKT-A")], recent: [fill(9), pnlEvent(8, "-0.5000")] }));
    expect(s.synced).toBe(true);
    expect(s.connection.status).toBe(CONNECTION.LIVE);
    expect(s.lastSeq).toBe(10);
    expect(s.status.name).toBe("test-actor");
    expect(s.model.active.id).toBe("m1");
    expect(Object.keys(s.positions)).toEqual(["MKT-A"]);
    expect(s.fills.map((e) => e.seq)).toEqual([9]);
    expect(s.pnlSeries.map((p) => p.total)).toEqual([-0.5, 0]); // the recent point, then the snapshot's own

    s = apply(s, order(11), fill(12), event("actor_position", 13, position("MKT-A", { position: "2.00" })),
      pnlEvent(14, "1.2500"), action(15), event("actor_status", 16, { ...s.status, risk_state: "REDUCING", message: "risk" }));
    expect(s.lastSeq).toBe(16);
    expect(s.fills.map((e) => e.seq)).toEqual([12, 9]); // newest first
    expect(s.orders.map((e) => e.seq)).toEqual([11]);
    expect(s.actions.map((e) => e.seq)).toEqual([15]);
    expect(s.positions["MKT-A"].position).toBe("2.00");
    expect(s.pnl.total).toBe("1.2500");
    expect(s.pnlSeries.at(-1).total).toBe(1.25);
    expect(s.status.risk_state).toBe("REDUCING");
    expect(s.system.map((e) => e.seq)).toEqual([16]);
  });

  it("ignores events before the first snapshot and duplicates after it", () => {
    let s = apply(initialState(), fill(3));
    expect(s.fills).toEqual([]);
    expect(s.synced).toBe(false);
    s = apply(s, snapshot(5), fill(6), fill(6), fill(4), fill(5));
    expect(s.fills.map((e) => e.seq)).toEqual([6]);
    expect(s.lastSeq).toBe(6);
    expect(s.resync).toBe(false); // a duplicate is not a gap
    s = apply(s, fill(7));
    expect(s.fills.map((e) => e.seq)).toEqual([7, 6]);
  });

  it("stops at a gap and asks for a resync; the next snapshot resumes", () => {
    let s = apply(initialState(), snapshot(5), fill(6), fill(8), fill(9));
    expect(s.resync).toBe(true);
    expect(s.lastSeq).toBe(6);
    expect(s.fills.map((e) => e.seq)).toEqual([6]); // nothing after the gap
    s = apply(s, snapshot(9, { recent: [fill(6), fill(7), fill(8), fill(9)] }), fill(10));
    expect(s.resync).toBe(false);
    expect(s.fills.map((e) => e.seq)).toEqual([10, 9, 8, 7, 6]); // 6 only once
  });

  it("keeps a starting actor's zeros off the chart", () => {
    const starting = snapshot(1, { total: "0.0000" });
    starting.data.status.trading = false;
    let s = apply(initialState(), starting);
    expect(s.pnlSeries).toEqual([]);
    expect(s.pnl.total).toBe("0.0000"); // the figures are still what the actor says
    s = apply(s, pnlEvent(2, "-1.0000"));
    expect(s.pnlSeries.map((p) => p.total)).toEqual([-1]);
  });

  it("replaces positions with the snapshot's (a market gone from it is gone)", () => {
    let s = apply(initialState(), snapshot(1, { positions: [position("A"), position("B")] }));
    s = apply(s, snapshot(2, { positions: [position("B")] }));
    expect(Object.keys(s.positions)).toEqual(["B"]);
  });
});

describe("reconnect", () => {
  it("to the same actor: adds only what was missed", () => {
    let s = apply(initialState(), snapshot(2, { recent: [fill(1), fill(2)] }), fill(3));
    s = actorReducer(s, closed(1000, 1006, ""));
    expect(s.connection.status).toBe(CONNECTION.RECONNECTING);
    expect(s.synced).toBe(false);
    s = apply(s, fill(4)); // not synced: ignored
    s = apply(s, snapshot(5, { recent: [fill(1), fill(2), fill(3), fill(4), fill(5)] }));
    expect(s.connection.status).toBe(CONNECTION.LIVE);
    expect(s.fills.map((e) => e.seq)).toEqual([5, 4, 3, 2, 1]);
    expect(new Set(s.fills.map((e) => e.key)).size).toBe(5);
  });

  it("to a restarted actor: seqs start again and nothing is mistaken for a duplicate", () => {
    let s = apply(initialState(), snapshot(40, { recent: [fill(39), pnlEvent(40, "-1.0000")] }), fill(41));
    const restarted = STARTED + 3_600_000;
    s = actorReducer(s, closed(1, 1006, ""));
    s = apply(s, snapshot(2, { started: restarted, recent: [event("actor_fill", 1, fill(1).data, restarted + 100)] }),
      event("actor_fill", 3, fill(3).data, restarted + 200));
    expect(s.epoch).toBe(restarted);
    expect(s.lastSeq).toBe(3);
    expect(s.fills.map((e) => e.seq)).toEqual([3, 1, 41, 39]);
    expect(new Set(s.fills.map((e) => e.key)).size).toBe(4);
    // the chart keeps the earlier history, in time order
    const ts = s.pnlSeries.map((p) => p.t);
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
    expect(s.pnlSeries.length).toBeGreaterThanOrEqual(2);
  });

  it("reports reconnecting, then lost after attempts or time, then live again", () => {
    let s = apply(initialState(), snapshot(1));
    s = actorReducer(s, closed(10_000, 1006, "gone"));
    expect(s.connection).toMatchObject({ status: "reconnecting", downSince: 10_000, reason: "gone" });
    s = actorReducer(s, retrying(10_001, 1, 500));
    expect(s.connection.status).toBe("reconnecting");
    s = actorReducer(s, tick(10_000 + LOST_AFTER_MS - 1));
    expect(s.connection.status).toBe("reconnecting");
    s = actorReducer(s, tick(10_000 + LOST_AFTER_MS));
    expect(s.connection.status).toBe("lost");
    s = apply(s, snapshot(2));
    expect(s.connection).toMatchObject({ status: "live", attempt: 0, downSince: null });

    s = actorReducer(s, closed(50_000, 1006, ""));
    for (let a = 1; a <= LOST_AFTER_ATTEMPTS; a++) s = actorReducer(s, retrying(50_000 + a, a, 100));
    expect(s.connection.status).toBe("lost");
  });

  it("is told when the actor dropped it", () => {
    let s = apply(initialState(), snapshot(1));
    s = apply(s, { type: "actor_dropped", seq: null, ts_ms: 0, data: { reason: "too slow", last_seq: 1 } });
    expect(s.synced).toBe(false);
    expect(s.connection.reason).toBe("too slow");
    s = apply(s, fill(2));
    expect(s.fills).toEqual([]);
  });
});

describe("bounds", () => {
  it("keeps every list and the chart bounded", () => {
    let s = apply(initialState(), snapshot(0));
    let seq = 0;
    for (let i = 0; i < LIMITS.fills + 50; i++) s = apply(s, fill(++seq));
    for (let i = 0; i < LIMITS.orders + 50; i++) s = apply(s, order(++seq));
    for (let i = 0; i < LIMITS.actions + 50; i++) s = apply(s, action(++seq));
    for (let i = 0; i < LIMITS.system + 50; i++) s = apply(s, event("actor_model", ++seq, { active: null }));
    for (let i = 0; i < LIMITS.pnlPoints + 50; i++) s = apply(s, pnlEvent(++seq, "0.0000"));
    expect(s.lastSeq).toBe(seq);
    expect(s.fills.length).toBe(LIMITS.fills);
    expect(s.orders.length).toBe(LIMITS.orders);
    expect(s.actions.length).toBe(LIMITS.actions);
    expect(s.system.length).toBe(LIMITS.system);
    expect(s.pnlSeries.length).toBe(LIMITS.pnlPoints);
    expect(s.fills[0].seq).toBe(LIMITS.fills + 50); // the newest kept
  });

  it("bounds what a large snapshot brings", () => {
    const recent = [];
    for (let i = 1; i <= 1000; i++) recent.push(fill(i));
    const s = apply(initialState(), snapshot(1000, { recent }));
    expect(s.fills.length).toBe(LIMITS.fills);
    expect(s.fills[0].seq).toBe(1000);
  });
});
