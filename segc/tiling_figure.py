"""Mori et al. Fig. 4 as data: the DRAM accesses and latency of every
convolution layer of a network under no tiling, static tiling and dynamic
(Eq. 1, ``paper``) tiling, their totals, and the ratios of each scheme's
totals to the dynamic one's (the paper: 1.23× static, 2.33× none for
DeepLabV3+ on a 128 KB input buffer, 1024 DSPs).

The numbers come from the hardware model's report (``segc.hardware.report``)
run once per tiling mode; nothing here models hardware.  The ``segc.tiling``
document renders as a table, CSV, and a bar (DRAM) + line (latency) plot.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from .ir import Graph
from .passes.cost import Calibration

__all__ = ["MODES", "REFERENCE", "compare_tiling", "summary_lines", "table_rows", "to_csv"]

MODES = ("none", "static", "paper")  # the schemes of Fig. 4, dynamic (Eq. 1) last
REFERENCE = "paper"
_CONV_OPS = ("conv", "dconv", "linear")  # the layers the tile pass tiles
SCHEMA = {"format": "segc.tiling", "version": 1}


def _words(row: dict) -> int:
    return row["dram_in"] + row["dram_weight"] + row["dram_out"]


def _scheme(row: dict) -> dict[str, Any]:
    return {"tile": row["tile"], "dram_in": row["dram_in"], "dram_weight": row["dram_weight"],
            "dram_out": row["dram_out"], "dram": _words(row), "latency_s": row["latency_s"], "bound": row["bound"]}


def _layers(reports: dict[str, dict]) -> list[dict[str, Any]]:
    rows = {mode: [r for r in report["layers"] if r["op"] in _CONV_OPS] for mode, report in reports.items()}
    layers = []
    for i, row in enumerate(rows[REFERENCE]):
        geometry = {key: row[key] for key in ("name", "op", "ci", "co", "k", "stride", "dilation", "h_out", "w_out")}
        layers.append({**geometry, "schemes": {mode: _scheme(rows[mode][i]) for mode in MODES}})
    return layers


def _static_side(layers: list[dict]) -> int | None:
    """The static tile's side as the layers show it: the largest tile side
    of a non-dilated layer (each layer's tile is the side clamped to it)."""
    sides = [max(layer["schemes"]["static"]["tile"]) for layer in layers
             if layer["dilation"] is None or max(layer["dilation"]) == 1]
    return max(sides) if sides else None


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def compare_tiling(graph: Graph, calibration: Calibration | None = None) -> dict[str, Any]:
    """The ``segc.tiling`` document of a graph with a target."""
    from .hardware import report

    reports = {mode: report(graph, mode, calibration) for mode in MODES}
    layers = _layers(reports)
    totals = {mode: {"dram": sum(layer["schemes"][mode]["dram"] for layer in layers),
                     "latency_s": sum(layer["schemes"][mode]["latency_s"] for layer in layers)} for mode in MODES}
    network = {mode: {"dram": reports[mode]["totals"]["dram_total"], "latency_s": reports[mode]["totals"]["latency_s"]}
               for mode in MODES}
    ratios = {f"{mode}/{REFERENCE}": {
        "dram": _ratio(totals[mode]["dram"], totals[REFERENCE]["dram"]),
        "latency": _ratio(totals[mode]["latency_s"], totals[REFERENCE]["latency_s"]),
        "network_dram": _ratio(network[mode]["dram"], network[REFERENCE]["dram"]),
    } for mode in MODES if mode != REFERENCE}
    target = reports[REFERENCE]["target"]
    return {**SCHEMA, "network": graph.name,
            "target": {"name": target["name"], "unroll": target["unroll"],
                       "input_buffer_words": reports[REFERENCE]["totals"]["input_buffer_words"],
                       "word_bits": target["word_bits"]},
            "calibration": reports[REFERENCE]["calibration"], "modes": list(MODES), "reference": REFERENCE,
            "static_side": _static_side(layers), "layers": layers, "totals": totals, "network_totals": network,
            "ratios": ratios}


def _geometry_cells(layer: dict) -> list[str]:
    k = "×".join(map(str, layer["k"])) if layer["k"] else ""
    dilation = max(layer["dilation"]) if layer["dilation"] else 1
    return [layer["name"], f"{k}{f' d{dilation}' if dilation > 1 else ''}",
            f"{layer['ci']}→{layer['co']} @{layer['h_out']}×{layer['w_out']}"]


def table_rows(document: dict) -> tuple[list[str], list[list[str]], list[str]]:
    """(headers, rows, footer) of the terminal table: DRAM words and latency
    (ms) of every convolution layer under each scheme."""
    modes = document["modes"]
    headers = ["layer", "kernel", "channels @ output", *(f"DRAM {m}" for m in modes), *(f"ms {m}" for m in modes)]
    rows = [[*_geometry_cells(layer), *(f"{layer['schemes'][m]['dram']:,}" for m in modes),
             *(f"{layer['schemes'][m]['latency_s'] * 1e3:.3f}" for m in modes)] for layer in document["layers"]]
    totals = document["totals"]
    footer = [f"{len(rows)} layers", "", "total", *(f"{totals[m]['dram']:,}" for m in modes),
              *(f"{totals[m]['latency_s'] * 1e3:.3f}" for m in modes)]
    return headers, rows, footer


def summary_lines(document: dict) -> list[str]:
    """The ratios, in words."""
    ref = document["reference"]
    lines = []
    for key, ratio in document["ratios"].items():
        mode = key.partition("/")[0]
        lines.append(f"{mode} / dynamic ({ref}) tiling: DRAM accesses {_times(ratio['dram'])}, latency "
                     f"{_times(ratio['latency'])} (convolution layers); whole network DRAM "
                     f"{_times(ratio['network_dram'])}")
    side = document["static_side"]
    buffer = document["target"]["input_buffer_words"]
    lines.append(f"static tile {side}×{side} (dilated layers 1×1); input buffer {buffer:,} words")
    return lines


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}×"


def to_csv(document: dict) -> str:
    """One row per convolution layer: geometry, then tile, DRAM words and
    latency under each scheme."""
    modes = document["modes"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["layer", "op", "ci", "co", "k", "dilation", "h_out", "w_out",
                     *(f"{field}_{m}" for m in modes for field in ("tile", "dram", "latency_s"))])
    for layer in document["layers"]:
        cells = [layer["name"], layer["op"], layer["ci"], layer["co"], _pair(layer["k"]), _pair(layer["dilation"]),
                 layer["h_out"], layer["w_out"]]
        for m in modes:
            scheme = layer["schemes"][m]
            cells += [_pair(scheme["tile"]), scheme["dram"], repr(scheme["latency_s"])]
        writer.writerow(cells)
    return out.getvalue()


def _pair(values) -> str:
    return "x".join(map(str, values)) if values else ""
