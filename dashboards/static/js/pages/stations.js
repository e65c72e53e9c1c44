// Stations: a sortable, filterable table of every station the token may see, kept live.

import { get } from "../api.js";
import { clear, coalesce, el, fmtTime, fill } from "../dom.js";
import { EventStream } from "../stream.js";
import { DataTable } from "../table.js";

export async function render(ctx) {
  const list = await get("/stations");
  const rows = new Map(list.map((s) => [s.station_id, { ...s, faulted: 0, status: "" }]));
  const table = new DataTable({
    caption: "Stations (last seen in each site's time zone)",
    key: (r) => r.station_id,
    filterLabel: "Filter stations",
    columns: [
      { key: "station_id", label: "Station", render: (r) => el("a", { href: `#/stations/${encodeURIComponent(r.station_id)}`, text: r.station_id }) },
      { key: "site_id", label: "Site", render: (r) => r.site_id || "(none)" },
      { key: "online", label: "Connection", value: (r) => (r.online ? 0 : 1), render: (r) => el("span", { class: r.online ? "status-ok" : "status-bad", text: r.online ? "online" : "offline" }) },
      { key: "status", label: "Last status", render: (r) => r.status || "–" },
      { key: "ocpp_version", label: "OCPP", render: (r) => r.ocpp_version || "–" },
      { key: "model", label: "Vendor / model", value: (r) => `${r.vendor || ""} ${r.model || ""}`.trim(), render: (r) => `${r.vendor || "–"} / ${r.model || "–"}` },
      { key: "last_seen_at", label: "Last seen", render: (r) => fmtTime(r.last_seen_at, ctx.timeZone(r.site_id)) },
    ],
  });
  table.setRows([...rows.values()]);
  fill(ctx.main, 
    el("h1", { text: "Stations" }),
    el("p", { class: "sub", text: `${rows.size} stations; connection and status update live.` }),
    table.node,
  );
  const redraw = coalesce(() => table.setRows([...rows.values()]));
  const stream = new EventStream({ type: ["station.*"] }, (events) => {
    for (const e of events) {
      const row = rows.get(e.station_id);
      if (!row) continue;
      if (e.type === "station.connected") row.online = true;
      else if (e.type === "station.disconnected") row.online = false;
      else if (e.type === "station.status") row.status = `EVSE ${e.data.evse_id}: ${e.data.status}`;
      else if (e.type === "station.booted") { row.vendor = e.data.info.vendor; row.model = e.data.info.model; }
      row.last_seen_at = e.at;
    }
    redraw();
  }, ctx.setLive).start();
  return () => stream.stop();
}
