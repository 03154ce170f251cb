"""Per-layer tables for ``segc check``: drawn with rich in a terminal, as
plain aligned columns when the output goes to a file or a pipe (faster,
and easy to grep)."""

from __future__ import annotations

import contextlib
import itertools
import re
import sys
from collections.abc import Iterable, Iterator, Sequence

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


def _number(cell: str) -> bool:
    """Signed, with thousands commas, decimals or a percent sign."""
    return cell.lstrip("+-").replace(",", "").replace(".", "").replace("%", "").isdigit()


_ASCII_NUMBER = "[+-]*[,.%]*[0-9][0-9,.%]*"  # _number's cells, in ASCII
_ASCII_NUMBERS = re.compile(f"(?:{_ASCII_NUMBER}\n)*{_ASCII_NUMBER}")


def _all_numbers(cells: list[str]) -> bool:
    """Whether every cell (none empty) is a number, with one match over the
    column joined when it is ASCII without line breaks."""
    text = "\n".join(cells)
    if text.isascii() and text.count("\n") == len(cells) - 1:
        return _ASCII_NUMBERS.fullmatch(text) is not None
    return all(map(_number, cells))


def _numeric(column: Iterable[str]) -> bool:
    """Right-align columns of numbers (every cell that is not empty; at least one)."""
    cells = [c for c in column if c]
    return bool(cells) and all(map(_number, cells))


_SEP = "\x1f"  # joins a row's cells while the widths are measured (a row holding it stays a tuple)
_CHUNK = 4096  # rows measured at a time


class _Measured:
    """The body, read once: the columns' widths and alignment, the rows
    kept as one string each (about a fifth of a tuple of cells' memory)."""

    def __init__(self, headers: Sequence[str], body: Iterable[Sequence[str]]):
        self.widths = [len(h) for h in headers]
        self.right, self.filled = [True] * len(headers), [False] * len(headers)
        self.rows: list[str | tuple[str, ...]] = []
        for chunk in _chunks(body):
            self._measure(chunk)
            joined = map(_SEP.join, chunk)
            self.rows.extend(j if j.count(_SEP) == len(headers) - 1 else tuple(r) for j, r in zip(joined, chunk))
        self.right = [r and f for r, f in zip(self.right, self.filled)]

    def _measure(self, chunk: list[Sequence[str]]) -> None:
        for i, column in enumerate(zip(*chunk)):
            self.widths[i] = max(self.widths[i], *map(len, column))
            if self.right[i]:
                cells = [c for c in column if c]
                self.filled[i] = self.filled[i] or bool(cells)
                self.right[i] = _all_numbers(cells)

    def cells(self) -> Iterator[Sequence[str]]:
        for row in self.rows:
            yield row.split(_SEP) if isinstance(row, str) else row


def _chunks(rows: Iterable[Sequence[str]]) -> Iterator[list[Sequence[str]]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, _CHUNK)):
        yield chunk


def _plain(title: str, headers, body, footer) -> Iterator[str]:
    """The table's lines, the body read once and formatted row by row."""
    measured = _Measured(headers, body)
    widths = [max(w, len(f)) for w, f in zip(measured.widths, footer)] if footer else measured.widths
    pattern = "  ".join(f"{{:{'>' if r else '<'}{w}}}" for w, r in zip(widths, measured.right))
    rule = "  ".join("-" * w for w in widths)
    yield from (title, pattern.format(*headers).rstrip(), rule)
    for row in measured.cells():
        yield pattern.format(*row).rstrip()
    if footer:
        yield from (rule, pattern.format(*footer).rstrip())


def _rich(title: str, headers, body, footer) -> None:
    from rich.console import Console
    from rich.table import Table

    body = list(body)
    table = Table(title=title, title_justify="left", show_footer=bool(footer))
    for i, (header, foot) in enumerate(zip(headers, footer or [""] * len(headers))):
        table.add_column(header, justify="right" if _numeric([r[i] for r in body]) else "left", footer=foot)
    for row in body:
        table.add_row(*row)
    Console(highlight=False).print(table)


def print_table(title: str, headers, body: Iterable[Sequence[str]], footer=None) -> None:
    """A table (with a totals row if ``footer``): rich in a terminal, plain
    columns otherwise (written a chunk of rows at a time)."""
    if sys.stdout.isatty():
        _rich(title, headers, body, footer)
        return
    for lines in _chunks(_plain(title, headers, body, footer)):
        sys.stdout.write("\n".join(lines) + "\n")


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
