"""Source positions and the one error hierarchy of segc.

Every user-facing failure is a :class:`SegError` carrying one or more
:class:`Diagnostic` s.  A diagnostic that knows where it comes from renders as

    path:line:col: error: message
        source line
        ^^^^^

(lines and columns are 1-based, columns count characters).  Notes attached to
a diagnostic (for example "in block 'basic' called here") render the same way
beneath it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

__all__ = [
    "Diagnostic",
    "Note",
    "SegError",
    "SourceFile",
    "Span",
    "render",
]


class SourceFile:
    """The text of one input file and the path it is shown under."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        self._line_starts: list[int] | None = None

    def __repr__(self) -> str:
        return f"SourceFile({self.path!r})"

    @property
    def line_starts(self) -> list[int]:
        if self._line_starts is None:
            starts = [0]
            starts.extend(i + 1 for i, ch in enumerate(self.text) if ch == "\n")
            self._line_starts = starts
        return self._line_starts

    def location(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.line_starts, offset) - 1
        return line + 1, offset - self.line_starts[line] + 1

    def line_text(self, line: int) -> str:
        starts = self.line_starts
        if not 1 <= line <= len(starts):
            return ""
        end = starts[line] - 1 if line < len(starts) else len(self.text)
        return self.text[starts[line - 1] : end].rstrip("\r")

    def span(self, start: int, end: int | None = None) -> Span:
        return Span(self, start, start + 1 if end is None else end)


@dataclass(frozen=True)
class Span:
    """A half-open range of character offsets in a source file."""

    source: SourceFile = field(compare=False, hash=False)
    start: int
    end: int

    @property
    def line(self) -> int:
        return self.source.location(self.start)[0]

    @property
    def column(self) -> int:
        return self.source.location(self.start)[1]

    def __str__(self) -> str:
        line, col = self.source.location(self.start)
        return f"{self.source.path}:{line}:{col}"

    def to(self, other: Span) -> Span:
        """The span from the start of this one to the end of ``other``."""
        return Span(self.source, self.start, max(self.end, other.end))

    def excerpt(self) -> str:
        """The first source line of the span and a caret line under it."""
        line, col = self.source.location(self.start)
        text = self.source.line_text(line)
        end_line, end_col = self.source.location(max(self.start, self.end - 1))
        width = end_col - col + 1 if end_line == line else len(text) - col + 1
        width = max(1, min(width, max(1, len(text) - col + 1)))
        pad = "".join("\t" if ch == "\t" else " " for ch in text[: col - 1])
        return f"    {text}\n    {pad}{'^' * width}"


@dataclass(frozen=True)
class Note:
    message: str
    span: Span | None = None


@dataclass(frozen=True)
class Diagnostic:
    """One message: ``severity`` is "error" or "warning"."""

    message: str
    span: Span | None = None
    notes: tuple[Note, ...] = ()
    severity: str = "error"
    path: str | None = None  # for input without spans (JSON, ONNX)

    def with_notes(self, *notes: Note) -> Diagnostic:
        return Diagnostic(self.message, self.span, self.notes + notes, self.severity, self.path)

    def render(self) -> str:
        """``file:line:col: severity: message``, the line and a caret (see :func:`render`)."""
        return render(self)


def _render_one(severity: str, message: str, span: Span | None, path: str | None) -> str:
    if span is None:
        prefix = f"{path}: " if path else ""
        return f"{prefix}{severity}: {message}"
    return f"{span}: {severity}: {message}\n{span.excerpt()}"


def render(diag: Diagnostic) -> str:
    """Render a diagnostic and its notes as text (no trailing newline)."""
    parts = [_render_one(diag.severity, diag.message, diag.span, diag.path)]
    parts.extend(_render_one("note", n.message, n.span, None) for n in diag.notes)
    return "\n".join(parts)


class SegError(Exception):
    """A user's mistake: one or more diagnostics, never a Python bug."""

    def __init__(self, diagnostics: Diagnostic | list[Diagnostic] | str, span: Span | None = None):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(diagnostics, span)]
        elif isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = sorted(diagnostics, key=_position)
        super().__init__(self.render())

    @property
    def message(self) -> str:
        return self.diagnostics[0].message

    def render(self) -> str:
        return "\n".join(render(d) for d in self.diagnostics)


def _position(diag: Diagnostic) -> tuple[str, int]:
    if diag.span is None:
        return (diag.path or "", -1)
    return (diag.span.source.path, diag.span.start)
