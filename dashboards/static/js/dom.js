// DOM building without innerHTML (station ids, tokens and messages come from outside) and
// the number, unit and time formats every page uses.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

// A figures list (`<dl class="kpis">`): each [label, value] pair a `<div>` of a `<dt>` with
// the label and the value's node (its `<dd>`).
export function kpis(attrs, ...items) {
  const pairs = items.map(([label, value]) => el("div", {}, el("dt", { text: label }), value));
  return el("dl", { class: "kpis", ...attrs }, ...pairs);
}

// Replace a node's children (null, false and nested arrays are skipped, unlike Node.append).
export function fill(node, ...children) {
  clear(node);
  return append(node, children);
}

export function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

const DASH = "–";

export function fmtKw(watts, digits = 1) {
  if (watts === null || watts === undefined || !Number.isFinite(watts)) return DASH;
  return `${(watts / 1000).toFixed(digits)} kW`;
}

export function fmtKwh(wh, digits = 1) {
  if (wh === null || wh === undefined || !Number.isFinite(wh)) return DASH;
  return `${(wh / 1000).toFixed(digits)} kWh`;
}

export function fmtPct(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  return `${value.toFixed(0)} %`;
}

export function fmtMoney(value, currency) {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency: currency || "EUR" }).format(value);
  } catch (e) {
    return `${value.toFixed(2)} ${currency || ""}`.trim();
  }
}

export function fmtNumber(value, digits = 0, unit = "") {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  return `${value.toFixed(digits)}${unit ? " " + unit : ""}`;
}

const formatters = new Map();

function formatter(timeZone, withDate) {
  const key = `${timeZone}|${withDate}`;
  let f = formatters.get(key);
  if (!f) {
    const options = { timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
    if (withDate) Object.assign(options, { year: "numeric", month: "2-digit", day: "2-digit" });
    try {
      f = new Intl.DateTimeFormat("en-CA", options);
    } catch (e) {
      f = new Intl.DateTimeFormat("en-CA", { ...options, timeZone: "UTC" });
    }
    formatters.set(key, f);
  }
  return f;
}

// A time in the site's time zone: "2026-03-02, 14:05:00".
export function fmtTime(value, timeZone = "UTC", withDate = true) {
  if (!value) return DASH;
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return DASH;
  return formatter(timeZone, withDate).format(date);
}

export function tzLabel(timeZone) {
  return `time zone ${timeZone || "UTC"}`;
}

// Announce a short message to screen readers (polite).
export function announce(text) {
  const region = document.getElementById("announce");
  if (!region) return;
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 30);
}

// Run fn at most once per animation frame (and at least every `maxWaitMs` in a hidden tab).
export function coalesce(fn, maxWaitMs = 1000) {
  let scheduled = false;
  let timer = null;
  const run = () => {
    if (!scheduled) return;
    scheduled = false;
    clearTimeout(timer);
    fn();
  };
  return () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(run);
    timer = setTimeout(run, maxWaitMs);
  };
}

// Call fn after `ms` of quiet, but at least every `ms * 4`.
export function debounce(fn, ms) {
  let timer = null;
  let first = 0;
  return () => {
    const now = Date.now();
    if (!timer) first = now;
    clearTimeout(timer);
    const wait = Math.max(0, Math.min(ms, first + ms * 4 - now));
    timer = setTimeout(() => { timer = null; fn(); }, wait);
  };
}
