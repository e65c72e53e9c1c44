// Reports: energy and cost per day, vehicle group or id token, with a CSV download.

import { get, query, request } from "../api.js";
import { clear, el, fmtKwh, fmtMoney, fill } from "../dom.js";
import { DataTable } from "../table.js";

const GROUPS = [["day", "Day (site time)"], ["vehicle_group", "Vehicle group"], ["id_token", "Id token"]];

export async function render(ctx) {
  const sites = [...ctx.sites.values()];
  const groupSelect = el("select", { id: "report-group", name: "group_by" }, GROUPS.map(([v, t]) => el("option", { value: v, text: t })));
  const siteSelect = el("select", { id: "report-site", name: "site_id" }, el("option", { value: "", text: "all my sites" }), sites.map((s) => el("option", { value: s.id, text: s.name || s.id })));
  const daysInput = el("input", { id: "report-days", name: "days", type: "number", min: "1", max: "400", value: "7", required: true });
  const status = el("p", { role: "status", class: "hint" });
  const totals = el("p", { id: "report-totals" });
  let report = null;
  const table = new DataTable({
    caption: "Energy and cost",
    key: (r) => `${r.key}|${r.currency}`,
    filterLabel: "Filter rows",
    columns: [
      { key: "key", label: "Group" },
      { key: "sessions", label: "Sessions", num: true },
      { key: "active_sessions", label: "Still charging", num: true },
      { key: "energy_wh", label: "Energy (kWh)", num: true, render: (r) => fmtKwh(r.energy_wh, 2) },
      { key: "cost", label: "Cost", num: true, render: (r) => fmtMoney(r.cost, r.currency) },
    ],
  });
  const params = async () => {
    const me = await get("/me");
    const until = new Date(Date.parse(me.now));
    const since = new Date(until.getTime() - Number(daysInput.value || 7) * 86400000);
    return { group_by: groupSelect.value, site_id: siteSelect.value, since: since.toISOString(), until: until.toISOString() };
  };
  const form = el("form", { id: "report-form", class: "inline" },
    el("div", { class: "row" },
      el("div", { class: "field" }, el("label", { for: "report-group", text: "Per" }), groupSelect),
      el("div", { class: "field" }, el("label", { for: "report-site", text: "Site" }), siteSelect),
      el("div", { class: "field" }, el("label", { for: "report-days", text: "Last days" }), daysInput),
      el("button", { type: "submit", text: "Show" }),
      el("button", { type: "button", class: "secondary", id: "report-csv", text: "Download CSV", onclick: async () => download(await params()) }),
    ));
  let latest = 0;
  const load = async () => {
    const mine = ++latest; // a slower, older request never overwrites a newer one
    const label = groupSelect.selectedOptions[0].textContent.toLowerCase();
    status.textContent = "Loading…";
    const got = await get(`/reports/energy${query(await params())}`);
    if (mine !== latest) return;
    report = got;
    table.setRows(report.rows);
    totals.textContent = `${report.total_sessions} sessions, ${fmtKwh(report.total_energy_wh, 2)} in total.`;
    status.textContent = `Report per ${label} loaded.`;
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await load(); } catch (error) { status.textContent = `Refused: ${error.message}`; }
  });
  fill(ctx.main, el("h1", { text: "Reports" }), el("p", { class: "sub", text: "Energy (kWh) and cost of the sessions that started in the period; sessions still charging count the energy so far." }), form, status, totals, table.node);
  await load();
  return () => {};
}

async function download(params) {
  const response = await request(`/reports/energy.csv${query(params)}`, { raw: true });
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: `energy-by-${params.group_by}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
