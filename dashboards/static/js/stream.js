// The API's event stream (Server-Sent Events) read with fetch, so that the token goes in the
// Authorization header (EventSource cannot send headers, and a token in the URL would end up
// in logs). Events are handed to the page in batches, at most once per animation frame, so a
// burst of meter values costs one render. A lost or dropped stream reconnects with
// Last-Event-ID and gets the events it missed.

import { API, query, token } from "./api.js";

// What the stream did (read by the browser tests and the benchmark): events received and
// handled, the time spent handling them, and how old each meter value was when the page had
// applied it (its station timestamp to the end of the batch that carried it, in ms).
export const stats = { received: 0, batches: 0, largestBatch: 0, handleMs: 0, reconnects: 0, lagsMs: [] };
window.cgStreamStats = stats;

export class EventStream {
  constructor(params, onEvents, onState) {
    this.params = params;
    this.onEvents = onEvents;
    this.onState = onState || (() => {});
    this.lastId = null;
    this.pending = [];
    this.controller = null;
    this.stopped = false;
    this.backoffMs = 500;
    this.flushScheduled = false;
  }

  start() {
    this.stopped = false;
    this.loop();
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
  }

  async loop() {
    while (!this.stopped) {
      try {
        await this.connect();
        this.backoffMs = 500;
      } catch (e) {
        if (this.stopped) return;
        if (e && e.status === 401) {
          window.dispatchEvent(new CustomEvent("cg-unauthorized", { detail: e }));
          return;
        }
      }
      if (this.stopped) return;
      this.onState("down");
      stats.reconnects += 1;
      await new Promise((r) => setTimeout(r, this.backoffMs));
      this.backoffMs = Math.min(this.backoffMs * 2, 10000);
    }
  }

  async connect() {
    this.controller = new AbortController();
    const headers = { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" };
    if (this.lastId) headers["Last-Event-ID"] = this.lastId;
    const response = await fetch(`${API}/events${query(this.params)}`, {
      headers,
      signal: this.controller.signal,
      cache: "no-store",
    });
    if (!response.ok) {
      const err = new Error(`event stream: HTTP ${response.status}`);
      err.status = response.status;
      throw err;
    }
    this.onState("live");
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        this.frame(frame);
      }
    }
  }

  frame(text) {
    let id = null;
    let type = "message";
    let data = "";
    for (const line of text.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") type = value;
      else if (field === "data") data += (data ? "\n" : "") + value;
    }
    if (type === "dropped") {
      // the server dropped us (we fell behind): reconnect, resuming after the last id
      if (this.controller) this.controller.abort();
      return;
    }
    if (!data) return;
    if (id) this.lastId = id;
    let event;
    try { event = JSON.parse(data); } catch (e) { return; }
    stats.received += 1;
    this.pending.push(event);
    this.scheduleFlush();
  }

  scheduleFlush() {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const flush = () => {
      if (!this.flushScheduled) return;
      this.flushScheduled = false;
      clearTimeout(timer);
      const batch = this.pending;
      this.pending = [];
      if (!batch.length || this.stopped) return;
      const t0 = performance.now();
      try {
        this.onEvents(batch);
      } finally {
        const done = Date.now();
        for (const event of batch) {
          if (event.type === "meter.values" && event.at) stats.lagsMs.push(done - Date.parse(event.at));
        }
        if (stats.lagsMs.length > 100000) stats.lagsMs.splice(0, 50000);
        stats.batches += 1;
        stats.largestBatch = Math.max(stats.largestBatch, batch.length);
        stats.handleMs += performance.now() - t0;
      }
    };
    requestAnimationFrame(flush);
    const timer = setTimeout(flush, 500); // hidden tabs get no animation frames
  }
}

// The latest Power.Active.Import (W, no phase) in a meter.values event, or null.
export function powerOf(event) {
  const samples = (event.data && event.data.samples) || [];
  let power = null;
  for (const s of samples) {
    if (s.measurand === "Power.Active.Import" && !s.phase) power = s.value;
  }
  return power;
}
