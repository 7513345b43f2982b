import { act, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LIMITS } from "../../src/state.js";
import { SUBPROTOCOL, actorSocketProtocols, actorSocketUrl, backoffDelay, useActorWebSocket, viewerToken }
  from "../../src/useActorWebSocket.js";
import { STARTED, fill, pnlEvent, position, snapshot } from "./frames.js";

// A WebSocket the test plays the actor's side of.
class FakeSocket {
  static all = [];
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.closedWith = null;
    FakeSocket.all.push(this);
  }
  static get last() {
    return FakeSocket.all.at(-1);
  }
  open() {
    act(() => this.onopen?.({}));
  }
  send(frame) {
    act(() => this.onmessage?.({ data: JSON.stringify(frame) }));
  }
  serverClose(code = 1006, reason = "") {
    act(() => this.onclose?.({ code, reason }));
  }
  close(code = 1000, reason = "") {
    this.closedWith = { code, reason };
    queueMicrotask(() => this.onclose?.({ code, reason }));
  }
}

const fixedRandom = () => 0.5; // no jitter
const options = { url: "ws://actor.test/rl/actor/ws", WebSocketImpl: FakeSocket, random: fixedRandom,
  backoff: { initialMs: 100, maxMs: 800, factor: 2, jitter: 0.2 } };

beforeEach(() => {
  FakeSocket.all = [];
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("the viewer token", () => {
  const storage = () => {
    const items = new Map();
    return { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, v) };
  };

  it("comes from the fragment, is kept for the tab and leaves the address bar", () => {
    const store = storage();
    const replaced = [];
    const history = { replaceState: (_s, _t, url) => replaced.push(url) };
    const location = { hash: "#token=abc123-_.~", pathname: "/", search: "?x=1" };
    expect(viewerToken(location, store, history)).toBe("abc123-_.~");
    expect(replaced).toEqual(["/?x=1"]);
    expect(viewerToken({ hash: "", pathname: "/", search: "" }, store, history)).toBe("abc123-_.~");
    expect(viewerToken({ hash: "", pathname: "/", search: "" }, storage(), history)).toBeNull();
  });

  it("travels as a subprotocol beside ours, never in the URL", () => {
    expect(actorSocketProtocols("tok")).toEqual([SUBPROTOCOL, "bearer.tok"]);
    expect(actorSocketProtocols(null)).toEqual([SUBPROTOCOL]);
    renderHook(() => useActorWebSocket({ ...options, token: "tok" }));
    expect(FakeSocket.last.protocols).toEqual([SUBPROTOCOL, "bearer.tok"]);
    expect(FakeSocket.last.url).toBe("ws://actor.test/rl/actor/ws");
  });
});

describe("useActorWebSocket", () => {
  it("builds the same-origin URL, ws:// or wss:// by the page's protocol", () => {
    expect(actorSocketUrl({ protocol: "http:", host: "pod:8000" })).toBe("ws://pod:8000/rl/actor/ws");
    expect(actorSocketUrl({ protocol: "https:", host: "actor.example" })).toBe("wss://actor.example/rl/actor/ws");
    expect(actorSocketUrl()).toBe(`ws://${window.location.host}/rl/actor/ws`);
  });

  it("applies the snapshot, then the events", () => {
    const { result } = renderHook(() => useActorWebSocket(options));
    expect(FakeSocket.all).toHaveLength(1);
    expect(FakeSocket.last.url).toBe(options.url);
    expect(result.current.connection.status).toBe("connecting");
    const ws = FakeSocket.last;
    ws.open();
    ws.send(snapshot(3, { positions: [position("MKT-A")], recent: [fill(2)] }));
    expect(result.current.connection.status).toBe("live");
    ws.send(fill(4));
    ws.send(pnlEvent(5, "2.5000"));
    expect(result.current.fills.map((e) => e.seq)).toEqual([4, 2]);
    expect(result.current.pnl.total).toBe("2.5000");
    expect(result.current.lastSeq).toBe(5);
  });

  it("reconnects with backoff after the actor goes away, and re-syncs from the next snapshot", () => {
    const { result } = renderHook(() => useActorWebSocket(options));
    FakeSocket.last.open();
    FakeSocket.last.send(snapshot(1, { recent: [fill(1)] }));
    FakeSocket.last.serverClose(1006);
    expect(result.current.connection.status).toBe("reconnecting");
    expect(FakeSocket.all).toHaveLength(1);

    // attempt 1 after 100 ms: refused
    act(() => vi.advanceTimersByTime(99));
    expect(FakeSocket.all).toHaveLength(1);
    act(() => vi.advanceTimersByTime(1));
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.last.serverClose(1006);
    // attempt 2 after 200 ms, attempt 3 after 400 ms: refused; the view calls it lost
    act(() => vi.advanceTimersByTime(200));
    expect(FakeSocket.all).toHaveLength(3);
    FakeSocket.last.serverClose(1006);
    expect(result.current.connection.status).toBe("lost");
    act(() => vi.advanceTimersByTime(400));
    expect(FakeSocket.all).toHaveLength(4);

    // the actor is back (restarted: seqs start again)
    const restarted = STARTED + 60_000;
    FakeSocket.last.open();
    FakeSocket.last.send(snapshot(1, { started: restarted, recent: [{ ...fill(1), ts_ms: restarted }] }));
    expect(result.current.connection.status).toBe("live");
    FakeSocket.last.send(fill(2));
    expect(result.current.lastSeq).toBe(2);
    expect(result.current.fills).toHaveLength(3); // 1 before, 1 and 2 after the restart

    // a later drop starts the backoff from the beginning again
    FakeSocket.last.serverClose(1006);
    act(() => vi.advanceTimersByTime(100));
    expect(FakeSocket.all).toHaveLength(5);
  });

  it("caps the backoff", () => {
    const delays = [1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, options.backoff, fixedRandom));
    expect(delays).toEqual([100, 200, 400, 800, 800, 800]);
    expect(backoffDelay(1, options.backoff, () => 0)).toBe(80); // jitter -20%
    expect(backoffDelay(1, options.backoff, () => 1)).toBe(120); // jitter +20%
  });

  it("drops the connection at a seq gap and re-syncs at once", async () => {
    const { result } = renderHook(() => useActorWebSocket(options));
    const first = FakeSocket.last;
    first.open();
    first.send(snapshot(1));
    first.send(fill(2));
    first.send(fill(4)); // 3 is missing
    expect(result.current.resync).toBe(true);
    expect(first.closedWith?.code).toBe(4000);
    await act(async () => {
      await Promise.resolve(); // the close event
      vi.advanceTimersByTime(0); // reconnect without waiting
    });
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.last.open();
    FakeSocket.last.send(snapshot(4, { recent: [fill(2), fill(3), fill(4)] }));
    expect(result.current.resync).toBe(false);
    expect(result.current.fills.map((e) => e.seq)).toEqual([4, 3, 2]);
  });

  it("keeps its lists bounded under a long stream", () => {
    const { result } = renderHook(() => useActorWebSocket(options));
    const ws = FakeSocket.last;
    ws.open();
    ws.send(snapshot(0));
    act(() => {
      for (let seq = 1; seq <= LIMITS.fills * 2; seq++) ws.onmessage({ data: JSON.stringify(fill(seq)) });
    });
    expect(result.current.fills).toHaveLength(LIMITS.fills);
    expect(result.current.fills[0].seq).toBe(LIMITS.fills * 2);
  });

  it("closes on unmount and does not reconnect", async () => {
    const { unmount } = renderHook(() => useActorWebSocket(options));
    const ws = FakeSocket.last;
    ws.open();
    unmount();
    expect(ws.closedWith?.code).toBe(1000);
    await act(async () => {
      await Promise.resolve();
      vi.advanceTimersByTime(10_000);
    });
    expect(FakeSocket.all).toHaveLength(1);
  });
});
