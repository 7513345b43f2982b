// useActorWebSocket: the actor's event stream (same origin, /rl/actor/ws) as one reducer state.
//
// Each connection starts from the actor's snapshot; events follow (see state.js for the seq rules).
// On close it reconnects with exponential backoff (and jitter); on a seq gap it reconnects at once,
// to re-sync from the next snapshot. Nothing here grows without bound: the reducer caps every list.

import { useEffect, useReducer, useRef } from "react";
import { actorReducer, closed, connecting, frameReceived, initialState, opened, retrying, tick } from "./state.js";

export const WS_PATH = "/rl/actor/ws";

export const DEFAULT_BACKOFF = Object.freeze({ initialMs: 500, maxMs: 5000, factor: 2, jitter: 0.2 });

/** The events URL of the page's own origin: ws:// for http pages, wss:// for https ones. */
export function actorSocketUrl(location = globalThis.location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${WS_PATH}`;
}

export const SUBPROTOCOL = "kalshi-actor.v1";
const TOKEN_KEY = "kalshi-actor.viewer-token";

/**
 * The viewer token (RL_ACTOR_VIEWER_TOKEN), given in the page's fragment: `/#token=...`. A fragment
 * never reaches a server or its logs; it is kept for the tab (sessionStorage) and taken off the
 * address bar. Null when none was given (a local actor needs none).
 */
export function viewerToken(location = globalThis.location, storage = globalThis.sessionStorage,
                            history = globalThis.history) {
  const given = new URLSearchParams((location?.hash ?? "").replace(/^#/, "")).get("token");
  if (given) {
    storage?.setItem(TOKEN_KEY, given);
    history?.replaceState?.(null, "", `${location.pathname}${location.search}`);
    return given;
  }
  return storage?.getItem(TOKEN_KEY) ?? null;
}

/** The subprotocols offered: ours, and the token as `bearer.<token>` (a browser cannot set headers). */
export function actorSocketProtocols(token) {
  return token ? [SUBPROTOCOL, `bearer.${token}`] : [SUBPROTOCOL];
}

/** The wait before reconnect attempt `attempt` (1, 2, ...), in ms: exponential, capped, jittered. */
export function backoffDelay(attempt, backoff = DEFAULT_BACKOFF, random = Math.random) {
  const { initialMs, maxMs, factor, jitter } = { ...DEFAULT_BACKOFF, ...backoff };
  const base = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt - 1));
  return Math.round(base * (1 - jitter + 2 * jitter * random()));
}

/**
 * @param {object} [options]
 * @param {string} [options.url] the events URL (default: this origin's /rl/actor/ws)
 * @param {string|null} [options.token] the viewer token (default: from the page's fragment, see viewerToken)
 * @param {typeof WebSocket} [options.WebSocketImpl] for tests
 * @param {object} [options.backoff] {initialMs, maxMs, factor, jitter}
 * @param {() => number} [options.random] for tests (jitter)
 * @returns the reducer state (see state.js `initialState`)
 */
export function useActorWebSocket(options = {}) {
  const { url = actorSocketUrl(), WebSocketImpl = globalThis.WebSocket, backoff, random = Math.random } = options;
  const token = options.token === undefined ? viewerToken() : options.token;
  const [state, dispatch] = useReducer(actorReducer, undefined, initialState);
  const socketRef = useRef(null);
  const resyncRef = useRef(false);
  const backoffRef = useRef(backoff);
  backoffRef.current = backoff;

  useEffect(() => {
    let stopped = false;
    let timer = null;
    let attempt = 0;

    const connect = () => {
      timer = null;
      dispatch(connecting());
      let ws;
      try {
        ws = new WebSocketImpl(url, actorSocketProtocols(token));
      } catch {
        schedule();
        return;
      }
      socketRef.current = ws;
      ws.onopen = () => dispatch(opened());
      ws.onmessage = (event) => {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch {
          return; // not ours: ignore
        }
        if (frame?.type === "actor_snapshot") attempt = 0;
        dispatch(frameReceived(frame, Date.now()));
      };
      ws.onerror = () => {}; // a close always follows
      ws.onclose = (event) => {
        if (socketRef.current !== ws) return;
        socketRef.current = null;
        if (stopped) return;
        dispatch(closed(Date.now(), event?.code, event?.reason));
        schedule();
      };
    };

    const schedule = () => {
      attempt += 1;
      const delay = resyncRef.current ? 0 : backoffDelay(attempt, backoffRef.current, random);
      resyncRef.current = false;
      dispatch(retrying(Date.now(), attempt, delay));
      timer = setTimeout(connect, delay);
    };

    connect();
    const clock = setInterval(() => dispatch(tick(Date.now())), 1000);
    return () => {
      stopped = true;
      clearInterval(clock);
      if (timer !== null) clearTimeout(timer);
      const ws = socketRef.current;
      socketRef.current = null;
      if (ws) ws.close(1000, "view closed");
    };
  }, [url, token, WebSocketImpl, random]);

  // A seq gap: drop this connection; the reconnect (at once) starts from a fresh snapshot.
  useEffect(() => {
    if (state.resync && socketRef.current) {
      resyncRef.current = true;
      socketRef.current.close(4000, "resync after a seq gap");
    }
  }, [state.resync]);

  return state;
}
