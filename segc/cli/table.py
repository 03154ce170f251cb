"""Per-layer tables for ``segc check``: drawn with rich in a terminal, as
plain aligned columns when the output goes to a file or a pipe (faster,
and easy to grep)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence

from ..ir import Graph, LayerSummary

__all__ = ["print_summary", "print_table", "si"]

_HEADERS = ("layer", "op", "shape", "MACs", "params")


def si(value: float) -> str:
    """1812000000 → '1.81 G'."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}"
    return f"{value:g}"


def _cells(rows: Sequence[LayerSummary]) -> tuple[list[tuple[str, ...]], tuple[str, ...]]:
    body = [(r.name, r.op, str(list(r.shape)), f"{r.macs:,}", f"{r.params:,}") for r in rows]
    footer = (f"{len(rows)} layers", "", "total", f"{sum(r.macs for r in rows):,}", f"{sum(r.params for r in rows):,}")
    return body, footer


def _numeric(column: list[str]) -> bool:
    """Right-align columns of numbers (signed, with thousands commas, decimals or a percent sign)."""
    cells = [c for c in column if c]
    return bool(cells) and all(c.lstrip("+-").replace(",", "").replace(".", "").replace("%", "").isdigit()
                               for c in cells)


def _plain(title: str, headers, body, footer) -> str:
    table = [tuple(headers), *body, *([tuple(footer)] if footer else [])]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    right = [_numeric([row[i] for row in body]) for i in range(len(headers))]

    def line(row) -> str:
        cells = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right)]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    tail = [rule, line(footer)] if footer else []
    return "\n".join([title, line(headers), rule, *map(line, body), *tail])


def _rich(title: str, headers, body, footer) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_footer=bool(footer))
    for i, (header, foot) in enumerate(zip(headers, footer or [""] * len(headers))):
        table.add_column(header, justify="right" if _numeric([r[i] for r in body]) else "left", footer=foot)
    for row in body:
        table.add_row(*row)
    Console(highlight=False).print(table)


def print_table(title: str, headers, body, footer=None) -> None:
    """A table (with a totals row if ``footer``): rich in a terminal, plain
    columns otherwise."""
    if sys.stdout.isatty():
        _rich(title, headers, body, footer)
    else:
        print(_plain(title, headers, body, footer))


def print_summary(graph: Graph, rows: Sequence[LayerSummary]) -> None:
    """Per-layer name, op, output shape, MACs, parameters, and totals."""
    target = f" on {graph.target.name}" if graph.target else ""
    title = f"network {graph.name}{target}"
    body, footer = _cells(rows)
    print_table(title, _HEADERS, body, footer)
    print(f"{si(sum(r.macs for r in rows))} MACs, {si(sum(r.params for r in rows))} parameters")


@contextlib.contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator:
    """A transient rich progress bar on standard error; yields
    ``update(**fields)`` (rich's ``completed``, ``total``, ``description``)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda **fields: bar.update(task, **fields)
