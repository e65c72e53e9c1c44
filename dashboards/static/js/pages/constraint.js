// Set a grid constraint (an import cap) on a node of a site: a grid operator's action. A role
// that may not set constraints gets a clear refusal instead of the form; the API refuses the
// request as well, whatever the page shows.

import { get, post } from "../api.js";
import { announce, clear, el, fmtKw, fmtTime, fill } from "../dom.js";

export async function render(ctx, siteId) {
  const base = `/sites/${encodeURIComponent(siteId)}`;
  const site = await get(base);
  const back = el("p", {}, el("a", { href: `#/sites/${encodeURIComponent(siteId)}`, text: `Back to site ${site.name || site.id}` }));
  if (!ctx.can("constraints:write")) {
    fill(ctx.main, 
      el("h1", { text: "Not allowed" }),
      el("p", { class: "notice", role: "alert", "data-refused": "constraints:write", text: `Your role (${ctx.me.role.replace("_", " ")}) may not set grid constraints on ${site.name || site.id}. Grid operators and administrators can.` }),
      back,
    );
    return () => {};
  }
  const input = (id, label, attrs = {}, hint = null) => el("div", { class: "field" },
    el("label", { for: id, text: label }),
    el("input", { id, name: id, ...attrs, "aria-describedby": hint ? `${id}-hint` : null }),
    hint ? el("p", { class: "hint", id: `${id}-hint`, text: hint }) : null);
  const node = el("select", { id: "node", name: "node" }, site.nodes.map((n) => el("option", { value: n.id, text: `${n.id} (${n.kind.replace("_", " ")}${n.max_import_w != null ? `, base ${fmtKw(n.max_import_w)}` : ""})` })));
  const result = el("div", { role: "status", "aria-live": "polite" });
  const form = el("form", { id: "constraint-form" },
    el("div", { class: "field" }, el("label", { for: "node", text: "Node of the limit tree" }), node),
    input("max_import_kw", "Import limit (kW)", { type: "number", min: "0", step: "0.1", required: true, inputmode: "decimal" }),
    input("minutes", "Lasting (minutes from now)", { type: "number", min: "1", max: "10080", step: "1", value: "60", required: true }),
    input("source", "Set by (your organisation or system)", { type: "text", required: true, maxlength: "255", value: ctx.me.name }),
    el("button", { type: "submit", text: "Set the constraint" }),
    result,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(result);
    const data = new FormData(form);
    const me = await get("/me");
    const now = Date.parse(me.now); // the server's clock (a simulation may run faster)
    const body = {
      node_id: data.get("node"),
      kind: "cap",
      start: new Date(now).toISOString(),
      end: new Date(now + Number(data.get("minutes")) * 60000).toISOString(),
      max_import_w: Number(data.get("max_import_kw")) * 1000,
      source: String(data.get("source")),
    };
    try {
      const created = await post(`${base}/constraints`, body);
      const c = created.constraint;
      const text = `Set: ${c.node_id} import ≤ ${fmtKw(c.max_import_w)} until ${fmtTime(c.end, site.timezone)} (${site.timezone}).`;
      fill(result, el("p", { class: "result", "data-status": "succeeded", text }), created.warnings.map((w) => el("p", { class: "notice info", text: w })));
      announce(text);
    } catch (error) {
      fill(result, el("p", { class: "result notice", "data-status": "failed", role: "alert", text: `Refused: ${error.message}` }));
    }
  });
  fill(ctx.main, 
    el("h1", { text: `Set a grid constraint on ${site.name || site.id}` }),
    el("p", { class: "sub", text: `An import cap from now on; times in ${site.timezone}. The planner applies it to the stations within seconds.` }),
    form,
    back,
  );
  return () => {};
}
