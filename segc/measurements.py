"""The measurements CSV of ``segc calibrate`` (docs/measurements.md).

A header line naming the columns, then one row per measurement; blank lines
and lines starting with '#' are skipped.  Columns: ``network`` (a .seg
file, relative to the CSV, or ``FILE.seg:NAME`` for one of several networks
the file defines), ``pif``, ``pof``, ``pkx``, ``latency_s``, and optionally
``pky`` (default 1), ``layer`` (the measurement is of that layer alone)
and ``part`` (of a layer of several invocations, only that one: a
deformable layer's ``offsets`` branch or its ``sampling`` convolution).

Every mistake is a SegError at ``file:line:column`` with the line and a
caret under the field at fault.  A row that repeats another exactly is kept
(so it weighs twice in a fit) and warned about; the same run measured twice
with different latencies is two measurements, kept without a word.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re
from typing import NamedTuple

from .dsl.evaluate import suggestion
from .dsl.loader import load_text, read_source
from .ir import Diagnostic, SegError, SourceFile, Span, Unroll, shown

__all__ = ["COLUMNS", "OPTIONAL", "PARTS", "REQUIRED", "Measurement", "read_measurements"]

REQUIRED = ("network", "pif", "pof", "pkx", "latency_s")
OPTIONAL = ("pky", "layer", "part")
PARTS = ("offsets", "sampling")
COLUMNS = REQUIRED + OPTIONAL
COLUMNS_HELP = f"the columns are {', '.join(REQUIRED)} (required) and {', '.join(OPTIONAL)} (optional)"
_INTEGER = re.compile(r"\+?[0-9]+")
_DECIMAL = re.compile(r"\+?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@dataclasses.dataclass(frozen=True)
class Measurement:
    network: str  # path as resolved
    unroll: Unroll
    latency_s: float
    layer: str | None
    line: int
    part: str | None = None


class Cell(NamedTuple):
    """One field of a CSV line: its text (unquoted, stripped) and where it is."""

    text: str
    span: Span


def _field_spans(line: str) -> list[tuple[int, int]]:
    """(start, end) of each comma-separated field of a CSV line (quotes respected)."""
    spans, start, quoted = [], 0, False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            spans.append((start, i))
            start = i + 1
    return [*spans, (start, len(line))]


def _unclosed_quote(line: str) -> int | None:
    """Where the quote that opens a field and is never closed is, if any."""
    opened = None
    for i, char in enumerate(line):
        if char == '"':
            opened = i if opened is None else None
    return opened


def _line_span(source: SourceFile, line: int) -> Span:
    start = source.line_starts[line - 1]
    return source.span(start, start + max(1, len(source.line_text(line))))


def _cells(source: SourceFile, line: int) -> list[Cell]:
    """The fields of one line, each with the span of its text (blanks around it left out)."""
    text, offset = source.line_text(line), source.line_starts[line - 1]
    spans = _field_spans(text)
    opening = _unclosed_quote(text)
    if opening is not None:
        raise SegError(Diagnostic("this quote is not closed (a row is one line; a field cannot span lines)",
                                  source.span(offset + opening)))
    try:
        values = next(csv.reader([text], strict=True))
    except csv.Error as err:
        raise SegError(Diagnostic(f"not a CSV line: {err}", _line_span(source, line))) from None
    if len(values) != len(spans):
        raise SegError(Diagnostic("not a CSV line: a quote in the middle of a field (quote whole fields, "
                                  'and write a quote inside one as "")', _line_span(source, line)))
    cells = []
    for value, (start, end) in zip(values, spans):
        raw = text[start:end]
        if raw.strip():  # the caret under the text, not the blanks around it
            start, end = start + len(raw) - len(raw.lstrip()), end - (len(raw) - len(raw.rstrip()))
        end = max(start + 1, end)
        cells.append(Cell(value.strip(), source.span(offset + start, offset + end)))
    return cells


def _header(source: SourceFile, line: int) -> dict[str, int]:
    """Column name -> field index, or an error for every unknown or repeated column."""
    try:
        cells = _cells(source, line)
    except SegError:
        cells = []
    if not any(cell.text in COLUMNS for cell in cells):
        raise _not_a_header(source, line)
    columns: dict[str, int] = {}
    problems = []
    for index, cell in enumerate(cells):
        if cell.text in columns:
            problems.append(Diagnostic(f"column {shown(cell.text)} appears twice (first as column "
                                       f"{columns[cell.text] + 1})", cell.span))
        elif not cell.text:
            problems.append(Diagnostic(f"column {index + 1} has no name (a comma too many?)", cell.span))
        elif cell.text not in COLUMNS:
            problems.append(Diagnostic(f"unknown column {shown(cell.text)}{suggestion(cell.text, COLUMNS)} "
                                       f"({COLUMNS_HELP})", cell.span))
        else:
            columns[cell.text] = index
    if problems:
        raise SegError(problems)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise SegError(Diagnostic(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                                  f"{COLUMNS_HELP}", _line_span(source, line)))
    return columns


def _not_a_header(source: SourceFile, line: int) -> SegError:
    """The error for a first line that names no column: perhaps not a CSV at
    all, so none of its text is shown."""
    separator = next((f" ({name}s separate its fields; CSV takes commas)" for char, name in
                      ((";", "semicolon"), ("\t", "tab")) if char in source.line_text(line)), "")
    return SegError(Diagnostic(f"not a measurements header (its text is not shown): no field names a column"
                               f"{separator}; {COLUMNS_HELP}", path=f"{source.path}:{line}:1"))


def _positive(cell: Cell, column: str, integer: bool) -> float:
    """A positive integer, or a positive finite decimal number, from a cell."""
    if (_INTEGER if integer else _DECIMAL).fullmatch(cell.text):
        value = int(cell.text) if integer else float(cell.text)
        if 0 < value < math.inf:
            return value
    noun = "a positive integer" if integer else "a positive finite number"
    raise SegError(Diagnostic(f"column '{column}': expected {noun}, got {shown(cell.text)}", cell.span))


def _part(cell: Cell | None, layer: Cell | None) -> str | None:
    """The ``part`` column: empty, or one of PARTS of a named layer."""
    if cell is None or not cell.text:
        return None
    if cell.text not in PARTS:
        raise SegError(Diagnostic(f"column 'part': expected {' or '.join(PARTS)} (the invocations of a deformable "
                                  f"layer), got {shown(cell.text)}", cell.span))
    if layer is None or not layer.text:
        raise SegError(Diagnostic("column 'part': a part is of a layer; name it in the 'layer' column", cell.span))
    return cell.text


class _Reader:
    """Rows of one measurements file, checked against its header."""

    def __init__(self, source: SourceFile, header_line: int):
        self.source, self.header_line = source, header_line
        self.columns = _header(source, header_line)
        self.base = os.path.dirname(source.path)
        self.networks: dict[str, set[str]] = {}  # .seg file -> the networks it defines

    def row(self, line: int) -> Measurement:
        values = self._values(line)
        pky, layer = values.get("pky"), values.get("layer")
        unroll = Unroll(*(_positive(values[c], c, True) for c in ("pif", "pof", "pkx")),
                        _positive(pky, "pky", True) if pky and pky.text else 1)
        latency = _positive(values["latency_s"], "latency_s", False)
        part = _part(values.get("part"), layer)
        return Measurement(self._network(values["network"]), unroll, latency, (layer and layer.text) or None, line,
                           part)

    def _values(self, line: int) -> dict[str, Cell]:
        cells = _cells(self.source, line)
        expected = len(self.columns)
        if len(cells) != expected:
            at = cells[expected].span.to(cells[-1].span) if len(cells) > expected else self._end_of(line)
            raise SegError(Diagnostic(f"line {line} has {len(cells)} fields; the header (line {self.header_line}) "
                                      f"has {expected} columns", at))
        values = {name: cells[index] for name, index in self.columns.items()}
        for name in REQUIRED:
            if not values[name].text:
                raise SegError(Diagnostic(f"column '{name}' is empty; every row needs {', '.join(REQUIRED)}",
                                          values[name].span))
        return values

    def _end_of(self, line: int) -> Span:
        end = self.source.line_starts[line - 1] + len(self.source.line_text(line))
        return self.source.span(end)

    def _network(self, cell: Cell) -> str:
        """The resolved path (and ``:NAME``) of a ``network`` cell, checked to exist."""
        resolved = os.path.normpath(os.path.join(self.base, cell.text))
        path, name = _network(resolved)
        written = _network(cell.text)[0]
        relative = "" if os.path.isabs(written) else f" ({shown(written)} is relative to the CSV's folder)"
        if not os.path.exists(path):
            raise SegError(Diagnostic(f"network file not found: {path}{relative}", cell.span))
        if os.path.isdir(path):
            raise SegError(Diagnostic(f"{path} is a folder, not a network file{relative}", cell.span))
        if name is not None:
            if path not in self.networks:
                self.networks[path] = set(load_text(read_source(path, cell.span), path).networks)
            if name not in self.networks[path]:
                known = ", ".join(sorted(self.networks[path])) or "none"
                raise SegError(Diagnostic(f"no network {shown(name)} in {path}{suggestion(name, self.networks[path])} "
                                          f"(it defines: {known})", cell.span))
        return resolved


def _network(spec: str) -> tuple[str, str | None]:
    """(path, network name or None) of a ``network`` column."""
    if ".seg:" not in spec:
        return spec, None
    cut = spec.rindex(".seg:") + len(".seg")
    return spec[:cut], spec[cut + 1:]


def _repeats(source: SourceFile, rows: list[Measurement]) -> list[Diagnostic]:
    """A warning for each row that repeats an earlier one exactly."""
    first: dict[tuple, int] = {}
    found = []
    for row in rows:
        key = (row.network, row.unroll, row.layer, row.latency_s)
        if key in first:
            found.append(Diagnostic(f"this row repeats line {first[key]} exactly; both are kept, so this "
                                    "measurement counts twice in the fit", _line_span(source, row.line),
                                    severity="warning"))
        first.setdefault(key, row.line)
    return found


def read_measurements(path: str, warnings: list[Diagnostic] | None = None) -> list[Measurement]:
    """The measurements of a CSV file; ``warnings`` receives what reading it warned about."""
    source = SourceFile(path, read_source(path))
    lines = [n for n in range(1, len(source.line_starts) + 1)
             if source.line_text(n).strip() and not source.line_text(n).lstrip().startswith("#")]
    if not lines:
        raise SegError(Diagnostic("no measurements: the file is empty or only comments (expected a header line, "
                                  f"then one row per measurement; {COLUMNS_HELP})", path=path))
    reader = _Reader(source, lines[0])
    if len(lines) == 1:
        raise SegError(Diagnostic("no measurements: the header is followed by no rows", _line_span(source, lines[0])))
    rows = [reader.row(line) for line in lines[1:]]
    if warnings is not None:
        warnings.extend(_repeats(source, rows))
    return rows
