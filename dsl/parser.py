"""Text → syntax tree.  One cached LALR parser (``seg.lark``); Lark's errors
become :class:`SegError` s that point at the offending token."""

from __future__ import annotations

import functools
import re
import threading
from importlib import resources

import lark
from lark import Token, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.visitors import Transformer_NonRecursive

from ..ir import Diagnostic, SegError, SourceFile, Span
from . import ast

__all__ = ["parse_text"]

_TERMINAL_NAMES = {
    "IDENT": "a name", "INT": "a number", "FLOAT": "a number", "QUANTITY": "a number with a unit",
    "STRING": "a string", "PATTERN": "a layer pattern", "COMMA": "','", "LPAR": "'('", "RPAR": "')'",
    "LBRACE": "'{'", "RBRACE": "'}'", "LSQB": "'['", "RSQB": "']'", "COLON": "':'", "EQUAL": "'='",
    "$END": "the end of the file",
}
_MAX_EXPECTED = 8


_collected = threading.local()


def _on_comment(token: Token) -> None:
    _collected.comments.append(token)


@functools.lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    grammar = resources.files(__package__).joinpath("seg.lark").read_text(encoding="utf-8")
    return lark.Lark(
        grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True, cache=True,
        lexer_callbacks={"COMMENT": _on_comment},
    )


def parse_text(text: str, path: str = "<string>") -> ast.Module:
    """Parse one file's text; raise SegError on a syntax error."""
    source = SourceFile(path, text)
    _collected.comments = []
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as err:
        raise SegError(_syntax_errors(source, err)) from None
    comments = [ast.Comment(text=str(t).rstrip(), span=Span(source, t.start_pos, t.end_pos))
                for t in _collected.comments]
    try:
        items = _ToAst(source).transform(tree)
    except VisitError as err:
        if isinstance(err.orig_exc, SegError):
            raise err.orig_exc from None
        raise
    return ast.Module(source=source, items=tuple(items), comments=tuple(comments))


# ---------------------------------------------------------------- errors
# A definition starts a line: after a syntax error, parsing resumes at the
# next one, so that the mistakes of later definitions are reported too.
_RESUME = re.compile(r'^(?:import\s+"|(?:block|network|target|prune|deform)\s+[A-Za-z_])', re.MULTILINE)
_MAX_SYNTAX_ERRORS = 10


def _error_position(err: UnexpectedInput) -> int:
    token = getattr(err, "token", None)
    if token is not None and token.type != "$END" and token.start_pos is not None:
        return token.start_pos
    return err.pos_in_stream if getattr(err, "pos_in_stream", None) is not None else -1


def _resume_point(text: str, position: int) -> int | None:
    """Where parsing resumes after an error at ``position``: the start of
    its line when that line starts a definition (the one before was left
    open), else the next line that starts one."""
    line_start = text.rfind("\n", 0, position) + 1
    if line_start > 0 and _RESUME.match(text, line_start):
        return line_start
    line_end = text.find("\n", position)
    found = _RESUME.search(text, line_end + 1) if line_end >= 0 else None
    return found.start() if found else None


def _syntax_errors(source: SourceFile, err: UnexpectedInput) -> list[Diagnostic]:
    """The first syntax error, then one more for each later definition that
    has one (each part of the file is parsed with what precedes it blanked,
    so positions stay put)."""
    diagnostics, position = [_syntax_diagnostic(source, err)], _error_position(err)
    while position >= 0 and len(diagnostics) < _MAX_SYNTAX_ERRORS:
        start = _resume_point(source.text, position)
        if start is None:
            break
        masked = re.sub(r"[^\n]", " ", source.text[:start]) + source.text[start:]
        try:
            _parser().parse(masked)
            break
        except UnexpectedInput as later:
            if _error_position(later) <= position:
                break
            diagnostics.append(_syntax_diagnostic(source, later))
            position = _error_position(later)
    return diagnostics


_OPERATORS = {"!=", "%", "*", "+", "-", "/", "//", "<", "<=", "==", ">", ">=", "and", "or", "[", "->"}


def _describe_expected(names: set[str]) -> str:
    described = set()
    for name in names:
        pattern = _parser().get_terminal(name).pattern if name != "$END" else None
        if pattern is not None and pattern.type == "str" and pattern.value in _OPERATORS:
            described.add("an operator")
        elif name in _TERMINAL_NAMES:
            described.add(_TERMINAL_NAMES[name])
        else:
            described.add(f"'{pattern.value}'" if pattern.type == "str" else name.lower())
    ordered = sorted(described)
    if len(ordered) > _MAX_EXPECTED:
        ordered = [*ordered[:_MAX_EXPECTED], "…"]
    return ", ".join(ordered)


def _token_text(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    return f"'{token}'" if len(token) <= 40 else f"'{str(token)[:40]}…'"


def _syntax_diagnostic(source: SourceFile, err: UnexpectedInput) -> Diagnostic:
    if isinstance(err, UnexpectedCharacters):
        char = source.text[err.pos_in_stream]
        message = "unexpected character " + (repr(char) if not char.isprintable() else f"'{char}'")
        if char == '"':
            message = "unterminated string (a string ends on the line it starts)"
        return Diagnostic(message, source.span(err.pos_in_stream))
    if isinstance(err, UnexpectedToken):
        token = err.token
        if token.type == "$END":  # lark places it on the last token: point just after that
            start = token.end_pos if token.end_pos is not None else len(source.text)
            end = start + 1
        else:
            start, end = token.start_pos, token.end_pos
        expected = _describe_expected(set(err.accepts or err.expected))
        return Diagnostic(f"unexpected {_token_text(token)}; expected {expected}", Span(source, start, end))
    if isinstance(err, UnexpectedEOF):
        expected = _describe_expected(set(err.expected))
        return Diagnostic(f"unexpected end of file; expected {expected}", source.span(len(source.text)))
    return Diagnostic(str(err), None)  # pragma: no cover - lark has no other kind


# ---------------------------------------------------------------- tree → AST
@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    """One method per grammar rule; each returns an AST node with its span."""

    def __init__(self, source: SourceFile):
        super().__init__(visit_tokens=False)  # no method per token type: tokens pass as they are
        self.source = source

    def _span(self, meta) -> Span:
        return Span(self.source, meta.start_pos, meta.end_pos)

    def _tok(self, token: Token) -> Span:
        return Span(self.source, token.start_pos, token.end_pos)

    # ---- file and definitions
    def start(self, meta, items):
        return items

    def import_stmt(self, meta, children):
        token, = children
        return ast.Import(path=_unquote(token), path_span=self._tok(token), span=self._span(meta))

    def param(self, meta, children):
        name, default = children
        return ast.Param(name=str(name), default=default, span=self._span(meta))

    def block_def(self, meta, children):
        name, *rest = children
        ret = rest[-1]
        params = tuple(c for c in rest[:-1] if isinstance(c, ast.Param))
        body = tuple(c for c in rest[:-1] if isinstance(c, ast.Assign))
        return ast.BlockDef(name=str(name), params=params, body=body, ret=ret, name_span=self._tok(name),
                            span=self._span(meta))

    def return_stmt(self, meta, children):
        return ast.Return(value=children[0], span=self._span(meta))

    def network_def(self, meta, children):
        name, target, *body = children
        return ast.NetworkDef(
            name=str(name), target=None if target is None else str(target), body=tuple(body),
            name_span=self._tok(name), target_span=None if target is None else self._tok(target),
            span=self._span(meta),
        )

    def input_stmt(self, meta, children):
        name, *dims = children
        return ast.InputDecl(name=str(name), dims=tuple(dims), name_span=self._tok(name), span=self._span(meta))

    def output_stmt(self, meta, children):
        name, value = children
        return ast.OutputDecl(name=str(name), value=value, name_span=self._tok(name), span=self._span(meta))

    def assign(self, meta, children):
        target, value = children
        return ast.Assign(target=str(target), value=value, target_span=self._tok(target), span=self._span(meta))

    def target_def(self, meta, children):
        name, *fields = children
        return ast.TargetDef(name=str(name), fields=tuple(fields), name_span=self._tok(name), span=self._span(meta))

    def field(self, meta, children):
        name, value = children
        return ast.Field(name=str(name), value=value, name_span=self._tok(name), span=self._span(meta))

    def prune_def(self, meta, children):
        name, *stmts = children
        return ast.PruneDef(network=str(name), stmts=tuple(stmts), name_span=self._tok(name), span=self._span(meta))

    def prune_rate(self, meta, children):
        pattern, token = children
        number = self.int_lit(meta, [token]) if token.type == "INT" else self.float_lit(meta, [token])
        return ast.PruneRate(pattern=pattern.text, rate=number, span=self._span(meta))

    def prune_keep(self, meta, children):
        return ast.PruneKeep(patterns=tuple(children), span=self._span(meta))

    def deform_def(self, meta, children):
        name, *rules = children
        return ast.DeformDef(network=str(name), rules=tuple(rules), name_span=self._tok(name), span=self._span(meta))

    def quantize_def(self, meta, children):
        name, *rules = children
        return ast.QuantizeDef(network=str(name), rules=tuple(rules), name_span=self._tok(name),
                               span=self._span(meta))

    def deform_rule(self, meta, children):
        pattern, *options = children
        return ast.DeformRule(pattern=pattern, options=tuple(options), span=self._span(meta))

    def deform_option(self, meta, children):
        name, value = children
        return ast.DeformOption(name=str(name), value=value, name_span=self._tok(name), span=self._span(meta))

    def pattern(self, meta, children):
        token, = children
        text = _unquote(token) if token.type == "STRING" else str(token)
        return ast.PatternRef(text=text, span=self._tok(token))

    # ---- expressions
    def chain(self, meta, children):
        left, call = children
        return ast.Chain(left=left, call=call, span=self._span(meta))

    def apply(self, meta, children):
        if isinstance(children[0], ast.Call):
            return children[0]
        name, alias = children
        return ast.Call(func=str(name), parens=False, alias=alias and alias[0], alias_span=alias and alias[1],
                        func_span=self._tok(name), span=self._span(meta))

    def alias(self, meta, children):
        token, = children
        return (str(token), self._tok(token))

    def call(self, meta, children):
        name, *args, alias = children
        args = tuple(a if isinstance(a, ast.Arg) else ast.Arg(value=a, span=a.span) for a in args if a is not None)
        return ast.Call(func=str(name), args=args, alias=alias and alias[0], alias_span=alias and alias[1],
                        func_span=self._tok(name), span=self._span(meta))

    def kwarg(self, meta, children):
        name, value = children
        return ast.Arg(value=value, name=str(name), span=self._span(meta))

    def spread(self, meta, children):
        return ast.Arg(value=children[0], spread=True, span=self._span(meta))

    def or_op(self, meta, children):
        return ast.Binary(op="or", left=children[0], right=children[1], span=self._span(meta))

    def and_op(self, meta, children):
        return ast.Binary(op="and", left=children[0], right=children[1], span=self._span(meta))

    def not_op(self, meta, children):
        return ast.Unary(op="not", operand=children[0], span=self._span(meta))

    def neg(self, meta, children):
        return ast.Unary(op="-", operand=children[0], span=self._span(meta))

    def compare(self, meta, children):
        left, op, right = children
        return ast.Binary(op=str(op), left=left, right=right, span=self._span(meta))

    binary = compare

    def index(self, meta, children):
        base, idx = children
        return ast.Index(base=base, index=idx, span=self._span(meta))

    def int_lit(self, meta, children):
        return ast.IntLit(value=self._int(children[0], str(children[0])), span=self._tok(children[0]))

    def _int(self, token: Token, text: str) -> int:
        if len(text.lstrip("0")) > 19:
            raise SegError(Diagnostic("the integer is too large (beyond ±2^62)", self._tok(token)))
        return int(text)

    def float_lit(self, meta, children):
        text = str(children[0])
        return ast.FloatLit(value=float(text), text=text, span=self._tok(children[0]))

    def quantity(self, meta, children):
        token = children[0]
        number_text = token.split()[0] if " " in token or "\t" in token else _leading_number(token)
        unit = token[len(number_text):].strip()
        start = token.start_pos
        is_int = number_text.isdigit()
        number_span = Span(self.source, start, start + len(number_text))
        number = (ast.IntLit(value=self._int(token, number_text), span=number_span)
                  if is_int else
                  ast.FloatLit(value=float(number_text), text=number_text,
                               span=Span(self.source, start, start + len(number_text))))
        unit_start = token.end_pos - len(unit)
        return ast.QuantityLit(number=number, unit=unit, unit_span=Span(self.source, unit_start, token.end_pos),
                               span=self._tok(token))

    def string(self, meta, children):
        return ast.StrLit(value=_unquote(children[0]), span=self._tok(children[0]))

    def true(self, meta, children):
        return ast.BoolLit(value=True, span=self._span(meta))

    def false(self, meta, children):
        return ast.BoolLit(value=False, span=self._span(meta))

    def var(self, meta, children):
        return ast.Var(name=str(children[0]), span=self._tok(children[0]))

    def list(self, meta, children):
        return ast.ListExpr(items=tuple(c for c in children if c is not None), span=self._span(meta))

    def comprehension(self, meta, children):
        elem, var, iterable = children
        return ast.Comprehension(elem=elem, var=str(var), iterable=iterable, var_span=self._tok(var),
                                 span=self._span(meta))

    def dict(self, meta, children):
        children = [c for c in children if c is not None]
        pairs = zip(children[::2], children[1::2])
        entries = tuple(ast.DictEntry(key=str(k), value=v, span=self._tok(k).to(v.span)) for k, v in pairs)
        return ast.DictExpr(entries=entries, span=self._span(meta))

    def if_expr(self, meta, children):
        *pairs, orelse = children
        branches = tuple(zip(pairs[::2], pairs[1::2]))
        return ast.IfExpr(branches=branches, orelse=orelse, span=self._span(meta))


def _leading_number(text: str) -> str:
    end = 0
    while end < len(text) and (text[end].isdigit() or text[end] in ".eE+-"):
        if text[end] in "eE" and not (end + 1 < len(text) and (text[end + 1].isdigit() or text[end + 1] in "+-")):
            break
        end += 1
    return text[:end]


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(token: Token) -> str:
    body = str(token)[1:-1]
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)
