// Sessions: a sortable, filterable table of charging sessions (active or recent), kept live.

import { get, query } from "../api.js";
import { clear, debounce, el, fmtKwh, fmtMoney, fmtTime, fill } from "../dom.js";
import { EventStream } from "../stream.js";
import { DataTable } from "../table.js";

export async function render(ctx) {
  const params = { active: "", limit: 500 };
  const fetchRows = async () => {
    const me = await get("/me");
    const since = new Date(Date.parse(me.now) - 7 * 86400000).toISOString();
    return get(`/transactions${query({ active: params.active, since, limit: params.limit })}`);
  };
  let rows = await fetchRows();
  const table = new DataTable({
    caption: "Sessions started in the last 7 days (times in each site's time zone)",
    key: (r) => r.id,
    filterLabel: "Filter sessions (station, token, site…)",
    initialSort: { key: "started_at", dir: "descending" },
    columns: [
      { key: "id", label: "Session", render: (r) => el("a", { href: `#/sessions/${r.id}`, text: `#${r.id}` }) },
      { key: "site_id", label: "Site", render: (r) => r.site_id || "–" },
      { key: "station_id", label: "Station" },
      { key: "evse_id", label: "EVSE", num: true },
      { key: "id_token", label: "Id token", render: (r) => r.id_token || "–" },
      { key: "started_at", label: "Started", render: (r) => fmtTime(r.started_at, ctx.timeZone(r.site_id)) },
      { key: "stopped_at", label: "Ended", render: (r) => (r.active ? "charging" : fmtTime(r.stopped_at, ctx.timeZone(r.site_id))) },
      { key: "energy_wh", label: "Energy (kWh)", num: true, render: (r) => fmtKwh(r.energy_wh, 2) },
      { key: "cost", label: "Cost", num: true, render: (r) => fmtMoney(r.cost, r.currency) },
    ],
  });
  table.setRows(rows);
  const activeSelect = el("select", { id: "sessions-active" },
    el("option", { value: "", text: "all" }), el("option", { value: "true", text: "charging now" }), el("option", { value: "false", text: "ended" }));
  const reload = debounce(async () => {
    try { rows = await fetchRows(); table.setRows(rows); } catch (e) { /* keep */ }
  }, 1000);
  activeSelect.addEventListener("change", () => { params.active = activeSelect.value; reload(); });
  fill(ctx.main, 
    el("h1", { text: "Sessions" }),
    el("div", { class: "field" }, el("label", { for: "sessions-active", text: "Show" }), activeSelect),
    table.node,
  );
  const stream = new EventStream({ type: ["transaction.started", "transaction.ended"] }, () => reload(), ctx.setLive).start();
  return () => stream.stop();
}
