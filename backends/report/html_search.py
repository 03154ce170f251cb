"""The body of a pruning search's page: the setup, the unpruned network's
totals, the Pareto plot (with the baseline) and table, the pruning rate of
every layer at every front point, and the graph."""

from __future__ import annotations

from html import escape

from . import plots
from .html_parts import Cell, figure, graph_section, report_totals, setup_line, sortable_table, totals_list

__all__ = ["front_table", "search_body"]


def search_body(document: dict, baseline: dict | None, graph_svg: str | None) -> str:
    """``document``: a ``segc.pareto`` document; ``baseline``: the unpruned
    network's ``segc.report`` data, or None."""
    name = document["network"]
    plot = figure(plots.search_plot(document, "svg"), f"Pareto front of the pruning search of {name}",
                  "every evaluated candidate, the final front, and the unpruned network")
    parts = [f"<h1>Pruning search: {escape(name)}</h1>", setup_line(_setup(document)),
             "<h2>Unpruned network (baseline)</h2>", totals_list(_baseline_totals(document, baseline)),
             "<h2>Pareto front</h2>", f'<div class="figures">{plot}</div>', front_table(document),
             "<h2>Pruning rates per layer</h2>", _rates_table(document, baseline), graph_section(graph_svg, name),
             "<footer>segc search: NSGA-II over per-layer pruning rates (Mori et al., DAC 2022)</footer>"]
    return "\n".join(part for part in parts if part)


def _setup(document: dict) -> list[tuple[str, str]]:
    return [("target", document["target"]), ("objective", document["objective"]),
            ("accuracy", document["accuracy"]["name"]),
            ("NSGA-II", f"population {document['pop']}, {document['gen']} generations, seed {document['seed']}"),
            ("candidates", f"{document['evaluations']:,}"), ("tiling", document["tiling"]),
            ("rates", ", ".join(f"{r:g}" for r in document["rates"]))]


def _baseline_totals(document: dict, baseline: dict | None) -> list[tuple[str, str]]:
    base = document.get("baseline")
    items = [("accuracy", f"{base['accuracy']:.4f}")] if base else []
    if base and baseline is None:
        items += [("latency", f"{base['latency_s'] * 1e3:.3f} ms"), ("OPs", f"{base['ops'] / 1e9:.4f} G")]
    return items + (report_totals(baseline) if baseline else [])


def front_table(document: dict) -> str:
    base = document.get("baseline")
    headers = ["point", "accuracy", "latency_ms", "speed-up", "GOPs"]
    if base:
        headers += ["OPs kept"]
    if document["objective"] == "dsp-latency":
        headers += ["best unroll", "its latency_ms"]
    rows = [_front_row(i, point, base, document["objective"]) for i, point in enumerate(document["front"])]
    return sortable_table(headers, rows, caption="speed-up (latency of the unpruned network over the point's) and "
                                                 "OPs kept relative to the unpruned network; click a header to sort")


def _speedup(point: dict, base: dict | None) -> float | None:
    """The point's speed-up over the unpruned network (documents before
    ``speedup`` was recorded: from the baseline, where they have one)."""
    if "speedup" in point:
        return point["speedup"]
    return base["latency_s"] / point["latency_s"] if base else None


def _front_row(index: int, point: dict, base: dict | None, objective: str) -> list[Cell]:
    speedup = _speedup(point, base)
    row: list[Cell] = [(str(index), index), (f"{point['accuracy']:.4f}", point["accuracy"]),
                       (f"{point['latency_s'] * 1e3:.4f}", point["latency_s"]),
                       (f"{speedup:.2f}×" if speedup else "", speedup),
                       (f"{point['ops'] / 1e9:.4f}", point["ops"])]
    if base:
        kept = point["ops"] / base["ops"]
        row += [(f"{100 * kept:.1f}%", kept)]
    if objective == "dsp-latency":
        row += [("×".join(str(u) for u in point["unroll"]), None), (f"{point['cost'] * 1e3:.4f}", point["cost"])]
    return row


def _rates_table(document: dict, baseline: dict | None) -> str:
    """A row per pruned layer (in the network's order, where the baseline
    report gives it), a column per front point."""
    front = document["front"]
    layers = list(dict.fromkeys(name for point in front for name in point["layer_rates"]))
    if baseline:
        order = {layer["name"]: i for i, layer in enumerate(baseline["layers"])}
        layers.sort(key=lambda name: order.get(name, len(order)))
    headers = ["layer", *(f"point {i}" for i in range(len(front)))]
    rows = [[(layer, None), *(_rate(point["layer_rates"].get(layer, 0.0)) for point in front)] for layer in layers]
    return sortable_table(headers, rows, caption="share of each layer's output channels pruned at each point "
                                                 "of the front")


def _rate(rate: float) -> Cell:
    return f"{100 * rate:.0f}%", rate
