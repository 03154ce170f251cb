"""``segc fmt``: a syntax tree → ``.seg`` source in canonical layout.

Unlike the IR printer, it keeps the program as written (imports, blocks,
targets, comments) and changes only layout: four-space indentation, one
blank line between definitions (and at most one kept between statements),
single spaces around operators, ``name=value`` arguments, target fields
aligned, parentheses only where precedence needs them, and ``->`` chains
wrapped before 100 columns.  Comments stay with the statement they precede
or end; a comment inside a statement moves above it.  Formatting formatted
text changes nothing.
"""

from __future__ import annotations

from ..ir import Diagnostic, SegError
from . import ast
from .depth import deep_recursion
from .expr_text import expr_text, wrap_chain
from .printer import INDENT, format_pattern, format_string

__all__ = ["format_module"]


class _Formatter:
    def __init__(self, module: ast.Module):
        self.module = module
        self.text = module.source.text
        self.comments = sorted(module.comments, key=lambda c: c.span.start)
        self.next_comment = 0
        self.lines: list[str] = []

    # ------------------------------------------------------------ comments
    def _before(self, offset: int) -> list[ast.Comment]:
        taken = []
        while self.next_comment < len(self.comments) and self.comments[self.next_comment].span.start < offset:
            taken.append(self.comments[self.next_comment])
            self.next_comment += 1
        return taken

    def _trailing(self, end: int) -> str:
        """A comment on the same line right after ``end``, as '  # ...'."""
        if self.next_comment >= len(self.comments):
            return ""
        comment = self.comments[self.next_comment]
        if "\n" in self.text[end:comment.span.start]:
            return ""
        self.next_comment += 1
        return f"  {comment.text}"

    def _blank_before(self, start: int) -> bool:
        """Whether the source has a blank line before offset ``start``."""
        head = self.text[:start].rstrip(" \t")
        return head.endswith("\n\n") or head.endswith("\n\r\n")

    def _blank(self) -> None:
        if self.lines and self.lines[-1] != "" and not self.lines[-1].endswith("{"):
            self.lines.append("")

    def _emit_leading(self, syntax_start: int, syntax_end: int, depth: int, keep_blank: bool) -> None:
        """Comments before (or inside) a piece of syntax, with the blank
        lines the source has between them kept (at most one each)."""
        leading = self._before(syntax_end)
        for i, comment in enumerate(leading):
            if (i > 0 or keep_blank) and self._blank_before(comment.span.start):
                self._blank()
            self.lines.append(INDENT * depth + comment.text)
        after_comments = syntax_start > (leading[-1].span.start if leading else -1)
        if (leading or keep_blank) and after_comments and self._blank_before(syntax_start):
            self._blank()

    def _emit(self, syntax: ast.Syntax, text: str, depth: int, keep_blank: bool = True) -> None:
        """Leading comments, the text (possibly several lines), a trailing comment."""
        self._emit_leading(syntax.span.start, syntax.span.end, depth, keep_blank)
        body = text.split("\n")
        body[-1] += self._trailing(syntax.span.end)
        self.lines.extend(INDENT * depth + line if line else line for line in body)

    def _open(self, syntax: ast.Syntax, header: str) -> None:
        self._emit_leading(syntax.span.start, syntax.span.start + 1, 0, keep_blank=False)
        self.lines.append(header + " {")

    def _close(self, syntax: ast.Syntax, depth: int = 1) -> None:
        for comment in self._before(syntax.span.end - 1):
            self.lines.append(INDENT * depth + comment.text)
        self.lines.append("}" + self._trailing(syntax.span.end))

    # ------------------------------------------------------------ items
    def module_text(self) -> str:
        previous = None
        for item in self.module.items:
            if previous is not None and not (isinstance(item, ast.Import) and isinstance(previous, ast.Import)):
                self.lines.append("")
            getattr(self, f"_item_{type(item).__name__}")(item)
            previous = item
        tail = [c.text for c in self._before(len(self.text) + 1)]
        if tail:
            if self.lines:
                self.lines.append("")
            self.lines.extend(tail)
        return "\n".join(self.lines) + "\n" if self.lines else ""

    def _item_Import(self, item: ast.Import) -> None:
        self._emit(item, f"import {format_string(item.path)}", 0, keep_blank=False)

    def _item_BlockDef(self, item: ast.BlockDef) -> None:
        params = ", ".join(p.name if p.default is None else f"{p.name}={expr_text(p.default)}" for p in item.params)
        self._open(item, f"block {item.name}({params})")
        for stmt in item.body:
            self._statement(stmt, 1)
        self._statement(item.ret, 1)  # type: ignore[arg-type]
        self._close(item)

    def _item_NetworkDef(self, item: ast.NetworkDef) -> None:
        on = f" on {item.target}" if item.target else ""
        self._open(item, f"network {item.name}{on}")
        for stmt in item.body:
            self._statement(stmt, 1)
        self._close(item)

    def _item_TargetDef(self, item: ast.TargetDef) -> None:
        self._open(item, f"target {item.name}")
        width = max((len(f.name) for f in item.fields), default=0)
        for field in item.fields:
            self._emit(field, f"{field.name.ljust(width)} = {expr_text(field.value)}", 1)  # type: ignore[arg-type]
        self._close(item)

    def _item_PruneDef(self, item: ast.PruneDef) -> None:
        self._open(item, f"prune {item.network}")
        for stmt in item.stmts:
            if isinstance(stmt, ast.PruneRate):
                text = f"{format_pattern(stmt.pattern)}: {expr_text(stmt.rate)}"  # type: ignore[arg-type]
            else:
                text = "keep " + ", ".join(format_pattern(p.text) for p in stmt.patterns)
            self._emit(stmt, text, 1)
        self._close(item)

    def _item_DeformDef(self, item: ast.DeformDef) -> None:
        self._rules(item, f"deform {item.network}")

    def _item_QuantizeDef(self, item: ast.QuantizeDef) -> None:
        self._rules(item, f"quantize {item.network}")

    def _rules(self, item: ast.DeformDef | ast.QuantizeDef, header: str) -> None:
        self._open(item, header)
        for rule in item.rules:
            options = ", ".join(f"{o.name}={expr_text(o.value)}" for o in rule.options)  # type: ignore[arg-type]
            self._emit(rule, f"{format_pattern(rule.pattern.text)}: {options}", 1)  # type: ignore[union-attr]
        self._close(item)

    # ------------------------------------------------------------ statements
    def _statement(self, stmt, depth: int) -> None:
        if isinstance(stmt, ast.InputDecl):
            text = f"input {stmt.name}: [{', '.join(expr_text(d) for d in stmt.dims)}]"
        elif isinstance(stmt, ast.OutputDecl):
            text = f"output {stmt.name}"
            if stmt.value is not None:
                text = wrap_chain(f"{text} = ", stmt.value, depth)
        elif isinstance(stmt, ast.Return):
            text = wrap_chain("return ", stmt.value, depth)  # type: ignore[arg-type]
        else:
            text = wrap_chain(f"{stmt.target} = ", stmt.value, depth)
        self._emit(stmt, text, depth)


def format_module(module: ast.Module) -> str:
    """The canonical text of a parsed file."""
    try:
        with deep_recursion():
            return _Formatter(module).module_text()
    except RecursionError:
        raise SegError(Diagnostic(f"{module.source.path}: too deeply nested to format")) from None
