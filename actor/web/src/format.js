// Display of the actor's exact strings (money "12.3400", prices "0.5600", counts "10.00").
// Exact: the strings are cut and regrouped, never passed through floats; arithmetic (average
// cost) is on integers of the smallest unit, as on the server.

const MINUS = "\u2212";
const DASH = "\u2014";

function split(text) {
  const s = String(text).trim();
  const neg = s.startsWith("-");
  const body = neg || s.startsWith("+") ? s.slice(1) : s;
  const [whole = "0", frac = ""] = body.split(".");
  return { neg, whole: whole.replace(/^0+(?=\d)/, "") || "0", frac };
}

function group(whole) {
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function isZero(whole, frac) {
  return /^0*$/.test(whole) && /^0*$/.test(frac);
}

/** "12.3400" -> "$12.34"; "-0.0175" -> "−$0.0175"; signed: "+$1.20". Null -> "—". */
export function money(text, { signed = false } = {}) {
  if (text == null || text === "") return DASH;
  const { neg, whole, frac } = split(text);
  let f = frac.replace(/0+$/, "");
  if (f.length < 2) f = f.padEnd(2, "0");
  const zero = isZero(whole, frac);
  const sign = zero ? "" : neg ? MINUS : signed ? "+" : "";
  return `${sign}$${group(whole)}.${f}`;
}

/** -1, 0 or 1: the sign of a decimal string (for colours). */
export function sign(text) {
  if (text == null) return 0;
  const { neg, whole, frac } = split(text);
  return isZero(whole, frac) ? 0 : neg ? -1 : 1;
}

/** Integer of 10^-decimals units: ("0.5600", 4) -> 5600. */
export function fixed(text, decimals) {
  const { neg, whole, frac } = split(text);
  const n = Number(whole) * 10 ** decimals + Number((frac + "0".repeat(decimals)).slice(0, decimals) || "0");
  return neg ? -n : n;
}

/** Cents from pips (1/10,000 $): 5600 -> "56¢", 5650 -> "56.5¢". */
export function centsOfPips(pips) {
  if (pips == null || !Number.isFinite(pips)) return DASH;
  const neg = pips < 0;
  const abs = Math.abs(Math.round(pips));
  const whole = Math.floor(abs / 100);
  const rest = String(abs % 100).padStart(2, "0").replace(/0+$/, "");
  return `${neg ? MINUS : ""}${whole}${rest ? "." + rest : ""}\u00a2`;
}

/** A dollar price string as cents: "0.5600" -> "56¢". */
export function price(text) {
  if (text == null || text === "") return DASH;
  return centsOfPips(fixed(text, 4));
}

/** A count string without needless decimals: "10.00" -> "10", "1.50" -> "1.5". */
export function count(text) {
  if (text == null || text === "") return DASH;
  const { neg, whole, frac } = split(text);
  const f = frac.replace(/0+$/, "");
  return `${neg ? MINUS : ""}${group(whole)}${f ? "." + f : ""}`;
}

/** A signed position ("-3.00") as side and size: {side: "YES"|"NO"|"flat", size: "3"}. */
export function position(text) {
  const s = sign(text);
  if (s === 0) return { side: "flat", size: "0" };
  return { side: s > 0 ? "YES" : "NO", size: count(String(text).replace(/^[-+]/, "")) };
}

/** Average cost per contract, in pips, from a cost basis (money) and a signed count; null when flat. */
export function averageCostPips(costBasis, positionText) {
  const micros = fixed(costBasis ?? "0", 6);
  const hundredths = Math.abs(fixed(positionText ?? "0", 2));
  if (!hundredths) return null;
  // micros per contract = micros * 100 / hundredths; pips = micros / 100
  return micros / hundredths;
}

/** Wall-clock time of a ms timestamp, HH:MM:SS (24 h). */
export function clock(ms) {
  if (ms == null) return DASH;
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

/** "3 s ago", "2 min ago". */
export function ago(ms, now = Date.now()) {
  if (ms == null) return DASH;
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** Dollars for chart axes: 12.5 -> "$12.50", -0.5 -> "−$0.50". */
export function axisDollars(value) {
  if (value == null || !Number.isFinite(value)) return "";
  const abs = Math.abs(value);
  const text = abs >= 1000 ? abs.toLocaleString("en-US", { maximumFractionDigits: 0 }) : abs.toFixed(2);
  return `${value < 0 ? MINUS : ""}$${text}`;
}
