"""Calls: ``f(args)`` and ``x -> f(args)`` (where ``x`` is the first
argument).  ``f`` is a built-in function, an op of the op table, or a block.

Op calls: leading tensor arguments are the operands; the values after them
fill the op's positional attributes (``conv(x, 64)`` sets ``out``); the rest
go by keyword.  Block calls bind parameters by position and keyword, evaluate
defaults in order (a default may use earlier parameters), and open a naming
scope (see ``naming.py``).
"""

from __future__ import annotations

from ..ir import OPS, AttrError, Note, OpDef, SegError, ShapeError, Span
from . import ast
from .builtins import BUILTINS, BuiltinError
from .evaluate import Env, ExprEvaluator
from .naming import Pending, Scope
from .op_names import unknown_call_message
from .split import SPLIT, split_call
from .values import POISON, Tensor, is_poison, type_name

__all__ = ["CallEvaluator", "LargeNetwork"]

MAX_LAYERS = 250_000
MAX_DEPTH = 64

Arg = tuple[object, Span]


class LargeNetwork(Exception):
    """Internal: the network reached ``count_from`` layers and nothing was
    set to count them (``on_count_from``)."""


def _positional_message(opdef: OpDef) -> str:
    if not opdef.attrs:
        return f"{opdef.name} takes no attributes"
    if not opdef.positional:
        return f"{opdef.name} takes its attributes by name ({', '.join(a.name for a in opdef.attrs)})"
    example = next((a.name for a in opdef.attrs if a.name not in opdef.positional), None)
    hint = f", e.g. {example}={3 if example == 'k' else '...'}" if example else ""
    return (f"{opdef.name} takes {len(opdef.positional)} attribute by position ({', '.join(opdef.positional)}); "
            f"give the others by name{hint}")


def _built_key(opdef: OpDef, given: dict, inputs: list) -> tuple | None:
    """What an op's attributes and shape depend on, when every value is an
    int, a string or a tuple of ints (no boolean or float, which would equal
    an int: ``true == 1``); None: build them afresh.  Layers alike share one
    attributes dict (never changed once built)."""
    for value in given.values():
        kind = type(value)
        if not (kind is int or kind is str or (kind is tuple and all(type(v) is int for v in value))):
            return None
    return opdef.name, tuple(given.items()), tuple(inputs)


class CallEvaluator(ExprEvaluator):
    """Expressions plus calls; builds the pending layers and naming scopes."""

    def __init__(self, blocks: dict[str, ast.BlockDef]):
        super().__init__()
        self.blocks = blocks
        self.pending: list[Pending] = []
        self.scopes: list[Scope] = []
        self.traces: list[tuple[Span, ...]] = [()]  # the call sites of each open block call, outermost first
        self._built: dict[tuple, tuple[dict, object]] = {}  # (op, attribute values, input shapes) -> (attrs, shape)
        self.count_from: int | None = None  # call on_count_from on reaching this many layers
        self.on_count_from = None  # checks the whole network's size (counted) before the build goes on

    # ---------------------------------------------------------- arguments
    def _arguments(self, call: ast.Call, env: Env, first: Arg | None) -> tuple[list[Arg], dict[str, Arg]]:
        positional: list[Arg] = [first] if first else []
        keywords: dict[str, Arg] = {}
        for arg in call.args:
            value = self.eval(arg.value, env)  # type: ignore[arg-type]
            if arg.spread:
                if not isinstance(value, tuple) and not is_poison(value):
                    raise self.error(f"'*' needs a list, got {type_name(value)}", arg.span)
                positional.extend((item, arg.span) for item in (value if isinstance(value, tuple) else (value,)))
            elif arg.name is not None:
                if arg.name in keywords:
                    raise self.error(f"argument '{arg.name}' is given twice", arg.span)
                keywords[arg.name] = (value, arg.span)
            else:
                positional.append((value, arg.span))
        return positional, keywords

    def call(self, call: ast.Call, env: Env, first: Arg | None = None) -> object:
        positional, keywords = self._arguments(call, env, first)
        for value, _ in (*positional, *keywords.values()):
            if is_poison(value):
                return POISON
        if call.func in BUILTINS:
            return self._builtin(call, positional, keywords)
        if call.func in OPS:
            return self._op(call, OPS[call.func], positional, keywords)
        if call.func == SPLIT:
            return split_call(self, call, positional, keywords)
        if call.func in self.blocks:
            return self._block(call, self.blocks[call.func], positional, keywords)
        known = set(OPS) | set(self.blocks) | set(BUILTINS) | {SPLIT}
        raise self.error(unknown_call_message(call.func, known), call.func_span)

    # ---------------------------------------------------------- built-ins
    def _builtin(self, call: ast.Call, positional: list[Arg], keywords: dict[str, Arg]) -> object:
        if call.alias:
            raise self.error(f"'as' names layers, and {call.func}() makes none", call.alias_span)
        if keywords:
            _, span = next(iter(keywords.values()))
            raise self.error(f"{call.func}() takes no keyword arguments", span)
        try:
            return BUILTINS[call.func](*(v for v, _ in positional))
        except BuiltinError as err:
            span = positional[err.arg][1] if err.arg is not None and err.arg < len(positional) else call.span
            raise self.error(str(err), span) from None

    # ---------------------------------------------------------- ops
    def _op(self, call: ast.Call, opdef: OpDef, positional: list[Arg], keywords: dict[str, Arg]) -> object:
        if opdef.name in ("input", "output"):
            form = "input NAME: [C, H, W]" if opdef.name == "input" else "output NAME = value"
            raise self.error(f"'{opdef.name}' is a statement ({form}), not an op to call", call.func_span)
        operands, given, spans = self._op_arguments(call, opdef, positional, keywords)
        if not opdef.accepts(len(operands)):
            got = len(operands)
            raise self.error(f"{opdef.name} takes {opdef.arity_text()}, got {got} tensor{'s' * (got != 1)}", call.span)
        inputs = [t.shape for t in operands]
        key = _built_key(opdef, given, inputs)
        built = self._built.get(key) if key is not None else None
        if built is None:
            built = self._build(call, opdef, given, spans, inputs)
            if key is not None:
                self._built[key] = built
        return self.add_layer(opdef.name, operands, built[0], built[1], call.span, call.alias, call.alias_span)

    def _build(self, call: ast.Call, opdef: OpDef, given: dict, spans: dict, inputs: list) -> tuple[dict, object]:
        """A layer's canonical attributes and output shape."""
        try:
            attrs = opdef.build_attrs(given)
        except AttrError as err:
            raise self.error(str(err), spans.get(err.attr or "", call.span)) from None
        try:
            return attrs, opdef.shape(attrs, inputs)
        except ShapeError as err:
            raise self.error(str(err), call.span) from None

    def _op_arguments(self, call: ast.Call, opdef: OpDef, positional: list[Arg], keywords: dict[str, Arg]):
        count = 0
        while count < len(positional) and isinstance(positional[count][0], Tensor):
            count += 1
        operands = [v for v, _ in positional[:count]]
        rest = positional[count:]
        if count == 0 and opdef.inputs[0] > 0 and rest:
            raise self.error(f"{opdef.name} needs a tensor as its first argument, got {type_name(rest[0][0])}",
                             rest[0][1])
        for value, span in rest:
            if isinstance(value, Tensor):
                raise self.error(f"{opdef.name}: tensor operands must come before other arguments", span)
        if len(rest) > len(opdef.positional):
            raise self.error(_positional_message(opdef), rest[len(opdef.positional)][1])
        given = {name: value for name, (value, _) in zip(opdef.positional, rest)}
        spans = {name: span for name, (_, span) in zip(opdef.positional, rest)}
        for name, (value, span) in keywords.items():
            if name in opdef.operand_keywords:
                if not isinstance(value, Tensor):
                    raise self.error(f"'{name}' must be a tensor, got {type_name(value)}", span)
                operands.append(value)
                continue
            if name in given:
                raise self.error(f"'{name}' is given both by position and by name", span)
            if isinstance(value, Tensor):
                raise self.error(f"'{name}' must not be a tensor", span)
            given[name], spans[name] = value, span
        return operands, given, spans

    def add_layer(
        self, op: str, operands: list, attrs: dict, shape, span: Span, name: str | None = None,
        name_span: Span | None = None,
    ) -> Tensor:
        """Record a layer in the current scope; ``name`` is an explicit name."""
        if len(self.pending) == self.count_from:
            self.count_from = None
            if self.on_count_from is None:
                raise LargeNetwork
            self.on_count_from()
        if len(self.pending) >= MAX_LAYERS:
            raise self.error(f"the network would have more than {MAX_LAYERS:,} layers", span)
        layer = Pending(len(self.pending), op, tuple(t.id for t in operands), attrs, shape, span, self.traces[-1], name,
                        name_span)
        self.pending.append(layer)
        self.scopes[-1].children.append(layer)
        return Tensor(layer.id, shape)

    # ---------------------------------------------------------- blocks
    def _block(self, call: ast.Call, block: ast.BlockDef, positional: list[Arg], keywords: dict[str, Arg]) -> object:
        active = [name for name, _ in self.call_stack]
        if block.name in active:
            cycle = " → ".join([*active[active.index(block.name):], block.name])
            raise self.error(f"block '{block.name}' calls itself ({cycle})", call.func_span)
        if len(self.call_stack) >= MAX_DEPTH:
            raise self.error(f"blocks are nested more than {MAX_DEPTH} deep", call.span)
        bound = self._bind(call, block, positional, keywords)
        scope = Scope(explicit=call.alias, span=call.span, explicit_span=call.alias_span)
        self.scopes[-1].children.append(scope)
        self.scopes.append(scope)
        self.call_stack.append((block.name, call.span))
        self.traces.append((*self.traces[-1], call.span))
        try:
            return self._block_body(call, block, bound)
        finally:
            self.traces.pop()
            self.call_stack.pop()
            self.scopes.pop()

    def _bind(self, call: ast.Call, block: ast.BlockDef, positional: list[Arg], keywords: dict[str, Arg]):
        params = [p.name for p in block.params]
        if len(positional) > len(params):
            raise self.error(
                f"block '{block.name}' takes {len(params)} argument(s), got {len(positional)}",
                positional[len(params)][1],
            )
        bound = {name: value for name, (value, _) in zip(params, positional)}
        for name, (value, span) in keywords.items():
            if name not in params:
                raise self.error(
                    f"block '{block.name}' has no parameter '{name}' (it has: {', '.join(params)})", span
                )
            if name in bound:
                raise self.error(f"argument '{name}' is given twice", span)
            bound[name] = value
        for param in block.params:
            if param.name not in bound and param.default is None:
                raise self.error(f"block '{block.name}' needs argument '{param.name}'", call.span)
        return bound

    def _block_body(self, call: ast.Call, block: ast.BlockDef, bound: dict[str, object]) -> object:
        env = Env()
        for param in block.params:
            if param.name in bound:
                env.define(param.name, bound[param.name], param.span)
            else:
                env.define(param.name, self.eval(param.default, env), param.span)  # type: ignore[arg-type]
        for stmt in block.body:
            self.assign(stmt, env, local=True)
        return self.guarded(block.ret.value, env)  # type: ignore[union-attr, arg-type]

    def redefined(self, name: str, span: Span, env: Env) -> bool:
        """Record an error if ``name`` is bound already (names are bound once)."""
        if name not in env.vars:
            return False
        err = self.error(f"'{name}' is already defined", span)
        diag = err.diagnostics[0].with_notes(Note("first defined here", env.spans[name]))
        self.record(SegError(diag))
        return True

    def assign(self, stmt: ast.Assign, env: Env, local: bool) -> None:
        """``name = value``; names are bound once."""
        if local and "." in stmt.target:
            self.record(self.error("a name inside a block cannot contain '.'", stmt.target_span))
        if self.redefined(stmt.target, stmt.target_span, env):
            return
        env.define(stmt.target, self.guarded(stmt.value, env), stmt.target_span)  # type: ignore[arg-type]
