"""Building blocks of the HTML pages: sortable tables, figures with SVG
data URIs, total tiles, the page skeleton.  Every text is escaped."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from typing import Any

from .html_assets import CSP, PAGE_CSS, SORT_SCRIPT, TABLE_CSS

__all__ = ["Cell", "figure", "graph_section", "page", "report_totals", "setup_line", "sortable_table", "totals_list"]

_NUM = ' class="num"'
Cell = tuple[str, Any]  # (the text shown, the value a numeric column sorts by)


def sortable_table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], footer: Sequence[str] | None = None,
                   row_classes: Sequence[str] | None = None, caption: str = "") -> str:
    """A table that sorts by a clicked header (with SORT_SCRIPT on the page);
    a column is numeric when every row has a number to sort it by."""
    numeric = [all(_is_number(row[i][1]) for row in rows) and bool(rows) for i in range(len(headers))]
    head = "".join(f'<th scope="col" tabindex="0" data-type="{"number" if n else "text"}">{escape(h)}</th>'
                   for h, n in zip(headers, numeric))
    lines = ['<div class="segc-table-wrap"><table class="segc-sortable">']
    if caption:
        lines.append(f"<caption>{escape(caption)}</caption>")
    lines.append(f"<thead><tr>{head}</tr></thead>")
    lines.append("<tbody>")
    for k, row in enumerate(rows):
        css = f' class="{escape(row_classes[k])}"' if row_classes else ""
        cells = "".join(_td(text, value, n) for (text, value), n in zip(row, numeric))
        lines.append(f"<tr{css}>{cells}</tr>")
    lines.append("</tbody>")
    if footer is not None:
        cells = "".join(f"<td{_NUM if n else ''}>{escape(text)}</td>" for text, n in zip(footer, numeric))
        lines.append(f"<tfoot><tr>{cells}</tr></tfoot>")
    lines.append("</table></div>")
    return "\n".join(lines)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _td(text: str, value: Any, numeric: bool) -> str:
    if not numeric:
        return f"<td>{escape(text)}</td>"
    return f'<td{_NUM} data-value="{value!r}">{escape(text)}</td>'


def totals_list(items: Sequence[tuple[str, str]]) -> str:
    """Label/value tiles."""
    tiles = "".join(f"<div><dt>{escape(label)}</dt><dd>{escape(value)}</dd></div>" for label, value in items)
    return f'<dl class="totals">{tiles}</dl>'


def figure(svg: str | bytes, alt: str, caption: str = "", css: str = "") -> str:
    """An SVG picture as a data URI in a figure."""
    raw = svg.encode() if isinstance(svg, str) else svg
    uri = "data:image/svg+xml;base64," + base64.b64encode(raw).decode("ascii")
    text = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    klass = f' class="{escape(css)}"' if css else ""
    return f'<figure{klass}><img alt="{escape(alt)}" src="{uri}">{text}</figure>'


def page(title: str, body: str) -> str:
    """A whole page: the body with the styles and the sorting script inline."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<link rel="icon" href="data:,">
<title>{escape(title)}</title>
<style>{PAGE_CSS}{TABLE_CSS}</style>
</head>
<body>
{body}
<script>{SORT_SCRIPT}</script>
</body>
</html>
"""


def setup_line(items: Sequence[tuple[str, str]]) -> str:
    spans = "".join(f"<span>{escape(label)} <b>{escape(value)}</b></span>" for label, value in items)
    return f'<p class="setup">{spans}</p>'


def report_totals(data: dict) -> list[tuple[str, str]]:
    """The report's totals as label/value pairs."""
    t = data["totals"]
    return [
        ("latency", f"{t['latency_s'] * 1e3:.3f} ms"),
        ("throughput", f"{t['throughput_gops']:.1f} GOP/s"),
        ("MACs", f"{t['macs']:,}"),
        ("DRAM traffic", f"{t['dram_bytes'] / 1e6:.2f} MB ({t['dram_total']:,} words)"),
        ("DRAM words in / weights / out", f"{t['dram_in']:,} / {t['dram_weight']:,} / {t['dram_out']:,}"),
        ("PE array", f"{t['dsp_pe']:,} DSPs"),
        ("bound layers", f"{t['compute_bound_layers']} compute, {t['memory_bound_layers']} memory"),
        ("largest input tile", f"{t['input_tile_words_max']:,} of {t['input_buffer_words']:,} words"),
    ]


def graph_section(graph_svg: str | None, name: str) -> str:
    if graph_svg is None:
        return ""
    return f"<h2>Network</h2>\n{figure(graph_svg, f'the layers of {name}', css='graph')}"
