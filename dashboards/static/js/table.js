// An accessible table: a caption, header buttons that sort (aria-sort), a filter box and rows
// rendered from data. Rows are keyed so that a live update re-renders only what changed.

import { clear, el, setText, fill } from "./dom.js";

// columns: [{key, label, value(row) -> sortable value, render(row) -> text|Node, num: bool}]
export class DataTable {
  constructor({ caption, columns, key, filterLabel = "Filter", initialSort = null, empty = "Nothing to show." }) {
    this.columns = columns;
    this.key = key;
    this.rows = [];
    this.sort = initialSort || { key: columns[0].key, dir: "ascending" };
    this.filter = "";
    this.empty = empty;
    const id = `f${Math.random().toString(36).slice(2, 8)}`;
    this.input = el("input", { id, type: "search", autocomplete: "off", oninput: () => { this.filter = this.input.value.trim().toLowerCase(); this.render(); } });
    this.count = el("span", { class: "hint", "aria-live": "polite" });
    this.headRow = el("tr", {}, columns.map((c) => this.header(c)));
    this.body = el("tbody");
    this.table = el("table", {}, el("caption", { text: caption }), el("thead", {}, this.headRow), this.body);
    this.node = el(
      "div",
      { class: "datatable" },
      el("div", { class: "row" }, el("div", { class: "field" }, el("label", { for: id, text: filterLabel }), this.input), this.count),
      el("div", { class: "table-wrap" }, this.table),
    );
    this.rendered = new Map();
  }

  header(column) {
    const th = el("th", { scope: "col", class: column.num ? "num" : null });
    th.dataset.key = column.key;
    const button = el("button", { type: "button", class: "sort", text: column.label, onclick: () => this.sortBy(column.key) });
    th.append(button);
    return th;
  }

  sortBy(key) {
    if (this.sort.key === key) this.sort.dir = this.sort.dir === "ascending" ? "descending" : "ascending";
    else this.sort = { key, dir: "ascending" };
    this.render();
  }

  setRows(rows) {
    this.rows = rows;
    this.render();
  }

  value(column, row) {
    return column.value ? column.value(row) : row[column.key];
  }

  text(column, row) {
    const v = column.render ? column.render(row) : this.value(column, row);
    return v === null || v === undefined ? "–" : v;
  }

  render() {
    for (const th of this.headRow.children) {
      if (th.dataset.key === this.sort.key) th.setAttribute("aria-sort", this.sort.dir);
      else th.removeAttribute("aria-sort");
    }
    const column = this.columns.find((c) => c.key === this.sort.key) || this.columns[0];
    const sign = this.sort.dir === "ascending" ? 1 : -1;
    let rows = this.rows;
    if (this.filter) {
      rows = rows.filter((row) =>
        this.columns.some((c) => {
          const v = this.text(c, row);
          return (v instanceof Node ? v.textContent : String(v)).toLowerCase().includes(this.filter);
        }),
      );
    }
    rows = [...rows].sort((a, b) => {
      const x = this.value(column, a);
      const y = this.value(column, b);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * sign;
    });
    setText(this.count, `${rows.length} of ${this.rows.length} shown`);
    const wanted = [];
    const seen = new Set();
    for (const row of rows) {
      const k = this.key(row);
      seen.add(k);
      let tr = this.rendered.get(k);
      if (!tr) {
        tr = el("tr");
        this.rendered.set(k, tr);
      }
      this.fill(tr, row);
      wanted.push(tr);
    }
    for (const [k, tr] of this.rendered) if (!seen.has(k)) { tr.remove(); this.rendered.delete(k); }
    if (!rows.length) {
      fill(this.body, el("tr", {}, el("td", { colspan: this.columns.length, text: this.empty })));
      return;
    }
    // put rows in order, moving only those out of place
    let cursor = this.body.firstChild;
    for (const tr of wanted) {
      if (cursor === tr) { cursor = cursor.nextSibling; continue; }
      this.body.insertBefore(tr, cursor);
    }
    const keep = new Set(wanted);
    while (cursor) { const next = cursor.nextSibling; if (!keep.has(cursor)) cursor.remove(); cursor = next; }
  }

  fill(tr, row) {
    const cells = tr.children;
    this.columns.forEach((column, i) => {
      let td = cells[i];
      if (!td) {
        td = el(i === 0 ? "th" : "td", { class: column.num ? "num" : null });
        if (i === 0) td.setAttribute("scope", "row");
        tr.append(td);
      }
      const v = this.text(column, row);
      if (v instanceof Node) {
        if (td.firstChild !== v && (!td.firstChild || td.textContent !== v.textContent || td.firstChild.nodeName !== v.nodeName)) {
          fill(td, v);
        }
      } else {
        setText(td, String(v));
      }
    });
  }
}
