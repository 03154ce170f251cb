"""The syntax tree of a ``.seg`` file: frozen dataclasses, each with the span
it was parsed from (spans never take part in equality, so two parses of
differently formatted text compare equal)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import SourceFile, Span


def _span():
    return field(compare=False, repr=False)


def _opt_span():
    return field(default=None, compare=False, repr=False)


node = dataclass(frozen=True, kw_only=True)


@node
class Syntax:
    span: Span = _span()


# ------------------------------------------------------------------ expressions
@node
class Expr(Syntax):
    pass


@node
class IntLit(Expr):
    value: int = 0


@node
class FloatLit(Expr):
    value: float = 0.0
    text: str = field(default="", compare=False)


@node
class QuantityLit(Expr):
    """A number with a unit: ``200 MHz``."""

    number: IntLit | FloatLit | None = None
    unit: str = ""
    unit_span: Span = _span()


@node
class StrLit(Expr):
    value: str = ""


@node
class BoolLit(Expr):
    value: bool = False


@node
class Var(Expr):
    name: str = ""


@node
class ListExpr(Expr):
    items: tuple[Expr, ...] = ()


@node
class Comprehension(Expr):
    """``[elem for var in iterable]``."""

    elem: Expr | None = None
    var: str = ""
    iterable: Expr | None = None
    var_span: Span = _span()


@node
class DictEntry(Syntax):
    key: str = ""
    value: Expr | None = None


@node
class DictExpr(Expr):
    entries: tuple[DictEntry, ...] = ()


@node
class IfExpr(Expr):
    """``if c1 { e1 } else if c2 { e2 } else { e3 }``: branches are (cond, expr)."""

    branches: tuple[tuple[Expr, Expr], ...] = ()
    orelse: Expr | None = None


@node
class Unary(Expr):
    op: str = ""  # "-" or "not"
    operand: Expr | None = None


@node
class Binary(Expr):
    """Arithmetic, comparison, ``and``/``or``."""

    op: str = ""
    left: Expr | None = None
    right: Expr | None = None


@node
class Index(Expr):
    base: Expr | None = None
    index: Expr | None = None


@node
class Arg(Syntax):
    """A call argument: positional (``name`` None), keyword, or ``*spread``."""

    value: Expr | None = None
    name: str | None = None
    spread: bool = False


@node
class Call(Expr):
    """``func(args) as alias``; ``parens`` False for a bare op in a chain
    (``x -> relu``)."""

    func: str = ""
    args: tuple[Arg, ...] = ()
    alias: str | None = None
    parens: bool = True
    func_span: Span = _span()
    alias_span: Span | None = _opt_span()


@node
class Chain(Expr):
    """``left -> call``: ``left`` becomes the call's first argument."""

    left: Expr | None = None
    call: Call | None = None


# ------------------------------------------------------------------ statements
@node
class Assign(Syntax):
    target: str = ""
    value: Expr | None = None
    target_span: Span = _span()


@node
class InputDecl(Syntax):
    name: str = ""
    dims: tuple[Expr, ...] = ()
    name_span: Span = _span()


@node
class OutputDecl(Syntax):
    name: str = ""
    value: Expr | None = None  # None: the variable of the same name
    name_span: Span = _span()


@node
class Return(Syntax):
    value: Expr | None = None


# ------------------------------------------------------------------ definitions
@node
class Param(Syntax):
    name: str = ""
    default: Expr | None = None


@node
class Import(Syntax):
    path: str = ""
    path_span: Span = _span()


@node
class BlockDef(Syntax):
    name: str = ""
    params: tuple[Param, ...] = ()
    body: tuple[Assign, ...] = ()
    ret: Return | None = None
    name_span: Span = _span()


@node
class NetworkDef(Syntax):
    name: str = ""
    target: str | None = None
    body: tuple[InputDecl | Assign | OutputDecl, ...] = ()
    name_span: Span = _span()
    target_span: Span | None = _opt_span()


@node
class Field(Syntax):
    name: str = ""
    value: Expr | None = None
    name_span: Span = _span()


@node
class TargetDef(Syntax):
    name: str = ""
    fields: tuple[Field, ...] = ()
    name_span: Span = _span()


@node
class PruneRate(Syntax):
    pattern: str = ""
    rate: IntLit | FloatLit | None = None


@node
class PatternRef(Syntax):
    """A layer-name pattern as written."""

    text: str = ""


@node
class PruneKeep(Syntax):
    patterns: tuple[PatternRef, ...] = ()


@node
class PruneDef(Syntax):
    network: str = ""
    stmts: tuple[PruneRate | PruneKeep, ...] = ()
    name_span: Span = _span()


@node
class DeformOption(Syntax):
    """``bound = auto`` in a deform rule."""

    name: str = ""
    value: Expr | None = None
    name_span: Span = _span()


@node
class DeformRule(Syntax):
    pattern: PatternRef | None = None
    options: tuple[DeformOption, ...] = ()


@node
class DeformDef(Syntax):
    network: str = ""
    rules: tuple[DeformRule, ...] = ()
    name_span: Span = _span()


@node
class QuantizeDef(Syntax):
    """``quantize NETWORK { pattern: w=8, a=8, scheme=int ... }``; its rules
    are written as a deform section's."""

    network: str = ""
    rules: tuple[DeformRule, ...] = ()
    name_span: Span = _span()


Item = Import | BlockDef | NetworkDef | TargetDef | PruneDef | DeformDef | QuantizeDef


@node
class Comment:
    text: str
    span: Span = _span()


@node
class Module:
    """One parsed file."""

    source: SourceFile = field(compare=False, repr=False)
    items: tuple[Item, ...] = ()
    comments: tuple[Comment, ...] = field(default=(), compare=False, repr=False)
