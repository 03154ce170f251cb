"""The latency report (and a pruning search) as one self-contained HTML page:
inline styles, an inline script that sorts the tables by a clicked column,
and the plots and the graph picture as SVG data URIs, so the page opens
anywhere, offline, and loads nothing.  The same input gives the same bytes."""

from __future__ import annotations

from html import escape

from . import plots, tables
from .html_assets import SORT_SCRIPT, TABLE_CSS
from .html_parts import figure, graph_section, page, report_totals, setup_line, sortable_table, totals_list
from .html_search import front_table, search_body

__all__ = ["front_fragment", "layer_table_html", "network_html", "report_fragment", "report_page", "search_page"]


def layer_table_html(data: dict) -> str:
    """The report's per-layer table with its totals row, sortable by a
    clicked header: a fragment with its own style and script (for a page, or
    a notebook's ``_repr_html_``)."""
    return f"<style>{TABLE_CSS}</style>\n{_layer_table(data)}\n<script>{SORT_SCRIPT}</script>"


def report_fragment(data: dict, graph_svg: str | None) -> str:
    """The report in a notebook: the network, target and latency, the
    sortable layer table and the graph picture."""
    head = (f"<p><b>{escape(data['network'])}</b> on <b>{escape(data['target']['name'])}</b>: "
            f"{data['totals']['latency_s'] * 1e3:.3f} ms</p>")
    return head + layer_table_html(data) + graph_section(graph_svg, data["network"])


def front_fragment(document: dict) -> str:
    """A search's Pareto front in a notebook: the sortable table of its points."""
    return f"<style>{TABLE_CSS}</style>\n{front_table(document)}\n<script>{SORT_SCRIPT}</script>"


def network_html(name: str, layers: list[dict], graph_svg: str | None) -> str:
    """A network's layers (name, op, shape, MACs, parameters: ``segc check``'s
    table, sortable) and its picture: a fragment for a notebook."""
    headers = ["layer", "op", "shape", "MACs", "params"]
    rows = [[(row["name"], row["name"]), (row["op"], row["op"]), (str(row["shape"]), str(row["shape"])),
             (f"{row['macs']:,}", row["macs"]), (f"{row['params']:,}", row["params"])] for row in layers]
    footer = [f"{len(layers)} layers", "", "total", f"{sum(r['macs'] for r in layers):,}",
              f"{sum(r['params'] for r in layers):,}"]
    table = sortable_table(headers, rows, footer, caption=f"{name}: click a header to sort")
    return f"<style>{TABLE_CSS}</style>\n{table}\n{graph_section(graph_svg, name)}\n<script>{SORT_SCRIPT}</script>"


def _layer_table(data: dict) -> str:
    headers, texts, footer = tables.table_rows(data)
    rows = [[(text, layer.get(key)) for text, key in zip(row, tables.COLUMNS)]
            for row, layer in zip(texts, data["layers"])]
    return sortable_table(headers, rows, footer, [layer["bound"] for layer in data["layers"]],
                          "latency in ms, DRAM traffic in words; click a header to sort")


def _report_setup(data: dict) -> list[tuple[str, str]]:
    target = data["target"]
    u = target["unroll"]
    return [("target", f"{target['name']} ({target['device']})"), ("clock", f"{target['clock_hz'] / 1e6:g} MHz"),
            ("unroll P_if×P_of×P_kx×P_ky", f"{u['pif']}×{u['pof']}×{u['pkx']}×{u['pky']}"),
            ("tiling", data["tiling"]), ("calibration", data["calibration"])]


def report_page(data: dict, graph_svg: str | None) -> str:
    """The latency report (``segc.report`` data) as a whole page, with the
    roofline, the per-layer latency bars and the graph picture."""
    name = data["network"]
    pictures = [figure(plots.roofline_plot(data, "svg"), f"roofline of {name}",
                       "each layer's achieved GOP/s against its operations per DRAM byte"),
                figure(plots.latency_plot(data, "svg"), f"per-layer latency of {name}",
                       "compute and memory time of every layer that takes time")]
    body = [f"<h1>Latency report: {escape(name)}</h1>", setup_line(_report_setup(data)),
            totals_list(report_totals(data)), "<h2>Plots</h2>", f'<div class="figures">{"".join(pictures)}</div>',
            "<h2>Layers</h2>", _layer_table(data), graph_section(graph_svg, name),
            "<footer>segc report: the analytical latency model of Mori et al. (DAC 2022)</footer>"]
    return page(f"{name}: latency report", "\n".join(part for part in body if part))


def search_page(document: dict, baseline: dict | None, graph_svg: str | None) -> str:
    """A pruning search (``segc.pareto`` document) as a whole page: the
    unpruned network's totals (``baseline``: its ``segc.report`` data), the
    Pareto plot and table, the pruning rates of every front point, the graph."""
    return page(f"{document['network']}: pruning search", search_body(document, baseline, graph_svg))
