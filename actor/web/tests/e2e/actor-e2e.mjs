// End to end: the actor's web view in real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; never a downloaded browser), against a real actor trading the simulator.
//
// tests/test_web.py prepares the simulator, the keys and a model registry, then runs this script
// with the actor's environment (RL_ACTOR_*) and:
//   E2E_ACTOR_CMD   JSON array: the command serving the actor on E2E_ACTOR_PORT
//   E2E_ACTOR_PORT  the actor's port
//   E2E_ACTOR_LOG   where the actor's output goes (appended)
//   E2E_SECRETS     JSON array of strings that must never reach the page
//   E2E_ARTIFACTS   where the screenshots go
//   CHROMIUM_PATH   default /usr/bin/chromium
// The script starts the actor, checks the page as it trades, kills the actor (SIGKILL), checks the
// page says so, restarts it, checks the page recovers. Exit status 0 only when every check passed.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const env = process.env;
const CHROMIUM = env.CHROMIUM_PATH || "/usr/bin/chromium";
const PORT = Number(env.E2E_ACTOR_PORT);
const BASE = `http://127.0.0.1:${PORT}`;
const ACTOR_CMD = JSON.parse(env.E2E_ACTOR_CMD || "[]");
const VIEWER = env.RL_ACTOR_VIEWER_TOKEN || ""; // the page gets it as a Kubernetes user would: /#token=...
const SECRETS = JSON.parse(env.E2E_SECRETS || "[]").filter((s) => s && s.length >= 8);
const ARTIFACTS = env.E2E_ARTIFACTS || "artifacts/web";
const ACTOR_LOG = env.E2E_ACTOR_LOG || path.join(ARTIFACTS, "actor.log");
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const LAPTOP = { width: 1366, height: 860 };
const PHONE = { width: 390, height: 844 };

const t0 = Date.now();
const log = (msg) => console.log(`[e2e +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);

function check(ok, message) {
  if (!ok) throw new Error(`check failed: ${message}`);
}

if (!fs.existsSync(CHROMIUM)) {
  console.error(`e2e: no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium); never a downloaded browser`);
  process.exit(2);
}
if (!PORT || ACTOR_CMD.length === 0) {
  console.error("e2e: E2E_ACTOR_CMD and E2E_ACTOR_PORT are required (tests/test_web.py sets them)");
  process.exit(2);
}
fs.mkdirSync(ARTIFACTS, { recursive: true });
fs.rmSync(path.join(ARTIFACTS, "failure.png"), { force: true });

// --- the actor process ---

let actor = null;

function startActor() {
  const out = fs.openSync(ACTOR_LOG, "a");
  actor = spawn(ACTOR_CMD[0], ACTOR_CMD.slice(1), { env, stdio: ["ignore", out, out] });
  fs.closeSync(out);
  const proc = actor;
  proc.exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  log(`actor started (pid ${proc.pid})`);
}

async function killActor() {
  if (!actor) return;
  const proc = actor;
  actor = null;
  if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  const { code, signal } = await proc.exited;
  log(`actor ${proc.pid} ended (${signal ?? code})`);
}

async function waitForHealth(timeoutMs) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (actor && actor.exitCode !== null) throw new Error(`the actor exited with status ${actor.exitCode}; see ${ACTOR_LOG}`);
    try {
      const res = await fetch(`${BASE}/rl/actor/health`, VIEWER ? { headers: { Authorization: `Bearer ${VIEWER}` } } : {});
      const body = await res.json();
      if (body.ready) return body;
    } catch {
      // not serving yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the actor was not ready within ${timeoutMs} ms; see ${ACTOR_LOG}`);
}

// --- page helpers ---

const $ = (id) => `[data-testid="${id}"]`;

async function connectionIs(page, states, timeout) {
  await page.waitForFunction(
    ([sel, wanted]) => wanted.includes(document.querySelector(sel)?.dataset.state),
    [$("connection"), states], { timeout },
  );
}

async function sample(page) {
  return page.evaluate(() => {
    const q = (id) => document.querySelector(`[data-testid="${id}"]`);
    const rows = [...document.querySelectorAll('[data-testid="activity-row"]')];
    return {
      seq: Number(q("app")?.dataset.seq || 0),
      total: q("pnl-total")?.textContent,
      fees: q("pnl-fees")?.textContent,
      realized: q("pnl-realized")?.textContent,
      points: Number(q("pnl-chart")?.dataset.points || 0),
      positions: q("positions-table")?.innerText,
      positionCount: document.querySelectorAll('[data-testid="position-row"]').length,
      firstKey: rows[0]?.dataset.key,
      fillKeys: rows.filter((r) => r.dataset.type === "fill").map((r) => r.dataset.key),
      rowCount: rows.length,
    };
  });
}

async function waitUntil(page, what, predicate, timeoutMs) {
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    last = await sample(page);
    if (predicate(last)) return last;
    await page.waitForTimeout(250);
  }
  throw new Error(`timed out waiting for ${what}; last sample: ${JSON.stringify(last)}`);
}

async function shoot(page, name) {
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: false });
  log(`screenshot ${file}`);
}

// --- the run ---

let browser = null;
let page = null;
const frames = []; // every WebSocket frame the page received (for the secrets check)
const pageErrors = [];
const consoleErrors = [];

async function main() {
  startActor();
  const health = await waitForHealth(90_000);
  log(`actor ready: model ${health.active_model_id}, ${health.markets.length} markets`);

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: LAPTOP });
  await context.addInitScript(() => {
    // layout shifts while data streams in (Chromium's Layout Instability API)
    window.__shifts = { supported: PerformanceObserver.supportedEntryTypes.includes("layout-shift"), total: 0 };
    if (window.__shifts.supported) {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          if (e.hadRecentInput) continue;
          // The log is newest first: its rows move down as rows arrive, by design (and a reader
          // scrolled into it is held in place by the browser's scroll anchoring). Everything else
          // must stay put.
          const inLog = (s) => s.node?.parentElement?.closest?.('[data-testid="activity-log"]') || s.node?.closest?.('[data-testid="activity-log"]');
          if ((e.sources ?? []).length > 0 && e.sources.every(inLog)) continue;
          window.__shifts.total += e.value;
          const what = (e.sources ?? []).map((s) => {
            const n = s.node?.nodeType === 3 ? s.node.parentElement : s.node; // a text node: its element
            return n ? `${n.nodeName.toLowerCase()}.${n.className || ""}[${n.dataset?.testid ?? ""}]` : "?";
          });
          window.__shifts.last = [...(window.__shifts.last ?? []).slice(-9), `${e.value.toFixed(3)} ${what.join(" ")}`];
        }
      }).observe({ type: "layout-shift", buffered: true });
    }
  });
  page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("websocket", (ws) => ws.on("framereceived", (f) => { if (frames.length < 20_000) frames.push(String(f.payload)); }));

  // 1. live, and trading: P&L, positions and activity change as the actor trades
  await page.goto(BASE + "/" + (VIEWER ? `#token=${VIEWER}` : ""));
  await connectionIs(page, ["live"], 30_000);
  check(!(await page.evaluate(() => location.href)).includes("token="), "the viewer token left the address bar");
  await page.waitForSelector($("action-share"), { timeout: 30_000 });
  check((await page.$$($("action-share"))).length > 0, "the model panel shows the live action shares");
  check((await page.textContent($("environment"))).trim() === "sim", "the environment badge says sim");
  check((await page.textContent($("model-id"))).trim() === health.active_model_id, "the header shows the active model");
  check((await page.textContent($("risk"))).includes("ACTIVE"), "the risk state is ACTIVE");
  check(/loaded \d\d:\d\d:\d\d/.test(await page.textContent($("model"))), "the header shows when the model was loaded");
  check((await page.textContent($("exchange"))).includes("connected"), "the actor's exchange connection is shown");
  const first = await waitUntil(page, "the first fills and positions",
    (s) => s.fillKeys.length > 0 && s.positionCount > 0 && s.points >= 2, 60_000);
  // the taker model closes what it opens, so a position is open only part of the time: wait for one
  const marked = await page.waitForFunction((sel) => [...document.querySelectorAll(sel)]
    .some((td) => /\d\u00a2$/.test(td.textContent)), `${$("position-row")} td:nth-child(4)`,
    { timeout: 30_000, polling: 100 }).then(() => true, () => false);
  const marks = await page.$$eval(`${$("position-row")} td:nth-child(4)`, (tds) => tds.map((td) => td.textContent));
  check(marked, `open positions show their mark: ${marks}`);
  log(`trading: ${first.positionCount} positions, ${first.fillKeys.length} fills shown, P&L ${first.total}`);
  const later = await waitUntil(page, "P&L, positions and activity to change",
    (s) => s.fees !== first.fees && s.points > first.points && s.positions !== first.positions
      && s.firstKey !== first.firstKey && s.fillKeys.some((k) => !first.fillKeys.includes(k)), 30_000);
  log(`changed: fees ${first.fees} -> ${later.fees}, chart ${first.points} -> ${later.points} points`);
  check(/^[\u2212+]?\$[\d,]+\.\d{2,4}$/.test(later.total), `the total P&L is dollars: ${later.total}`);

  // 2. no layout jumps while data streams in: no layout shift outside the log, no section moved or resized
  const boxes = () => page.evaluate(() => [...document.querySelectorAll("header, .card, .figure, .pnl-chart, .pill")]
    .map((el) => { const r = el.getBoundingClientRect(); return [r.x, r.y, r.width, r.height].map(Math.round).join(","); }));
  const shifts = await page.evaluate(() => window.__shifts);
  const boxesBefore = await boxes();
  check(shifts.supported, "Chromium reports layout shifts");
  await page.waitForTimeout(4000);
  const shifted = (await page.evaluate(() => window.__shifts.total)) - shifts.total;
  const sources = await page.evaluate(() => window.__shifts.last ?? []);
  log(`layout shift while streaming 4 s: ${shifted.toFixed(4)} ${sources.join("; ")}`);
  check(shifted < 0.01, `no layout jumps while streaming (shift ${shifted}; last: ${sources.join("; ")})`);
  const boxesAfter = await boxes();
  check(JSON.stringify(boxesAfter) === JSON.stringify(boxesBefore),
    `no section moved or resized while streaming: ${boxesBefore.filter((b, i) => b !== boxesAfter[i])} -> ${boxesAfter.filter((b, i) => b !== boxesBefore[i])}`);
  await shoot(page, "laptop-live.png");

  // 3. filters, sorting, market detail
  await page.selectOption($("filter-type"), "fill");
  const types = await page.$$eval($("activity-row"), (rows) => rows.map((r) => r.dataset.type));
  check(types.length > 0 && types.every((t) => t === "fill"), `the type filter shows fills only: ${types.slice(0, 5)}`);
  const ticker = await page.getAttribute(`${$("position-row")} >> nth=0`, "data-ticker");
  await page.selectOption($("filter-market"), ticker);
  const markets = await page.$$eval(`${$("activity-row")} .log-market`, (els) => els.map((e) => e.textContent));
  check(markets.length > 0 && markets.every((m) => m === ticker), "the market filter shows that market only");
  await page.selectOption($("filter-type"), "all");
  await page.selectOption($("filter-market"), "");
  await page.click($("sort-exposure"));
  check(await page.getAttribute(`th:has(${$("sort-exposure")})`, "aria-sort") === "descending", "positions sort");
  await page.click(`${$("position-row")}[data-ticker="${ticker}"]`);
  await page.waitForSelector($("market-detail"));
  check((await page.textContent($("detail-ticker"))).trim() === ticker, "the detail is the clicked market");
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length > 0, $("book-level"), { timeout: 10_000 });
  const fillsThere = await page.$$eval(`${$("detail-fills")} li`, (li) => li.map((l) => l.textContent));
  check(fillsThere.length > 0 && fillsThere[0].includes("bought"), "the detail lists the actor's fills in the market");
  await shoot(page, "market-detail.png");
  await page.keyboard.press("Escape");
  await page.waitForSelector($("market-detail"), { state: "detached" });

  // 4. a phone's width: everything fits the width (tables scroll inside their cards)
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(800);
  const widths = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(widths[0] <= widths[1], `no sideways scrolling on a phone: ${widths}`);
  await shoot(page, "phone-live.png");
  await page.screenshot({ path: path.join(ARTIFACTS, "phone-live-full.png"), fullPage: true });
  await page.setViewportSize(LAPTOP);

  // 5. the actor dies: the page says so
  const before = await sample(page);
  await killActor();
  await connectionIs(page, ["reconnecting", "lost"], 10_000);
  log("the page shows the connection lost (reconnecting)");
  await connectionIs(page, ["lost"], 20_000);
  const down = await sample(page);
  check(down.total === before.total, `the last figures stay on the page: ${before.total} -> ${down.total}`);
  await shoot(page, "connection-lost.png");

  // 6. the actor is back: the page re-syncs and goes on
  startActor();
  await waitForHealth(90_000);
  await connectionIs(page, ["live"], 30_000);
  log("the page is live again");
  await waitUntil(page, "new fills after the restart",
    (s) => s.fillKeys.some((k) => !before.fillKeys.includes(k) && !down.fillKeys.includes(k)) && s.points >= down.points + 2, 60_000);
  await shoot(page, "recovered.png");

  // 7. no secret anywhere: the page's HTML, its scripts and styles, its storage, every frame it received
  const html = await page.content();
  const assets = await page.evaluate(async () => {
    const urls = performance.getEntriesByType("resource").map((e) => e.name).filter((u) => /\.(js|css)$/.test(new URL(u).pathname));
    return Promise.all([location.href, ...urls].map(async (u) => (await fetch(u)).text()));
  });
  const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
  const haystacks = { html, assets: assets.join("\n"), storage, frames: frames.join("\n") };
  check(frames.length > 0 && SECRETS.length > 0, "there were frames and secrets to check");
  for (const [where, text] of Object.entries(haystacks)) {
    for (const secret of SECRETS) check(!text.includes(secret), `a secret (${secret.slice(0, 4)}…) appears in the page's ${where}`);
  }
  log(`no secret in ${html.length} chars of HTML, ${assets.length} assets, ${frames.length} frames`);

  // 8. nothing broke on the page (the refused reconnects while the actor was down are expected)
  const unexpected = consoleErrors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(e));
  check(pageErrors.length === 0, `no page errors: ${pageErrors}`);
  check(unexpected.length === 0, `no console errors: ${unexpected}`);
}

try {
  await main();
  log("PASS");
} catch (err) {
  process.exitCode = 1;
  console.error(`[e2e] FAIL: ${err?.stack ?? err}`);
  if (page) await page.screenshot({ path: path.join(ARTIFACTS, "failure.png") }).catch(() => {});
} finally {
  await browser?.close().catch(() => {});
  await killActor().catch(() => {});
}
