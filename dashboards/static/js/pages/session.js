// Session: where and when, energy and cost, and its energy curve; followed live to its end.

import { ApiError, get } from "../api.js";
import { announce, clear, coalesce, debounce, el, fmtKw, fmtKwh, fmtMoney, fmtTime, kpis, setText, fill } from "../dom.js";
import { TimeChart } from "../chart.js";
import { EventStream, powerOf } from "../stream.js";

export async function render(ctx, id) {
  if (!/^[0-9]{1,10}$/.test(id)) {
    throw new ApiError(404, `"${id}" is not a session number.`);
  }
  const [tx, samples] = await Promise.all([get(`/transactions/${id}`), get(`/transactions/${id}/meter`)]);
  const tz = ctx.timeZone(tx.site_id);
  const state = { tx, samples };
  const f = {};
  const dd = (key) => (f[key] = el("dd", { id: `session-${key}` }));
  const chart = new TimeChart({
    title: "Energy delivered (kWh) and power (kW)",
    timeZone: tz,
    scales: { kwh: {}, kw: {} },
    axes: [{}, { scale: "kwh", label: "kWh" }, { scale: "kw", side: 1, label: "kW", grid: { show: false } }],
  });
  fill(ctx.main, 
    el("h1", { text: `Session #${tx.id}` }),
    el("p", { class: "sub" }, "At ", el("a", { href: `#/stations/${encodeURIComponent(tx.station_id)}`, text: tx.station_id }), ` EVSE ${tx.evse_id} · times in ${tz}`),
    kpis({},
      ["State", dd("state")],
      ["Id token", dd("token")],
      ["Started", dd("started")],
      ["Ended", dd("ended")],
      ["Energy", dd("energy")],
      ["Power now", dd("power")],
      ["Cost", dd("cost")],
      ["Stop reason", dd("reason")],
    ),
    chart.node,
  );
  const draw = () => {
    const t = state.tx;
    setText(f.state, t.active ? "charging" : "ended");
    f.state.className = t.active ? "status-ok" : "status-muted";
    f.state.dataset.state = t.active ? "active" : "ended";
    setText(f.token, t.id_token || "–");
    setText(f.started, fmtTime(t.started_at, tz));
    setText(f.ended, t.active ? "–" : fmtTime(t.stopped_at, tz));
    setText(f.reason, t.stop_reason || "–");
    setText(f.cost, fmtMoney(t.cost, t.currency));
    const { times, energy, power } = curve(state.samples, t.meter_start_wh);
    const delivered = t.energy_wh ?? (energy.length ? energy[energy.length - 1] * 1000 : null);
    setText(f.energy, fmtKwh(delivered, 2));
    setText(f.power, t.active ? fmtKw(power.length ? power[power.length - 1] * 1000 : null) : "–");
    chart.setData(times, [
      { label: "Energy delivered", unit: "kWh", values: energy, scale: "kwh", digits: 2, color: "#0b57a4", width: 3 },
      { label: "Power", unit: "kW", values: power, scale: "kw", digits: 1, color: "#1d6b2f" },
    ], `${fmtKwh(delivered, 2)} delivered over ${times.length} readings.`);
  };
  draw();
  const redraw = coalesce(draw);
  let alive = true;
  const reload = debounce(async () => {
    if (!alive) return;
    try {
      const wasActive = state.tx.active;
      [state.tx, state.samples] = await Promise.all([get(`/transactions/${id}`), get(`/transactions/${id}/meter`)]);
      redraw();
      if (wasActive && !state.tx.active) announce(`Session ${id} ended: ${fmtKwh(state.tx.energy_wh, 2)}.`);
    } catch (e) { /* keep */ }
  }, 1000);
  const stream = new EventStream({ station_id: tx.station_id, type: ["meter.values", "transaction.*"] }, (events) => {
    for (const e of events) {
      const txId = e.type === "meter.values" ? e.data.transaction_id : e.data.id;
      if (txId !== Number(id)) continue;
      if (e.type === "meter.values") {
        for (const s of e.data.samples) state.samples.push({ timestamp: s.timestamp, measurand: s.measurand, value: s.value, unit: s.unit, phase: s.phase });
        if (powerOf(e) !== null) redraw();
      } else {
        reload();
      }
    }
  }, ctx.setLive).start();
  return () => { alive = false; stream.stop(); chart.destroy(); };
}

function curve(samples, meterStartWh) {
  const byTime = new Map();
  let first = meterStartWh;
  for (const s of samples) {
    if (s.phase) continue;
    const t = Math.floor(Date.parse(s.timestamp) / 1000);
    const row = byTime.get(t) || {};
    if (s.measurand === "Energy.Active.Import.Register") {
      row.wh = s.value;
      if (first == null || s.value < first) first = s.value;
    } else if (s.measurand === "Power.Active.Import") row.w = s.value;
    byTime.set(t, row);
  }
  const times = [...byTime.keys()].sort((a, b) => a - b);
  return {
    times,
    energy: times.map((t) => (byTime.get(t).wh == null || first == null ? null : (byTime.get(t).wh - first) / 1000)),
    power: times.map((t) => (byTime.get(t).w == null ? null : byTime.get(t).w / 1000)),
  };
}
