"""Terminal tables (rich) for ``segc check``."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from .ir import Graph, LayerSummary

__all__ = ["print_summary", "si"]


def si(value: float) -> str:
    """1812000000 → '1.81 G'."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}"
    return f"{value:g}"


def _console() -> Console:
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=160, color_system=None)
    return console


def print_summary(graph: Graph, rows: Sequence[LayerSummary]) -> None:
    """Per-layer name, op, output shape, MACs, parameters, and totals."""
    target = f" on {graph.target.name}" if graph.target else ""
    table = Table(title=f"network {graph.name}{target}", title_justify="left", show_footer=True)
    macs, params = sum(r.macs for r in rows), sum(r.params for r in rows)
    table.add_column("layer", footer=f"{len(rows)} layers")
    table.add_column("op", footer="")
    table.add_column("shape", footer="total")
    table.add_column("MACs", justify="right", footer=f"{macs:,}")
    table.add_column("params", justify="right", footer=f"{params:,}")
    for row in rows:
        table.add_row(row.name, row.op, str(list(row.shape)), f"{row.macs:,}", f"{row.params:,}")
    console = _console()
    console.print(table)
    console.print(f"{si(macs)} MACs, {si(params)} parameters")
