"""Resource totals of the generated HLS design against the target's budget,
from the layers' ``cost["resources"]`` estimates (``passes/resources.py``;
the model: docs/quantization.md, "Resources")."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from ...ir import Graph, Target

__all__ = ["RESOURCES", "resource_lines", "resource_totals"]

RESOURCES = ("dsp", "bram", "lut", "ff")


def _budget(target: Target) -> dict[str, int | None]:
    return {"dsp": target.dsp, "bram": target.bram, "lut": target.lut, "ff": None}


def resource_totals(graph: Graph, names: list[str] | None = None) -> dict[str, Any]:
    """Sums over the layers (``names``: those layers only), the target's
    budget for each (None: not given) and whether each fits."""
    nodes = graph.nodes() if names is None else [graph.node(n) for n in names]
    per_layer = [n.annotations["cost"]["resources"] for n in nodes]
    used = {key: sum(map(itemgetter(key), per_layer)) for key in RESOURCES}
    budget = _budget(graph.target)
    fits = {key: used[key] <= limit for key, limit in budget.items() if limit is not None}
    return {**used, "budget": budget, "fits": fits, "fits_all": all(fits.values())}


def resource_lines(totals: dict[str, Any]) -> list[str]:
    """One line for people: each resource against its budget, and what is over."""
    parts = []
    for key in RESOURCES:
        limit = totals["budget"][key]
        parts.append(f"{key.upper()} {totals[key]:,}" + (f" of {limit:,}" if limit is not None else ""))
    over = [key.upper() for key, fits in totals["fits"].items() if not fits]
    verdict = f"over budget: {', '.join(over)}" if over else "within budget"
    return [f"HLS design (estimate, one kernel per layer): {', '.join(parts)}; {verdict}"]
