// Time charts with uPlot (vendored, served from this package). Each chart is a <figure> with a
// caption naming its units, a text summary for screen readers (the canvas itself is hidden
// from them) and its data as a table behind a <details>.

import { clear, el, fmtTime, setText, fill } from "./dom.js";

const PALETTE = ["#0b57a4", "#b0161e", "#6a3d9a", "#1d6b2f", "#b35900", "#00707a", "#7a5c00", "#8c2d73", "#3b4a5a", "#4d7c0f", "#9a3412", "#1e40af"];

export function color(i) {
  return PALETTE[i % PALETTE.length];
}

// series: [{label, unit, values, color, dash, step, scale, stack}]; times: epoch seconds
export class TimeChart {
  constructor({ title, summaryLabel, timeZone, height = 280, scales = {}, axes = null }) {
    this.title = title;
    this.timeZone = timeZone || "UTC";
    this.height = height;
    this.scales = scales;
    this.axesSpec = axes;
    this.plot = null;
    this.seriesKey = "";
    this.box = el("div", { class: "plot", "aria-hidden": "true" });
    this.summary = el("p", { class: "visually-hidden" });
    this.tableBody = el("tbody");
    this.tableHead = el("tr");
    this.details = el(
      "details",
      {},
      el("summary", { text: `${summaryLabel || title}: data as a table` }),
      el("div", { class: "table-wrap" }, el("table", {}, el("caption", { text: `${title} (${this.timeZone})` }), el("thead", {}, this.tableHead), this.tableBody)),
    );
    this.node = el("figure", { class: "chart", role: "group", "aria-label": title }, el("figcaption", {}, el("h3", { text: title })), this.summary, this.box, this.details);
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(this.node);
  }

  width() {
    return Math.max(240, Math.floor(this.node.clientWidth || 600));
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: this.width(), height: this.height });
  }

  destroy() {
    this.observer.disconnect();
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }

  options(series) {
    const tz = this.timeZone;
    const axes = [...(this.axesSpec || [{}, { label: series[0] ? series[0].unit : "" }])];
    // the time axis in the site's zone, 24-hour clock
    axes[0] = { values: (u, splits) => splits.map((s) => fmtTime(new Date(s * 1000), tz, false).slice(0, 5)), ...axes[0] };
    return {
      width: this.width(),
      height: this.height,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz),
      scales: { x: { time: true }, ...this.scales },
      axes: axes.map((a, i) => ({ stroke: "#1b1f24", grid: { stroke: "#e3e7ec" }, ticks: { stroke: "#c4cad3" }, ...(i > 0 ? { size: 60 } : {}), ...a })),
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      series: [
        { label: `time (${tz})`, value: (u, v) => (v == null ? "–" : fmtTime(new Date(v * 1000), tz)) },
        ...series.map((s, i) => ({
          label: `${s.label} (${s.unit})`,
          stroke: s.color || color(i),
          width: s.width || 2,
          dash: s.dash || undefined,
          fill: s.fill || undefined,
          scale: s.scale || "y",
          spanGaps: false,
          paths: s.step ? uPlot.paths.stepped({ align: 1 }) : undefined,
          value: (u, v, si, idx) => {
            const now = this.series && this.series[si - 1];
            const shown = now && now.shown ? now.shown[idx] : v;
            return shown == null ? "–" : `${shown.toFixed(s.digits ?? 1)} ${s.unit}`;
          },
        })),
      ],
    };
  }

  // times: epoch seconds; series[i].values aligned with times (null = gap)
  setData(times, series, summaryText) {
    const key = series.map((s) => `${s.label}|${s.unit}|${s.scale || "y"}`).join(";");
    const data = [times, ...series.map((s) => s.values)];
    this.series = series;
    setText(this.summary, summaryText || "");
    this.fillTable(times, series);
    if (typeof uPlot === "undefined") return;
    if (!this.plot || key !== this.seriesKey) {
      if (this.plot) this.plot.destroy();
      clear(this.box);
      this.plot = new uPlot(this.options(series), data, this.box);
      this.seriesKey = key;
    } else {
      this.plot.setData(data);
    }
  }

  fillTable(times, series) {
    fill(this.tableHead, el("th", { scope: "col", text: `time (${this.timeZone})` }), series.map((s) => el("th", { scope: "col", class: "num", text: `${s.label} (${s.unit})` })));
    clear(this.tableBody);
    const first = Math.max(0, times.length - 48); // the last 48 rows: enough to read, quick to render
    for (let i = times.length - 1; i >= first; i--) {
      this.tableBody.append(
        el("tr", {}, el("th", { scope: "row", text: fmtTime(new Date(times[i] * 1000), this.timeZone) }), series.map((s) => {
          const v = s.shown ? s.shown[i] : s.values[i];
          return el("td", { class: "num", text: v == null ? "–" : v.toFixed(s.digits ?? 1) });
        })),
      );
    }
  }
}

// Cumulative sums for a stacked area chart; `shown` keeps each series' own values.
export function stack(seriesList) {
  const n = seriesList.length ? seriesList[0].values.length : 0;
  const running = new Array(n).fill(0);
  const out = seriesList.map((s, i) => {
    const values = s.values.map((v, j) => {
      running[j] += v || 0;
      return s.values.some((x) => x != null) ? running[j] : null;
    });
    return { ...s, shown: s.values, values, fill: `${color(i)}55`, color: color(i) };
  });
  return out.reverse(); // draw the top of the stack first, so lower layers stay visible
}
