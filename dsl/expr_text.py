"""Expressions → canonical text, with parentheses only where precedence
needs them.  Precedence, lowest first: ``->``, ``or``, ``and``, ``not``,
comparisons (not associative), ``+ -``, ``* / // %``, unary ``-``, postfix
(call, index), atoms."""

from __future__ import annotations

from . import ast
from .printer import INDENT, format_string

__all__ = ["LINE_LIMIT", "expr_text", "wrap_chain"]

LINE_LIMIT = 100

_CHAIN, _OR, _AND, _NOT, _COMPARE, _SUM, _TERM, _UNARY, _POSTFIX, _ATOM = range(1, 11)
_BINARY_PREC = {
    "or": _OR, "and": _AND, "==": _COMPARE, "!=": _COMPARE, "<": _COMPARE, "<=": _COMPARE, ">": _COMPARE,
    ">=": _COMPARE, "+": _SUM, "-": _SUM, "*": _TERM, "/": _TERM, "//": _TERM, "%": _TERM,
}


def _precedence(expr: ast.Expr) -> int:
    if isinstance(expr, ast.Chain):
        return _CHAIN
    if isinstance(expr, ast.Binary):
        return _BINARY_PREC[expr.op]
    if isinstance(expr, ast.Unary):
        return _NOT if expr.op == "not" else _UNARY
    if isinstance(expr, (ast.Call, ast.Index)):
        return _POSTFIX
    return _ATOM


def _at_least(expr: ast.Expr, level: int) -> str:
    text = expr_text(expr)
    return text if _precedence(expr) >= level else f"({text})"


def _arg(arg: ast.Arg) -> str:
    value = expr_text(arg.value)  # type: ignore[arg-type]
    if arg.spread:
        return f"*{value}"
    return f"{arg.name}={value}" if arg.name is not None else value


def _call(expr: ast.Call) -> str:
    text = expr.func
    if expr.parens or expr.args:
        text += "(" + ", ".join(_arg(a) for a in expr.args) + ")"
    return text + (f" as {expr.alias}" if expr.alias else "")


def _binary(expr: ast.Binary) -> str:
    level = _BINARY_PREC[expr.op]
    if level == _COMPARE:  # comparisons do not chain
        return f"{_at_least(expr.left, level + 1)} {expr.op} {_at_least(expr.right, level + 1)}"  # type: ignore[arg-type]
    spine = []
    while isinstance(expr, ast.Binary) and _BINARY_PREC[expr.op] == level:  # left-associative, iteratively
        spine.append(expr)
        expr = expr.left  # type: ignore[assignment]
    text = _at_least(expr, level)
    for node in reversed(spine):
        text += f" {node.op} {_at_least(node.right, level + 1)}"  # type: ignore[arg-type]
    return text


def _if(expr: ast.IfExpr) -> str:
    parts = [f"if {expr_text(c)} {{ {expr_text(b)} }}" for c, b in expr.branches]
    return " else ".join(parts) + f" else {{ {expr_text(expr.orelse)} }}"  # type: ignore[arg-type]


def _number(expr: ast.IntLit | ast.FloatLit) -> str:
    return expr.text if isinstance(expr, ast.FloatLit) and expr.text else str(expr.value)


def expr_text(expr: ast.Expr) -> str:
    """One-line canonical text of an expression."""
    if isinstance(expr, ast.Chain):
        start, calls = _chain_links(expr)
        return _at_least(start, _CHAIN) + "".join(f" -> {_call(call)}" for call in calls)
    if isinstance(expr, ast.Binary):
        return _binary(expr)
    if isinstance(expr, ast.Unary):
        operand = _at_least(expr.operand, _NOT if expr.op == "not" else _UNARY)  # type: ignore[arg-type]
        return f"not {operand}" if expr.op == "not" else f"-{operand}"
    if isinstance(expr, ast.Call):
        return _call(expr)
    if isinstance(expr, ast.Index):
        return f"{_at_least(expr.base, _POSTFIX)}[{expr_text(expr.index)}]"  # type: ignore[arg-type]
    return _ATOMS[type(expr)](expr)


_ATOMS = {
    ast.IntLit: _number,
    ast.FloatLit: _number,
    ast.QuantityLit: lambda e: f"{_number(e.number)} {e.unit}",
    ast.StrLit: lambda e: format_string(e.value),
    ast.BoolLit: lambda e: "true" if e.value else "false",
    ast.Var: lambda e: e.name,
    ast.ListExpr: lambda e: "[" + ", ".join(expr_text(i) for i in e.items) + "]",
    ast.Comprehension: lambda e: f"[{expr_text(e.elem)} for {e.var} in {expr_text(e.iterable)}]",
    ast.DictExpr: lambda e: "{" + ", ".join(f"{d.key}: {expr_text(d.value)}" for d in e.entries) + "}",
    ast.IfExpr: _if,
}


def _chain_links(expr: ast.Expr) -> tuple[ast.Expr, list[ast.Call]]:
    calls = []
    while isinstance(expr, ast.Chain):
        calls.append(expr.call)
        expr = expr.left  # type: ignore[assignment]
    return expr, calls[::-1]


def _wrap_if(head: str, expr: ast.IfExpr, depth: int) -> str:
    lines = []
    for i, (cond, branch) in enumerate(expr.branches):
        lines.append(f"{head if i == 0 else '} else '}if {expr_text(cond)} {{")
        lines.extend(INDENT + line for line in wrap_chain("", branch, depth + 1).split("\n"))
    lines.append("} else {")
    lines.extend(INDENT + line for line in wrap_chain("", expr.orelse, depth + 1).split("\n"))  # type: ignore[arg-type]
    lines.append("}")
    return "\n".join(lines)


def wrap_chain(head: str, expr: ast.Expr, depth: int) -> str:
    """``head + expr`` on one line if it fits in LINE_LIMIT columns; else a
    long ``if`` gets one line per branch, and a long ``->`` chain breaks
    before ``->`` (greedy; continuation lines one level deeper)."""
    one_line = head + expr_text(expr)
    if len(INDENT * depth + one_line) <= LINE_LIMIT:
        return one_line
    if isinstance(expr, ast.IfExpr):
        return _wrap_if(head, expr, depth)
    if not isinstance(expr, ast.Chain):
        return one_line
    start, calls = _chain_links(expr)
    first = head + _at_least(start, _CHAIN)
    lines = [first]
    for call in calls:
        piece = f"-> {_call(call)}"
        current = INDENT * depth + lines[-1]
        if len(current) + 1 + len(piece) <= LINE_LIMIT or lines == [first]:
            lines[-1] += " " + piece
        else:
            lines.append(INDENT + piece)
    return "\n".join(lines)
