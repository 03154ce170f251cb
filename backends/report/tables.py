"""The latency report: per-layer rows and totals from the ``tiling`` and
``cost`` annotations, rendered as JSON (``segc.report``, version 1),
Markdown, CSV, or a terminal table.  It renders; it decides nothing."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from ...ir import Diagnostic, Graph, Node, SegError
from .resources import resource_lines, resource_totals

__all__ = ["COLUMNS", "FORMAT", "VERSION", "build_report", "footer_cells", "layer_cells", "report_summary",
           "summary_lines", "summary_total_row", "table_headers", "table_rows", "to_csv", "to_json", "to_markdown",
           "total_row", "unroll_label"]

FORMAT, VERSION = "segc.report", 1
_GEOMETRY_OPS = ("conv", "dconv", "linear")
_DRAM_COLUMNS = ("dram_in", "dram_weight", "dram_out")
_SUMMED = ("macs", *_DRAM_COLUMNS, "dram_bytes", "dsp", "bram")  # the columns a totals row sums
_SUMMED_COST = ("latency_s", "macs", *_DRAM_COLUMNS, "dram_bits")  # the cost entries the summary sums
_CHUNK = 4096  # layers the text table formats at a time


def _geometry(graph: Graph, node: Node) -> dict[str, Any]:
    shapes = graph.input_shapes(node)
    geometry: dict[str, Any] = {
        "ci": shapes[0].c if shapes else None, "co": node.shape.c, "k": None, "stride": None, "dilation": None,
        "groups": None, "h_out": node.shape.h, "w_out": node.shape.w,
    }
    if node.op in ("conv", "dconv"):
        a = node.attrs
        geometry.update(k=list(a["k"]), stride=list(a["stride"]), dilation=list(a["dilation"]), groups=a["groups"])
    elif node.op == "linear":
        geometry.update(k=[1, 1], stride=[1, 1], dilation=[1, 1], groups=1)
    return geometry


def _row(graph: Graph, node: Node, total_s: float) -> dict[str, Any]:
    cost = _cost(node)
    return {
        "name": node.name, "op": node.op, "shape": list(node.shape), **_geometry(graph, node),
        "macs": cost["macs"], "tile": cost.get("tile"), "rule": cost["rule"], "engine": cost["engine"],
        "reason": cost["reason"], "cycles_compute": cost["cycles_compute"], "dram_in": cost["dram_in"],
        "dram_weight": cost["dram_weight"], "dram_out": cost["dram_out"], "dram_gather": cost.get("dram_gather", 0),
        "gather_bursts": cost.get("gather_bursts", 0), "latency_compute_s": cost["latency_compute_s"],
        "latency_memory_s": cost["latency_memory_s"], "latency_overhead_s": cost["latency_overhead_s"],
        "latency_s": cost["latency_s"], "bound": cost["bound"],
        "share": cost["latency_s"] / total_s if total_s else 0.0,
        "w_bits": cost["w_bits"], "a_bits": cost["a_bits"], "dram_bytes": cost["dram_bits"] / 8,
        **cost["resources"],
    }


def unroll_label(unroll: dict) -> str:
    """A report's unroll as ``P_if,P_of,P_kx`` (``,P_ky`` when it is not 1)."""
    keys = ("pif", "pof", "pkx") if unroll.get("pky", 1) == 1 else ("pif", "pof", "pkx", "pky")
    return ",".join(str(unroll[k]) for k in keys)


def build_report(graph: Graph, tiling: str, calibration: str) -> dict[str, Any]:
    """The report as a JSON-ready dict."""
    summary = report_summary(graph, tiling, calibration)
    total_s = summary["totals"]["latency_s"]
    return {**summary, "layers": [_row(graph, n, total_s) for n in graph.nodes()], "totals": summary["totals"]}


def report_summary(graph: Graph, tiling: str, calibration: str) -> dict[str, Any]:
    """The report without its per-layer rows (``layers`` empty): for
    renderers that read the rows from the graph (``layer_cells``)."""
    target = graph.target
    costs = [_cost(n) for n in graph.nodes()]
    total_s, macs, *dram_words, dram_bits = (sum(map(itemgetter(key), costs)) for key in _SUMMED_COST)
    words = dict(zip(_DRAM_COLUMNS, dram_words))
    dram = sum(words.values())
    pe_dsps = [c["resources"]["dsp"] for c in costs if c["engine"] == "pe"]
    bounds = list(map(itemgetter("bound"), costs))
    u = target.unroll
    return {
        "format": FORMAT, "version": VERSION, "network": graph.name,
        "target": {"name": target.name, "device": target.device, "part": target.part, "clock_hz": target.clock_hz,
                   "bandwidth_bytes_per_s": target.bandwidth, "stream_bandwidth_bytes_per_s": target.stream_bandwidth,
                   "word_bits": target.word_bits, "dsp_used": target.dsps_used, "dsp": target.dsp,
                   "unroll": {"pif": u.pif, "pof": u.pof, "pkx": u.pkx, "pky": u.pky}},
        "tiling": tiling, "calibration": calibration,
        "layers": [],
        "totals": {
            "latency_s": total_s, "macs": macs, "throughput_gops": 2 * macs / total_s / 1e9 if total_s else 0.0,
            **words, "dram_total": dram, "dram_bytes": dram_bits / 8,
            "dsp_pe": max(pe_dsps, default=target.pe_dsps), "input_buffer_words": target.input_buffer_words,
            "input_tile_words_max": max((_tile_words(graph, n) for n in graph.nodes()
                                         if n.annotations["cost"].get("tile") is not None), default=0),
            "compute_bound_layers": bounds.count("compute"), "memory_bound_layers": bounds.count("memory"),
        },
        "resources": resource_totals(graph),
    }


def _cost(node: Node) -> dict[str, Any]:
    cost = node.annotations.get("cost")
    if cost is None:
        raise SegError(Diagnostic(f"layer '{node.name}' has no cost; run the 'tile' and 'cost' passes first"))
    return cost


def _tile_words(graph: Graph, node: Node) -> int:
    geometry = _geometry(graph, node)
    tix, tiy = node.annotations["cost"]["input_tile"]
    return tix * tiy * (geometry["ci"] // (geometry["groups"] or 1))


def to_json(report: dict) -> str:
    return json.dumps(report, indent=1, allow_nan=False) + "\n"


COLUMNS = ("name", "op", "shape", "tile", "cycles_compute", "dram_in", "dram_weight", "dram_out", "dram_bytes",
           "w_bits", "a_bits", "dsp", "bram", "bound", "latency_s", "share", "rule", "engine")


def _text(value: Any) -> str:
    """A cell of a column with no format of its own."""
    kind = type(value)
    if kind is str:
        return value
    if kind is int:
        return f"{value:,}"
    if value is None:
        return ""
    if isinstance(value, list):
        return "×".join(str(v) for v in value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def _bytes(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _share(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def _milliseconds(value: float | None) -> str:
    return "" if value is None else f"{value * 1e3:.4f}"


# column -> its cells' format (the others: _text), each giving an empty cell for None
_FORMATS = {"share": _share, "latency_s": _milliseconds, "dram_bytes": _bytes}
_COLUMN_FORMATS = tuple(_FORMATS.get(c, _text) for c in COLUMNS)


def _cell(key: str, value: Any) -> str:
    return _FORMATS.get(key, _text)(value)


def table_rows(report: dict) -> tuple[list[str], list[list[str]], list[str]]:
    """Headers, cells and a totals row for text tables (latency in ms)."""
    rows = [[_cell(c, layer.get(c)) for c in COLUMNS] for layer in report["layers"]]
    return table_headers(), rows, footer_cells(total_row(report))


def table_headers() -> list[str]:
    return [c if c != "latency_s" else "latency_ms" for c in COLUMNS]


def footer_cells(totals: dict) -> list[str]:
    """A text table's cells for a totals row (``total_row``, ``summary_total_row``)."""
    return [_cell(c, totals[c]) if c in totals else "" for c in COLUMNS]


def layer_cells(graph: Graph, total_s: float) -> Iterator[tuple[str, ...]]:
    """The text table's rows straight from the annotated graph, a chunk of
    layers at a time: the cells ``table_rows`` gives for ``build_report``'s
    rows.  A chunk is formatted column by column (a column of ints or of
    strings in one pass, any other through its cell format)."""
    nodes = iter(graph.nodes())
    while chunk := list(itertools.islice(nodes, _CHUNK)):
        values = [_layer_values(node, total_s) for node in chunk]
        columns = [_column_cells(form, column) for form, column in zip(_COLUMN_FORMATS, zip(*values))]
        yield from zip(*columns)


def _layer_values(node: Node, total_s: float) -> tuple:
    """A layer's values in ``COLUMNS``' order."""
    cost = _cost(node)
    latency, resources = cost["latency_s"], cost["resources"]
    return (node.name, node.op, list(node.shape), cost.get("tile"), cost["cycles_compute"], cost["dram_in"],
            cost["dram_weight"], cost["dram_out"], cost["dram_bits"] / 8, cost["w_bits"], cost["a_bits"],
            resources.get("dsp"), resources.get("bram"), cost["bound"], latency,
            latency / total_s if total_s else 0.0, cost["rule"], cost["engine"])


def _column_cells(form, column: tuple) -> tuple[str, ...] | list[str]:
    """``form`` of each value; where it is :func:`_text` and the column holds
    only strings (kept), only ints (thousands commas) or only lists (joined
    by ×), without a call per cell."""
    if form is _text:
        kinds = set(map(type, column))
        if kinds == {str}:
            return column
        if kinds == {int}:
            return list(map("{:,}".format, column))
        if kinds == {list}:
            return ["×".join(map(str, value)) for value in column]
    return list(map(form, column))


def total_row(report: dict) -> dict[str, Any]:
    """The columns a totals row sums: MACs, each DRAM column, latency, share."""
    layers = report["layers"]
    return _total_row({key: sum(r.get(key, 0) for r in layers) for key in _SUMMED}, report)


def summary_total_row(summary: dict) -> dict[str, Any]:
    """``total_row`` of a ``report_summary`` (no layers: its totals give the sums)."""
    totals, resources = summary["totals"], summary["resources"]
    sums = {key: totals[key] for key in ("macs", *_DRAM_COLUMNS, "dram_bytes")}
    return _total_row({**sums, "dsp": resources["dsp"], "bram": resources["bram"]}, summary)


def _total_row(sums: dict[str, Any], report: dict) -> dict[str, Any]:
    return {"name": "total", **sums, "latency_s": report["totals"]["latency_s"], "share": 1.0}


def summary_lines(report: dict) -> list[str]:
    t, target = report["totals"], report["target"]
    u = target["unroll"]
    return [
        f"network {report['network']} on {target['name']}: unroll {u['pif']}×{u['pof']}×{u['pkx']}×{u['pky']}, "
        f"{target['clock_hz'] / 1e6:g} MHz, tiling {report['tiling']}, {report['calibration']}",
        f"latency {t['latency_s'] * 1e3:.3f} ms, {t['throughput_gops']:.1f} GOP/s, {t['macs'] / 1e9:.3f} G MACs, "
        f"DRAM {t['dram_bytes'] / 1e6:.1f} MB, PE array {t['dsp_pe']} DSPs, "
        f"{t['compute_bound_layers']} compute-bound and {t['memory_bound_layers']} memory-bound layers",
        *(resource_lines(report["resources"]) if "resources" in report else []),
    ]


def to_markdown(report: dict) -> str:
    headers, rows, footer = table_rows(report)
    lines = [f"# Latency report: {report['network']}", "", *[f"- {line}" for line in summary_lines(report)], ""]
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines.extend("| " + " | ".join(row) + " |" for row in [*rows, footer])
    return "\n".join(lines) + "\n"


def to_csv(report: dict) -> str:
    buffer = io.StringIO()
    keys = [k for k in report["layers"][0] if k != "reason"] if report["layers"] else []
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(keys)
    for layer in report["layers"]:
        writer.writerow([json.dumps(layer[k], allow_nan=False) if isinstance(layer[k], list) else layer[k]
                         for k in keys])
    if keys:
        totals = total_row(report)
        writer.writerow([totals.get(k, "") for k in keys])
    return buffer.getvalue()
