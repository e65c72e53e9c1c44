// Site: power now against the limit, the charts (site import with the limit in force, the
// plan beside what happened, PV, storage, price; power per EVSE stacked; storage SoC and
// price), the constraints in force with who set them, and the limit tree with each node's
// load against its limit. Live from the event stream.

import { get } from "../api.js";
import { clear, coalesce, debounce, el, fmtKw, fmtMoney, fmtNumber, fmtPct, fmtTime, kpis, setText, fill } from "../dom.js";
import { stack, TimeChart } from "../chart.js";
import { EventStream, powerOf } from "../stream.js";

const HISTORY_REFRESH_MS = 10000;

export async function render(ctx, siteId) {
  const base = `/sites/${encodeURIComponent(siteId)}`;
  // the history (telemetry) loads after the page is shown: on a big site it takes longest
  const historyLoading = get(`${base}/history`);
  historyLoading.catch(() => {});
  const [site, power, plan, constraints] = await Promise.all([
    get(base),
    get(`${base}/power`),
    get(`${base}/plan`),
    get(`${base}/constraints`),
  ]);
  const drawStart = performance.now(); // the page's own cost, after its data has arrived
  const tz = site.timezone;
  const state = {
    evse: new Map(power.evses.filter((e) => e.power_w !== null).map((e) => [`${e.station_id}/${e.evse_id}`, e.power_w])),
    limits: new Map(power.nodes.map((n) => [n.node_id, n.max_import_w])),
    plan,
    history: null,
    constraints,
  };
  const kpi = {};
  const dd = (key) => (kpi[key] = el("dd", { id: `kpi-${key}` }));
  const root = rootNode(site);
  const chartPower = new TimeChart({ title: "Site power (kW)", timeZone: tz });
  const chartEvse = new TimeChart({ title: "Power per EVSE, stacked (kW)", timeZone: tz });
  const chartSoc = new TimeChart({
    title: "Storage state of charge (%) and import price",
    timeZone: tz,
    scales: { pct: { range: [0, 100] }, price: {} },
    axes: [{}, { scale: "pct", label: "%" }, { scale: "price", side: 1, label: `${site.tariff.currency}/kWh`, grid: { show: false } }],
  });
  const constraintsBox = el("div");
  const treeBox = el("div");
  const planBox = el("div");
  const problems = el("div");
  const actions = ctx.can("constraints:write")
    ? el("p", {}, el("a", { class: "button", href: `#/sites/${encodeURIComponent(siteId)}/constraint`, text: "Set a grid constraint" }))
    : null;
  fill(ctx.main, 
    el("h1", { text: `Site ${site.name || site.id}` }),
    el("p", { class: "sub", text: `${site.id} · times in ${tz} · ${site.stations.length} stations` }),
    kpis({ "aria-label": "Site now" },
      ["Power now", dd("power")],
      ["Import limit in force", dd("limit")],
      ["PV (last window)", dd("pv")],
      ["Storage power / state of charge", dd("storage")],
      ["Import price", dd("price")],
      ["Plan", dd("plan")],
    ),
    problems,
    el("h2", { text: "Charts" }),
    el("p", { class: "hint", text: "Measured values are each window's mean; the planned charging power is dashed. The last complete window is shown; the charts refresh by themselves." }),
    chartPower.node,
    chartEvse.node,
    chartSoc.node,
    el("h2", { text: "Grid constraints in force" }),
    actions,
    constraintsBox,
    el("h2", { text: "Limit tree: load against limit" }),
    treeBox,
    el("h2", { text: "Plan" }),
    planBox,
  );

  const drawNow = () => {
    const load = nodeLoads(site, state.evse);
    const rootLoad = root ? load.get(root.id) || 0 : sum(state.evse.values());
    const rootLimit = root ? state.limits.get(root.id) : null;
    setText(kpi.power, fmtKw(rootLoad));
    kpi.power.dataset.watts = String(Math.round(rootLoad));
    setText(kpi.limit, rootLimit == null ? "none" : fmtKw(rootLimit));
    drawTree(treeBox, site, load, state.limits);
  };
  const drawHistory = () => {
    const h = state.history;
    if (!h) return;
    const times = h.times.map((t) => Date.parse(t) / 1000);
    const kw = (values) => values.map((v) => (v == null ? null : v / 1000));
    const last = (values) => { for (let i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i]; return null; };
    chartPower.node.dataset.start = h.start;
    chartPower.node.dataset.stop = h.stop;
    chartPower.node.dataset.window = String(h.window_s);
    const lastImport = h.import_w.length ? h.import_w[h.import_w.length - 1] : null;
    chartPower.node.dataset.lastImportW = lastImport == null ? "" : String(lastImport);
    chartPower.setData(times, [
      { label: "Site import", unit: "kW", values: kw(h.import_w), color: "#0b57a4", width: 3 },
      { label: "Import limit in force", unit: "kW", values: kw(h.limit_w), color: "#b0161e", step: true },
      { label: "Charging, measured", unit: "kW", values: kw(h.charging_w), color: "#1d6b2f" },
      { label: "Charging, planned", unit: "kW", values: kw(h.planned_charging_w), color: "#6a3d9a", dash: [8, 6] },
      { label: "PV", unit: "kW", values: kw(h.pv_w), color: "#b35900" },
      { label: "Storage (+ charging)", unit: "kW", values: kw(h.storage_power_w), color: "#00707a" },
    ], `Site import over ${Math.round((times[times.length - 1] - times[0]) / 60)} minutes: last window ${fmtKw(lastImport)}, limit ${fmtKw(last(h.limit_w))}.`);
    const perEvse = stack(h.evse_power_w.map((s) => ({ label: s.label, unit: "kW", values: kw(s.values) })));
    chartEvse.setData(times, perEvse, `${h.evse_power_w.length} ${h.grouped_by === "evse" ? "EVSEs" : "nodes"} stacked.`);
    chartSoc.setData(times, [
      { label: "Storage state of charge", unit: "%", values: h.storage_soc_pct, scale: "pct", digits: 0, color: "#00707a" },
      { label: "Import price", unit: `${h.currency}/kWh`, values: h.price_per_kwh, scale: "price", digits: 3, color: "#7a5c00", step: true },
    ], `Storage ${fmtPct(last(h.storage_soc_pct))}, price ${fmtNumber(last(h.price_per_kwh), 3, `${h.currency}/kWh`)}.`);
    setText(kpi.pv, fmtKw(last(h.pv_w)));
    setText(kpi.storage, `${fmtKw(last(h.storage_power_w))} / ${fmtPct(last(h.storage_soc_pct))}`);
    setText(kpi.price, fmtMoney(last(h.price_per_kwh), h.currency) + " per kWh");
    clear(problems);
    if (h.problems.length) problems.append(el("p", { class: "notice info", text: `Some series are missing: ${h.problems.join("; ")}` }));
  };
  const drawPlan = () => {
    const p = state.plan;
    setText(kpi.plan, p.status ? `${p.status}, ${fmtTime(p.planned_at, tz)}` : "no plan yet");
    fill(planBox, planTable(p, site, tz));
  };
  const drawConstraints = () => fill(constraintsBox, constraintsTable(state.constraints, tz));
  drawNow();
  drawPlan();
  drawConstraints();
  window.cgRenderMs = performance.now() - drawStart;
  const redrawNow = coalesce(drawNow);

  let alive = true;
  historyLoading.then((h) => {
    if (!alive) return;
    state.history = h;
    drawHistory();
    window.cgChartsReady = performance.now();
  }, (e) => {
    if (alive) fill(problems, el("p", { class: "notice info", text: `The charts could not be loaded: ${e.message}` }));
  });
  const reload = async (what) => {
    if (!alive) return;
    try {
      if (what.includes("history")) { state.history = await get(`${base}/history`); drawHistory(); }
      if (what.includes("plan")) { state.plan = await get(`${base}/plan`); drawPlan(); }
      if (what.includes("constraints")) {
        const [c, p] = await Promise.all([get(`${base}/constraints`), get(`${base}/power`)]);
        state.constraints = c;
        state.limits = new Map(p.nodes.map((n) => [n.node_id, n.max_import_w]));
        drawConstraints();
        redrawNow();
      }
    } catch (e) { /* shown data stays; the next event or timer retries */ }
  };
  const planSoon = debounce(() => reload(["plan"]), 1000);
  const constraintsSoon = debounce(() => reload(["constraints", "history"]), 500);
  const timer = setInterval(() => reload(["history"]), HISTORY_REFRESH_MS);
  const stream = new EventStream(
    { site_id: siteId, type: ["meter.values", "constraint.*", "plan.updated", "site.changed"] },
    (events) => {
      for (const event of events) {
        if (event.type === "meter.values") {
          const watts = powerOf(event);
          if (watts !== null) state.evse.set(`${event.station_id}/${event.data.evse_id}`, watts);
        } else if (event.type === "plan.updated") planSoon();
        else constraintsSoon();
      }
      redrawNow();
    },
    ctx.setLive,
  ).start();
  return () => {
    alive = false;
    clearInterval(timer);
    stream.stop();
    [chartPower, chartEvse, chartSoc].forEach((c) => c.destroy());
  };
}

function sum(values) {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

function rootNode(site) {
  const roots = site.nodes.filter((n) => !n.parent);
  return roots.length === 1 ? roots[0] : null;
}

function ancestors(site, nodeId) {
  const byId = new Map(site.nodes.map((n) => [n.id, n]));
  const out = [];
  let current = nodeId;
  while (current && byId.has(current) && !out.includes(current)) {
    out.push(current);
    current = byId.get(current).parent;
  }
  return out;
}

function nodeLoads(site, evsePower) {
  const load = new Map(site.nodes.map((n) => [n.id, 0]));
  const chain = new Map();
  for (const station of site.stations) {
    for (const evse of station.evses) {
      const node = evse.node || station.node;
      const watts = evsePower.get(`${station.id}/${evse.id}`);
      if (!node || watts == null) continue;
      if (!chain.has(node)) chain.set(node, ancestors(site, node));
      for (const id of chain.get(node)) load.set(id, (load.get(id) || 0) + watts);
    }
  }
  return load;
}

function drawTree(box, site, load, limits) {
  const children = new Map();
  for (const n of site.nodes) {
    const key = n.parent || "";
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(n);
  }
  const item = (node) => {
    const watts = load.get(node.id) || 0;
    const limit = limits.get(node.id);
    const over = limit != null && watts > limit + 1;
    const label = `${node.id} (${node.kind.replace("_", " ")})`;
    const text = `${fmtKw(watts)} of ${limit == null ? "no limit" : fmtKw(limit)}`;
    const id = `node-${node.id}`;
    const li = el("li", { dataset: { node: node.id } },
      el("div", { class: "node" },
        el("span", { id, text: label }),
        limit != null ? el("meter", { min: "0", max: String(limit), high: String(limit * 0.9), value: String(Math.max(0, watts)), "aria-labelledby": id }) : el("span", { class: "hint", text: "no import limit" }),
        el("span", { class: over ? "over" : null, text: over ? `${text} – over the limit` : text }),
      ));
    const kids = children.get(node.id) || [];
    if (kids.length) li.append(el("ul", {}, kids.map(item)));
    return li;
  };
  fill(box, el("ul", { class: "tree", "aria-label": "Limit tree" }, (children.get("") || []).map(item)));
}

function constraintsTable(constraints, tz) {
  if (!constraints.length) return el("p", { text: "None: every node is at its base limits." });
  const limitText = (c) =>
    c.kind === "cap" ? [c.max_import_w != null ? `import ≤ ${fmtKw(c.max_import_w)}` : null, c.max_export_w != null ? `export ≤ ${fmtKw(c.max_export_w)}` : null, c.max_phase_current_a != null ? `≤ ${c.max_phase_current_a} A per phase` : null].filter(Boolean).join(", ")
      : c.kind === "reduce" ? (c.reduce_to_w != null ? `reduce to ${fmtKw(c.reduce_to_w)}` : `reduce by ${c.reduce_by_pct} %`)
        : `price ${c.import_price_per_kwh} per kWh`;
  return el("div", { class: "table-wrap" }, el("table", {},
    el("caption", { text: `Constraints (times in ${tz})` }),
    el("thead", {}, el("tr", {}, ["Set by", "Kind", "Node", "Limit", "From", "Until", "Priority"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, constraints.map((c) => el("tr", { dataset: { constraint: c.id } },
      el("th", { scope: "row", text: c.source }),
      el("td", { text: c.kind }),
      el("td", { text: c.node_id }),
      el("td", { text: limitText(c) }),
      el("td", { text: fmtTime(c.start, tz) }),
      el("td", { text: fmtTime(c.end, tz) }),
      el("td", { class: "num", text: String(c.priority) }),
    ))),
  ));
}

function planTable(plan, site, tz) {
  if (!plan.status) return el("p", { text: "The planner has not planned this site yet." });
  const root = rootNode(site);
  const rootPlan = root ? plan.nodes.find((n) => n.node_id === root.id) : null;
  const rows = plan.steps.slice(0, 8).map((step, i) => el("tr", {},
    el("th", { scope: "row", text: fmtTime(step.start, tz) }),
    el("td", { class: "num", text: rootPlan ? fmtKw(rootPlan.power_w[i]) : "–" }),
    el("td", { class: "num", text: rootPlan ? fmtKw(rootPlan.max_import_w[i]) : "–" }),
    el("td", { text: rootPlan && rootPlan.binding[i] ? rootPlan.binding[i] : "none" }),
  ));
  const sent = plan.evses.filter((e) => e.sent_w != null).length;
  return el("div", {},
    el("p", { text: `${plan.status} plan from ${fmtTime(plan.planned_at, tz)}; solved in ${fmtNumber(plan.solve_s, 2, "s")}; limits sent to ${sent} EVSEs; ${plan.non_compliance_count} non-compliant.` }),
    rows.length ? el("div", { class: "table-wrap" }, el("table", {},
      el("caption", { text: `Planned site import, next steps (times in ${tz})` }),
      el("thead", {}, el("tr", {}, ["Step start", "Planned import", "Import limit", "Binding"].map((h, i) => el("th", { scope: "col", class: i === 1 || i === 2 ? "num" : null, text: h })))),
      el("tbody", {}, rows),
    )) : null,
  );
}
