"""The inline style sheets and the sorting script of the HTML page: no file,
font or script is fetched from anywhere."""

from __future__ import annotations

__all__ = ["CSP", "PAGE_CSS", "SORT_SCRIPT", "TABLE_CSS"]

# The page may load nothing: pictures are data URIs, styles and scripts inline.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

PAGE_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; margin: 0 auto;
       max-width: 1200px; padding: 1.5em 2em 3em; }
h1 { font-size: 1.6em; margin: 0 0 0.2em; }
h2 { font-size: 1.2em; margin: 1.8em 0 0.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.setup { color: #555; margin: 0 0 1em; }
.setup span { display: inline-block; margin-right: 1.4em; }
dl.totals { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 0.6em; margin: 0; }
dl.totals div { background: #f5f6f8; border-radius: 6px; padding: 0.5em 0.8em; }
dl.totals dt { font-size: 0.8em; color: #666; }
dl.totals dd { margin: 0; font-size: 1.15em; font-variant-numeric: tabular-nums; }
.figures { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
figure { margin: 0; max-width: 100%; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 0.85em; color: #666; margin-top: 0.3em; }
.graph { overflow: auto; max-height: 90vh; border: 1px solid #eee; border-radius: 6px; padding: 0.5em; }
.graph img { max-width: none; }
footer { margin-top: 3em; font-size: 0.8em; color: #888; }
"""

TABLE_CSS = """
.segc-table-wrap { overflow-x: auto; }
table.segc-sortable { border-collapse: collapse; font-size: 12.5px; font-variant-numeric: tabular-nums; }
table.segc-sortable caption { text-align: left; color: #666; padding-bottom: 0.4em; white-space: nowrap; }
table.segc-sortable th, table.segc-sortable td { padding: 3px 9px; border-bottom: 1px solid #e6e6e6;
                                                 white-space: nowrap; text-align: left; }
table.segc-sortable td.num { text-align: right; }
table.segc-sortable thead th { background: #f0f1f4; cursor: pointer; user-select: none; position: sticky; top: 0; }
table.segc-sortable thead th:hover { background: #e2e5ea; }
table.segc-sortable thead th::after { content: " \\2195"; color: #aaa; }
table.segc-sortable thead th[aria-sort="ascending"]::after { content: " \\2191"; color: #333; }
table.segc-sortable thead th[aria-sort="descending"]::after { content: " \\2193"; color: #333; }
table.segc-sortable tbody tr:hover { background: #fafbe6; }
table.segc-sortable tfoot td { font-weight: 600; border-top: 2px solid #bbb; }
table.segc-sortable tr.memory td:first-child { border-left: 3px solid #d62728; }
table.segc-sortable tr.compute td:first-child { border-left: 3px solid #1f77b4; }
"""

# Click (or Enter on) a header: sort the body rows by that column, ascending
# first, then descending.  Numeric columns sort by each cell's data-value;
# the others as text with numbers in them compared as numbers.  Ties keep
# their order (Array.prototype.sort is stable).  Tables already set up are
# skipped, so the script may appear more than once on a page (notebooks).
SORT_SCRIPT = """
(function () {
  "use strict";
  function key(cell, numeric) {
    if (!numeric) { return cell.textContent; }
    var value = parseFloat(cell.getAttribute("data-value"));
    return isNaN(value) ? -Infinity : value;
  }
  function compare(x, y, numeric) {
    if (!numeric) { return x.localeCompare(y, "en", {numeric: true}); }
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  function sortBy(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute("data-type") === "number";
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var order = compare(key(a.cells[index], numeric), key(b.cells[index], numeric), numeric);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.segc-sortable:not([data-ready])"), function (table) {
    table.setAttribute("data-ready", "");
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.addEventListener("click", function () { sortBy(table, th); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, th); }
      });
    });
  });
})();
"""
