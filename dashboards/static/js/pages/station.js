// Station: status, connectors, live meter values, active sessions, the commands the role may
// send (each a job whose outcome is shown) and the recent OCPP messages.

import { get, post, query } from "../api.js";
import { announce, clear, coalesce, debounce, el, fmtNumber, fmtTime, kpis, setText, fill } from "../dom.js";
import { EventStream } from "../stream.js";

const TRIGGERS = ["StatusNotification", "MeterValues", "Heartbeat", "BootNotification"];

export async function render(ctx, stationId) {
  const base = `/stations/${encodeURIComponent(stationId)}`;
  const station = await get(base); // 404 / 403: the error page says so
  const [connectors, meter, sessions, messages] = await Promise.all([
    get(`${base}/connectors`),
    get(`${base}/meter`),
    get(`/transactions${query({ station_id: stationId, active: true })}`),
    ctx.can("transactions:read") ? get(`${base}/messages${query({ limit: 40 })}`) : Promise.resolve([]),
  ]);
  const tz = ctx.timeZone(station.site_id);
  const state = {
    online: station.online,
    connectors: new Map(connectors.map((c) => [`${c.evse_id}/${c.connector_id}`, c])),
    meter: new Map(meter.map((m) => [`${m.evse_id}/${m.connector_id}/${m.measurand}/${m.phase || ""}`, m])),
    sessions,
    messages,
  };
  const online = el("dd", { id: "station-online" });
  const connectorsBox = el("div");
  const meterBox = el("div");
  const sessionsBox = el("div");
  const messagesBox = el("div");
  const commandsBox = ctx.can("commands:write") ? commandsSection(stationId, () => state, tz) : null;
  fill(ctx.main, 
    el("h1", { text: `Station ${station.station_id}` }),
    el("p", { class: "sub", text: `Site ${station.site_id || "(none)"} · times in ${tz}` }),
    kpis({},
      ["Connection", online],
      ["OCPP", el("dd", { text: station.ocpp_version || "–" })],
      ["Vendor / model", el("dd", { text: `${station.vendor || "–"} / ${station.model || "–"}` })],
      ["Firmware", el("dd", { text: station.firmware_version || "–" })],
      ["Registration", el("dd", { text: station.registration })],
      ["Last boot", el("dd", { text: fmtTime(station.last_boot_at, tz) })],
    ),
    el("div", { class: "grid2" },
      el("section", { "aria-labelledby": "h-connectors" }, el("h2", { id: "h-connectors", text: "Connectors" }), connectorsBox),
      el("section", { "aria-labelledby": "h-meter" }, el("h2", { id: "h-meter", text: "Live meter values" }), meterBox),
    ),
    el("section", { "aria-labelledby": "h-sessions" }, el("h2", { id: "h-sessions", text: "Active sessions" }), sessionsBox),
    commandsBox,
    ctx.can("transactions:read") ? el("section", { "aria-labelledby": "h-messages" }, el("h2", { id: "h-messages", text: "Recent OCPP messages" }), messagesBox) : null,
  );
  const draw = () => {
    setText(online, state.online ? "online" : "offline");
    online.className = state.online ? "status-ok" : "status-bad";
    fill(connectorsBox, table("Connector status", ["EVSE", "Connector", "Status", "Error", `Since (${tz})`],
      [...state.connectors.values()].sort((a, b) => a.evse_id - b.evse_id || a.connector_id - b.connector_id).map((c) => [
        String(c.evse_id), String(c.connector_id), el("span", { class: c.status === "Faulted" ? "status-bad" : c.status === "Available" ? "status-ok" : null, text: c.status }), c.error_code || "–", fmtTime(c.timestamp, tz)])));
    fill(meterBox, table("Latest reading per EVSE and measurand", ["EVSE", "Measurand", "Phase", "Value", `At (${tz})`],
      [...state.meter.values()].sort((a, b) => a.evse_id - b.evse_id || a.measurand.localeCompare(b.measurand)).map((m) => [
        String(m.evse_id), m.measurand, m.phase || "–", fmtNumber(m.value, m.unit === "Wh" || m.unit === "W" ? 0 : 1, m.unit), fmtTime(m.timestamp, tz)]), "meter"));
    fill(sessionsBox, state.sessions.length
      ? table("Sessions charging now", ["Session", "EVSE", "Id token", `Started (${tz})`], state.sessions.map((t) => [
        el("a", { href: `#/sessions/${t.id}`, text: `#${t.id}` }), String(t.evse_id), t.id_token || "–", fmtTime(t.started_at, tz)]))
      : el("p", { text: "No session is charging." }));
    fill(messagesBox, messagesTable(state.messages, tz));
    if (commandsBox) commandsBox.refreshSessions();
  };
  draw();
  const redraw = coalesce(draw);
  let alive = true;
  const reloadMessages = debounce(async () => {
    if (!alive || !ctx.can("transactions:read")) return;
    try { state.messages = await get(`${base}/messages${query({ limit: 40 })}`); redraw(); } catch (e) { /* keep */ }
  }, 1000);
  const reloadSessions = debounce(async () => {
    if (!alive) return;
    try { state.sessions = await get(`/transactions${query({ station_id: stationId, active: true })}`); redraw(); } catch (e) { /* keep */ }
  }, 500);
  const stream = new EventStream({ station_id: stationId }, (events) => {
    for (const e of events) {
      if (e.type === "station.connected") state.online = true;
      else if (e.type === "station.disconnected") state.online = false;
      else if (e.type === "station.status") state.connectors.set(`${e.data.evse_id}/${e.data.connector_id}`, { ...e.data });
      else if (e.type === "meter.values") {
        for (const s of e.data.samples) {
          state.meter.set(`${e.data.evse_id}/${e.data.connector_id}/${s.measurand}/${s.phase || ""}`, { evse_id: e.data.evse_id, connector_id: e.data.connector_id, ...s });
        }
      } else if (e.type.startsWith("transaction.")) reloadSessions();
    }
    reloadMessages();
    redraw();
  }, ctx.setLive).start();
  window.cgPage = { state };
  return () => { alive = false; stream.stop(); };
}

function table(caption, headers, rows, name) {
  return el("div", { class: "table-wrap" }, el("table", { dataset: name ? { table: name } : undefined },
    el("caption", { text: caption }),
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows.length ? rows.map((cells) => el("tr", {}, cells.map((c, i) => el(i === 0 ? "th" : "td", i === 0 ? { scope: "row" } : {}, c)))) : el("tr", {}, el("td", { colspan: headers.length, text: "None yet." }))),
  ));
}

function messagesTable(messages, tz) {
  const direction = (m) => (m.direction === "in" ? "station → CSMS" : "CSMS → station");
  const payload = (m) => {
    const text = JSON.stringify(m.payload);
    return text && text.length > 400 ? `${text.slice(0, 400)}…` : text || "";
  };
  return el("div", { class: "table-wrap" }, el("table", { class: "messages", dataset: { table: "messages" } },
    el("caption", { text: `The last ${messages.length} frames, newest first (${tz})` }),
    el("thead", {}, el("tr", {}, ["Time", "Direction", "Type", "Action", "Payload"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, messages.map((m) => el("tr", {},
      el("th", { scope: "row", text: fmtTime(m.at, tz) }),
      el("td", { text: direction(m) }),
      el("td", { text: m.error_code ? `${m.kind} ${m.error_code}` : m.kind }),
      el("td", { text: m.action || "–" }),
      el("td", { class: "payload", text: payload(m) }),
    ))),
  ));
}

// The commands a fleet manager (or admin) may send; each becomes a job, whose outcome is shown.
function commandsSection(stationId, getState, tz) {
  const result = el("div", { id: "command-result", role: "status", "aria-live": "polite" });
  const evses = () => [...new Set([...getState().connectors.values()].map((c) => c.evse_id).filter((e) => e > 0))];
  const evseSelect = (id) => el("select", { id, name: "evse_id" }, (evses().length ? evses() : [1]).map((e) => el("option", { value: String(e), text: `EVSE ${e}` })));
  const field = (id, label, control) => el("div", { class: "field" }, el("label", { for: id, text: label }), control);
  const send = async (body, label) => {
    fill(result, el("p", { class: "result", "data-status": "pending", text: `${label}: sent, waiting for the station…` }));
    try {
      const key = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
      let job = await post("/commands", { station_id: stationId, ...body }, { headers: { "Idempotency-Key": key } });
      while (job.status === "pending") job = await get(`/jobs/${job.job_id}${query({ wait_s: 20 })}`);
      const text = job.status === "succeeded" ? `${label}: ${outcome(job.result)}` : `${label} failed: ${job.error ? `${job.error.type || ""} ${job.error.message || JSON.stringify(job.error)}`.trim() : "no answer"}`;
      fill(result, el("p", { class: "result", "data-status": job.status, "data-job": job.job_id, text }));
      announce(text);
    } catch (error) {
      const text = `${label} refused: ${error.message}`;
      fill(result, el("p", { class: "result", "data-status": "failed", role: "alert", text }));
    }
  };
  const form = (id, title, controls, build) => {
    const f = el("form", { id, class: "inline", "aria-label": title }, el("h3", { text: title }), el("div", { class: "row" }, controls, el("button", { type: "submit", text: title })));
    f.addEventListener("submit", (e) => { e.preventDefault(); send(build(new FormData(f)), title); });
    return f;
  };
  const txSelect = el("select", { id: "stop-tx", name: "transaction_id" });
  const refreshTx = () => {
    fill(txSelect, getState().sessions.map((t) => el("option", { value: String(t.id), text: `#${t.id} on EVSE ${t.evse_id}` })));
    if (!getState().sessions.length) txSelect.append(el("option", { value: "", text: "no active session" }));
  };
  refreshTx();
  const section = el("section", { "aria-labelledby": "h-commands" },
    el("h2", { id: "h-commands", text: "Commands" }),
    el("p", { class: "hint", text: "Each command is sent as a job; its outcome appears below." }),
    el("div", { class: "grid2" },
      form("cmd-start", "Remote start", [field("start-evse", "EVSE", evseSelect("start-evse")), field("start-token", "Id token", el("input", { id: "start-token", name: "id_token", required: true, maxlength: "255", autocomplete: "off" }))],
        (d) => ({ command: "remote_start", evse_id: Number(d.get("evse_id")), id_token: String(d.get("id_token")) })),
      form("cmd-stop", "Remote stop", [field("stop-tx", "Session", txSelect)], (d) => ({ command: "remote_stop", transaction_id: Number(d.get("transaction_id")) })),
      form("cmd-unlock", "Unlock connector", [field("unlock-evse", "EVSE", evseSelect("unlock-evse"))], (d) => ({ command: "unlock", evse_id: Number(d.get("evse_id")), connector_id: 1 })),
      form("cmd-availability", "Change availability", [field("avail-evse", "EVSE", evseSelect("avail-evse")), field("avail-op", "Make it", el("select", { id: "avail-op", name: "operative" }, el("option", { value: "true", text: "operative" }), el("option", { value: "false", text: "inoperative" })))],
        (d) => ({ command: "change_availability", evse_id: Number(d.get("evse_id")), operative: d.get("operative") === "true" })),
      form("cmd-trigger", "Trigger message", [field("trigger-msg", "Message", el("select", { id: "trigger-msg", name: "message" }, TRIGGERS.map((t) => el("option", { value: t, text: t }))))],
        (d) => ({ command: "trigger", message: String(d.get("message")) })),
      form("cmd-reset", "Soft reset", [], () => ({ command: "reset", hard: false })),
    ),
    result,
  );
  section.refreshSessions = () => {
    const wanted = getState().sessions.map((t) => String(t.id)).join(",");
    if (txSelect.dataset.ids !== wanted && document.activeElement !== txSelect) {
      txSelect.dataset.ids = wanted;
      refreshTx();
    }
  };
  return section;
}

function outcome(result) {
  if (!result) return "done";
  if (result.transaction_id) return `started session #${result.transaction_id} on EVSE ${result.evse_id}`;
  if (result.status) return `station answered ${result.status}`;
  return JSON.stringify(result);
}
