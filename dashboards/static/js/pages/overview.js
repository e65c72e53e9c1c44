// Overview: every granted site with its stations, sessions, power against the limit in force,
// energy and cost today and its alerts; kept live from the event stream.

import { get } from "../api.js";
import { clear, coalesce, debounce, el, fmtKw, fmtKwh, fmtMoney, fmtTime, setText, fill } from "../dom.js";
import { EventStream, powerOf } from "../stream.js";

const REFRESH_TYPES = /^(station\.(connected|disconnected|status|booted|non_compliant|security_event)|transaction\.(started|ended)|constraint\.|plan\.updated|departure\.missed)/;

export async function render(ctx) {
  const [overview, powers] = await Promise.all([get("/overview"), loadPowers(ctx)]);
  const drawStart = performance.now(); // the page's own cost, after its data has arrived
  const cards = new Map();
  const list = el("div", { class: "cards" });
  const updated = el("span");
  fill(ctx.main, 
    el("h1", { text: "Overview" }),
    el("p", { class: "sub" }, "Every site you may see, updated live. ", updated),
    list,
  );
  const state = { overview, powers };

  const draw = () => {
    setText(updated, `Server time ${fmtTime(state.overview.at, "UTC")} UTC.`);
    if (!state.overview.sites.length) {
      fill(list, el("p", { text: "No site is granted to this token (or none is set up yet)." }));
      return;
    }
    for (const site of state.overview.sites) {
      let card = cards.get(site.site_id);
      if (!card) {
        card = siteCard(site);
        cards.set(site.site_id, card);
        list.append(card.node);
      }
      card.update(site, livePower(state.powers.get(site.site_id), site.power_w));
    }
  };
  const redraw = coalesce(draw);
  draw();
  window.cgRenderMs = performance.now() - drawStart;

  let alive = true;
  const refresh = debounce(async () => {
    if (!alive) return;
    try {
      state.overview = await get("/overview");
      redraw();
    } catch (e) { /* keep what is shown; the next refresh tries again */ }
  }, 2000);
  const timer = setInterval(refresh, 30000);
  const stream = new EventStream(
    { type: ["meter.values", "station.*", "transaction.*", "constraint.*", "plan.updated", "departure.missed"] },
    (events) => {
      let changed = false;
      for (const event of events) {
        if (event.type === "meter.values") {
          const map = state.powers.get(event.site_id);
          const watts = powerOf(event);
          if (map && watts !== null) {
            map.set(`${event.station_id}/${event.data.evse_id}`, watts);
            changed = true;
          }
        } else if (REFRESH_TYPES.test(event.type)) {
          refresh();
        }
      }
      if (changed) redraw();
    },
    ctx.setLive,
  ).start();
  return () => { alive = false; clearInterval(timer); stream.stop(); };
}

async function loadPowers(ctx) {
  const out = new Map();
  await Promise.all([...ctx.sites.keys()].map(async (siteId) => {
    const power = await get(`/sites/${encodeURIComponent(siteId)}/power`);
    const map = new Map();
    for (const e of power.evses) if (e.power_w !== null) map.set(`${e.station_id}/${e.evse_id}`, e.power_w);
    out.set(siteId, map);
  }));
  return out;
}

function livePower(map, fallback) {
  if (!map) return fallback;
  let sum = 0;
  for (const w of map.values()) sum += w;
  return sum;
}

function siteCard(site) {
  const id = site.site_id;
  const fields = {};
  const kpi = (key, label) => {
    fields[key] = el("dd", { id: `${id}-${key}` });
    return el("div", {}, el("dt", { text: label }), fields[key]);
  };
  const meter = el("meter", { min: "0", "aria-labelledby": `${id}-power-label` });
  const alerts = el("ul", { class: "alerts" });
  const alertsHeading = el("h3", { id: `${id}-alerts` });
  const stationsKpis = [kpi("online", "Stations online"), kpi("offline", "Stations offline"), kpi("faulted", "Stations faulted")];
  const node = el(
    "section",
    { class: "card", "aria-labelledby": `${id}-title`, dataset: { site: id } },
    el("h2", { id: `${id}-title` }, el("a", { href: `#/sites/${encodeURIComponent(id)}`, text: site.name })),
    el("p", { class: "sub", text: `${site.evses} EVSEs · times in ${site.timezone}` }),
    el("dl", { class: "kpis" },
      stationsKpis,
      kpi("sessions", "Active sessions"),
      el("div", {}, el("dt", { id: `${id}-power-label`, text: "Power now / limit in force" }), fields.power = el("dd", { id: `${id}-power` })),
      kpi("energy", "Energy today"),
      kpi("cost", "Cost today"),
      kpi("constraints", "Grid constraints in force"),
    ),
    meter,
    alertsHeading,
    alerts,
  );
  let lastAlerts = "";
  return {
    node,
    update(s, powerW) {
      const hasStations = s.stations !== null;
      stationsKpis.forEach((k) => { k.hidden = !hasStations; });
      if (hasStations) {
        setText(fields.online, `${s.stations.online} of ${s.stations.total}`);
        setText(fields.offline, String(s.stations.offline));
        setText(fields.faulted, String(s.stations.faulted));
      }
      fields.sessions.parentElement.hidden = s.active_sessions === null;
      fields.energy.parentElement.hidden = s.energy_today_wh === null;
      fields.cost.parentElement.hidden = s.energy_today_wh === null;
      setText(fields.sessions, String(s.active_sessions ?? "–"));
      setText(fields.power, `${fmtKw(powerW)} / ${s.limit_w === null ? "no limit" : fmtKw(s.limit_w)}`);
      fields.power.dataset.watts = String(Math.round(powerW));
      setText(fields.energy, fmtKwh(s.energy_today_wh));
      setText(fields.cost, fmtMoney(s.cost_today, s.currency));
      setText(fields.constraints, String(s.constraints_in_force));
      if (s.limit_w) {
        meter.hidden = false;
        meter.max = String(s.limit_w);
        meter.high = String(s.limit_w * 0.9);
        meter.value = String(Math.max(0, powerW));
      } else meter.hidden = true;
      const key = JSON.stringify(s.alerts);
      if (key !== lastAlerts) {
        lastAlerts = key;
        setText(alertsHeading, s.alerts_total ? `Alerts (${s.alerts_total})` : "No alerts");
        fill(alerts, s.alerts.map((a) => alertItem(a, s.timezone)));
        if (s.alerts_total > s.alerts.length) alerts.append(el("li", { text: `… and ${s.alerts_total - s.alerts.length} more` }));
      }
    },
  };
}

function alertItem(alert, timeZone) {
  const link = alert.transaction_id
    ? el("a", { href: `#/sessions/${alert.transaction_id}`, text: "session" })
    : alert.station_id
      ? el("a", { href: `#/stations/${encodeURIComponent(alert.station_id)}`, text: alert.station_id })
      : null;
  return el(
    "li",
    { "data-severity": alert.severity, "data-kind": alert.kind },
    el("span", { class: `sev sev-${alert.severity}`, text: `${alert.severity}:` }),
    alert.message,
    alert.at ? el("span", { class: "hint", text: ` (${fmtTime(alert.at, timeZone)})` }) : null,
    link ? [" · ", link] : null,
  );
}
