"""Compile-time evaluation of ``.seg`` expressions.

Arithmetic is Python's on integers and floats (``/`` gives a float, ``//``
and ``%`` floor); comparisons give booleans; ``and``/``or``/``not`` and
``if`` conditions take booleans only.  A value that failed is
:data:`POISON` and silently poisons whatever uses it, so each mistake is
reported once.  Calls (ops, blocks, built-ins) are in ``calls.py``.
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Callable

from ..ir import Diagnostic, Note, SegError, Span
from . import ast
from .builtins import MAX_LIST
from .units import UNITS, from_unit, unknown_unit_message
from .values import POISON, Quantity, Tensor, is_poison, type_name

__all__ = ["Env", "ExprEvaluator", "close_match", "suggestion"]

MAX_TRACE_NOTES = 6
MAX_INT = 2**62  # compile-time integers stay well inside what shapes, floats and C can hold
MAX_STRING = 100_000


def close_match(name: str, candidates) -> str | None:
    """The candidate ``name`` most likely misspells, if any."""
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.7)
    return close[0] if close else None


def suggestion(name: str, candidates) -> str:
    guess = close_match(name, candidates)
    return f"; did you mean '{guess}'?" if guess else ""


class Env:
    """Variables of one block call or network (``parent`` for comprehensions)."""

    def __init__(self, parent: Env | None = None):
        self.vars: dict[str, object] = {}
        self.spans: dict[str, Span] = {}
        self.parent = parent

    def lookup(self, name: str) -> object:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        raise KeyError(name)

    def names(self) -> set[str]:
        return set(self.vars) | (self.parent.names() if self.parent else set())

    def define(self, name: str, value: object, span: Span) -> None:
        self.vars[name] = value
        self.spans[name] = span


_ARITHMETIC: dict[str, Callable] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod,
}
_COMPARE: dict[str, Callable] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class ExprEvaluator:
    """Evaluates expressions; ``call`` is supplied by the subclass."""

    def __init__(self) -> None:
        self.call_stack: list[tuple[str, Span]] = []
        self.errors: list[Diagnostic] = []
        self._seen: set[tuple] = set()
        self._methods: dict[type, Callable] = {}  # expression type -> its _eval_ function

    # ---------------------------------------------------------- diagnostics
    def error(self, message: str, span: Span | None) -> SegError:
        """A SegError at ``span`` with notes for the block calls that led here."""
        calls = list(reversed(self.call_stack))
        notes = [Note(f"in block '{name}' called here", where) for name, where in calls[:MAX_TRACE_NOTES]]
        if len(calls) > MAX_TRACE_NOTES:
            notes.append(Note(f"… and {len(calls) - MAX_TRACE_NOTES} more block calls"))
        return SegError(Diagnostic(message, span, tuple(notes)))

    def record(self, err: SegError) -> None:
        for diag in err.diagnostics:
            key = (diag.message, diag.span and (diag.span.source.path, diag.span.start), diag.severity)
            if key not in self._seen:
                self._seen.add(key)
                self.errors.append(diag)

    def guarded(self, expr: ast.Expr, env: Env) -> object:
        """Evaluate, recording an error and giving POISON instead of raising."""
        try:
            return self.eval(expr, env)
        except SegError as err:
            self.record(err)
        except RecursionError:
            self.record(self.error("this expression is nested too deeply to evaluate", expr.span))
        return POISON

    # ---------------------------------------------------------- dispatch
    def eval(self, expr: ast.Expr, env: Env) -> object:
        method = self._methods.get(type(expr))
        if method is None:  # the class's function, not a bound method (which would hold the evaluator in a cycle)
            method = self._methods[type(expr)] = getattr(type(self), f"_eval_{type(expr).__name__}")
        return method(self, expr, env)

    def call(self, call: ast.Call, env: Env, first: tuple[object, Span] | None = None) -> object:
        """Plain expressions (target fields) call nothing; the elaborator
        overrides this (``calls.py``)."""
        raise self.error("nothing can be called here", call.span)

    def _eval_IntLit(self, expr: ast.IntLit, env: Env) -> int:
        return self._bounded(expr.value, expr.span)

    def _bounded(self, value: object, span: Span) -> object:
        """Integers beyond ±2^62 and strings over 100,000 characters are errors."""
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise self.error("the integer is too large (beyond ±2^62)", span)
        if isinstance(value, str) and len(value) > MAX_STRING:
            raise self.error(f"the string would be longer than {MAX_STRING:,} characters", span)
        return value

    def _eval_FloatLit(self, expr: ast.FloatLit, env: Env) -> float:
        if not math.isfinite(expr.value):
            raise self.error(f"the number {expr.text} is too large", expr.span)
        return expr.value

    def _eval_StrLit(self, expr: ast.StrLit, env: Env) -> str:
        return expr.value

    def _eval_BoolLit(self, expr: ast.BoolLit, env: Env) -> bool:
        return expr.value

    def _eval_QuantityLit(self, expr: ast.QuantityLit, env: Env) -> Quantity:
        if expr.unit not in UNITS:
            raise self.error(unknown_unit_message(expr.unit), expr.unit_span)
        kind, factor = UNITS[expr.unit]
        number = self.eval(expr.number, env)  # type: ignore[arg-type]
        value = from_unit(number, factor)
        return Quantity(value, kind, f"{expr.number.value:g} {expr.unit}")  # type: ignore[union-attr]

    def _eval_Var(self, expr: ast.Var, env: Env) -> object:
        try:
            return env.lookup(expr.name)
        except KeyError:
            raise self.error(f"undefined name '{expr.name}'{suggestion(expr.name, env.names())}", expr.span) from None

    def _eval_ListExpr(self, expr: ast.ListExpr, env: Env) -> tuple:
        return tuple(self.eval(item, env) for item in expr.items)

    def _eval_Comprehension(self, expr: ast.Comprehension, env: Env) -> object:
        items = self.eval(expr.iterable, env)  # type: ignore[arg-type]
        if is_poison(items):
            return POISON
        if not isinstance(items, tuple):
            raise self.error(f"'for' needs a list, got {type_name(items)}", expr.iterable.span)  # type: ignore[union-attr]
        results = []
        for item in items:
            inner = Env(env)
            inner.define(expr.var, item, expr.var_span)
            results.append(self.eval(expr.elem, inner))  # type: ignore[arg-type]
        return tuple(results)

    def _eval_DictExpr(self, expr: ast.DictExpr, env: Env) -> dict:
        result: dict[str, object] = {}
        for entry in expr.entries:
            if entry.key in result:
                raise self.error(f"key '{entry.key}' appears twice", entry.span)
            result[entry.key] = self.eval(entry.value, env)  # type: ignore[arg-type]
        return result

    def _condition(self, cond: ast.Expr, env: Env) -> bool | object:
        value = self.eval(cond, env)
        if is_poison(value) or isinstance(value, bool):
            return value
        raise self.error(f"a condition must be true or false, got {type_name(value)}", cond.span)

    def _eval_IfExpr(self, expr: ast.IfExpr, env: Env) -> object:
        for cond, branch in expr.branches:
            taken = self._condition(cond, env)
            if is_poison(taken):
                return POISON
            if taken:
                return self.eval(branch, env)
        return self.eval(expr.orelse, env)  # type: ignore[arg-type]

    def _eval_Unary(self, expr: ast.Unary, env: Env) -> object:
        value = self.eval(expr.operand, env)  # type: ignore[arg-type]
        if is_poison(value):
            return POISON
        if expr.op == "not":
            if not isinstance(value, bool):
                raise self.error(f"'not' needs true or false, got {type_name(value)}", expr.operand.span)  # type: ignore[union-attr]
            return not value
        if not _is_number(value):
            raise self.error(f"cannot negate {type_name(value)}", expr.operand.span)  # type: ignore[union-attr]
        return self._bounded(-value, expr.span)  # type: ignore[operator]

    def _eval_Binary(self, expr: ast.Binary, env: Env) -> object:
        if expr.op in ("and", "or"):
            return self._logical(expr, env)
        if expr.op in _COMPARE:
            left, right = self.eval(expr.left, env), self.eval(expr.right, env)  # type: ignore[arg-type]
            return POISON if is_poison(left) or is_poison(right) else self._compare(expr, left, right)
        spine = []
        while isinstance(expr, ast.Binary) and expr.op in _ARITHMETIC:  # iterative: a + b + c + ...
            spine.append(expr)
            expr = expr.left  # type: ignore[assignment]
        value = self.eval(expr, env)
        for node in reversed(spine):
            right = self.eval(node.right, env)  # type: ignore[arg-type]
            if is_poison(value) or is_poison(right):
                return POISON
            value = self._arithmetic(node, value, right)
        return value

    def _logical(self, expr: ast.Binary, env: Env) -> object:
        left = self._condition(expr.left, env)  # type: ignore[arg-type]
        if is_poison(left) or (left if expr.op == "or" else not left):
            return left
        return self._condition(expr.right, env)  # type: ignore[arg-type]

    def _compare(self, expr: ast.Binary, left: object, right: object) -> bool:
        if expr.op in ("==", "!="):
            if isinstance(left, Tensor) or isinstance(right, Tensor):
                raise self.error("tensors cannot be compared; compare channels(x) or height(x)", expr.span)
            return _COMPARE[expr.op](left, right)
        if (_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str)):
            return _COMPARE[expr.op](left, right)
        raise self.error(f"cannot compare {type_name(left)} with {type_name(right)} by '{expr.op}'", expr.span)

    def _arithmetic(self, expr: ast.Binary, left: object, right: object) -> object:
        op = expr.op
        if op == "+" and isinstance(left, tuple) and isinstance(right, tuple):
            if len(left) + len(right) > MAX_LIST:
                raise self.error(f"the list would have more than {MAX_LIST} items", expr.span)
            return left + right
        if op == "+" and isinstance(left, str) and isinstance(right, str):
            return self._bounded(left + right, expr.span)
        if not (_is_number(left) and _is_number(right)):
            raise self.error(f"cannot apply '{op}' to {type_name(left)} and {type_name(right)}", expr.span)
        if op in ("/", "//", "%") and right == 0:
            raise self.error("division by zero", expr.right.span)  # type: ignore[union-attr]
        result = _ARITHMETIC[op](left, right)
        if isinstance(result, float) and not math.isfinite(result):
            raise self.error("the result is too large", expr.span)
        return self._bounded(result, expr.span)

    def _eval_Index(self, expr: ast.Index, env: Env) -> object:
        base = self.eval(expr.base, env)  # type: ignore[arg-type]
        index = self.eval(expr.index, env)  # type: ignore[arg-type]
        if is_poison(base) or is_poison(index):
            return POISON
        if isinstance(base, dict) and isinstance(index, str):
            if index not in base:
                raise self.error(f"no key '{index}' (keys: {', '.join(base)})", expr.index.span)  # type: ignore[union-attr]
            return base[index]
        if not isinstance(base, tuple):
            raise self.error(f"cannot index {type_name(base)}", expr.base.span)  # type: ignore[union-attr]
        if isinstance(index, bool) or not isinstance(index, int):
            raise self.error(f"a list index must be an integer, got {type_name(index)}", expr.index.span)  # type: ignore[union-attr]
        if not -len(base) <= index < len(base):
            raise self.error(f"index {index} is out of range for a list of {len(base)}", expr.index.span)  # type: ignore[union-attr]
        return base[index]

    def _eval_Call(self, expr: ast.Call, env: Env) -> object:
        return self.call(expr, env)

    def _eval_Chain(self, expr: ast.Chain, env: Env) -> object:
        calls = []
        while isinstance(expr, ast.Chain):  # iterative: chains may be thousands long
            calls.append(expr.call)
            expr = expr.left  # type: ignore[assignment]
        value, span = self.eval(expr, env), expr.span
        for call in reversed(calls):
            value = self.call(call, env, first=(value, span))  # type: ignore[arg-type]
            span = span.to(call.span)  # type: ignore[union-attr]
        return value
