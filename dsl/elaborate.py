"""Elaboration: a ``network`` definition → a flat :class:`~segc.ir.Graph`.

Statements run in order: ``input NAME: [C, H, W]`` declares an input,
``NAME = value`` evaluates an expression in a naming scope ``NAME`` and
binds it, ``output NAME [= value]`` marks a tensor as an output (layer
``output.NAME``; output names have a namespace of their own, and the
layers a value makes are named in scope ``NAME``).  Blocks are expanded as they are called, shapes inferred
as layers are made, names given afterwards (``naming.py``).  Layers no
output depends on are left out, with a warning.  Errors are collected and
reported together.
"""

from __future__ import annotations

import contextlib

from ..ir import OPS, OUTPUT_PREFIX, Diagnostic, Directives, Graph, Node, SegError, Shape, Target, shown
from ..ir.limits import size_problems
from . import ast
from .calls import CallEvaluator
from .deform import check_deform, lower_deform
from .depth import deep_recursion, no_gc_pauses
from .evaluate import Env, ExprEvaluator, suggestion
from .layercount import COUNT_FROM, CapReached, CountingEvaluator, cap_error
from .loader import Program
from .naming import Pending, Scope, assign_names
from .prune import lower_prune
from .quantize import lower_quantize
from .targets import lower_target
from .unused import unused_block_warnings, unused_target_errors
from .values import POISON, Tensor, is_poison, type_name

__all__ = ["choose_network", "elaborate", "named_target"]


def choose_network(program: Program, name: str | None) -> str:
    """The network to build: the one named, or the file's only one."""
    path = program.root.source.path
    if name is not None:
        if name not in program.networks:
            known = ", ".join(sorted(program.networks)) or "none"
            raise SegError(Diagnostic(f"no network {shown(name)} in {path} (it defines: {known})"))
        return name
    candidates = program.root_networks() or sorted(program.networks)
    if not candidates:
        raise SegError(Diagnostic(f"{path} defines no network"))
    if len(candidates) > 1:
        names = ", ".join(candidates)
        raise SegError(Diagnostic(f"{path} defines several networks ({names}); choose one with --network"))
    return candidates[0]


def elaborate(program: Program, network: str | None = None, warnings: list[Diagnostic] | None = None) -> Graph:
    """Build, verify and return the graph of one network of a program (the
    garbage collector paused meanwhile)."""
    with no_gc_pauses():
        return _elaborate(program, network, warnings)


def _elaborate(program: Program, network: str | None, warnings: list[Diagnostic] | None) -> Graph:
    definition = program.networks[choose_network(program, network)]
    errors: list[Diagnostic] = []
    try:
        target = _target(program, definition)
    except SegError as err:  # keep going: report the network's mistakes too
        target, errors = None, err.diagnostics
    errors += unused_target_errors(program, definition.target)
    if warnings is not None:
        warnings += unused_block_warnings(program)
    evaluator = CallEvaluator(program.blocks)
    evaluator.on_count_from = lambda: _count_layers(program, definition)  # then the build goes on
    builder = _NetworkBuilder(program, definition, evaluator, count_from=COUNT_FROM)
    try:
        with deep_recursion():
            builder.run(errors)
    except CapReached as reached:
        raise cap_error(reached.span) from None
    graph = builder.graph(target, warnings if warnings is not None else [])
    prune, deform = program.prunes.get(definition.name), program.deforms.get(definition.name)
    if prune is not None or deform is not None:
        too_large = size_problems(graph)  # before anything computes in proportion to a tensor's size
        if too_large:
            raise SegError(too_large)
        graph.directives = Directives(prune=lower_prune(prune, graph) if prune is not None else None,
                                      deform=lower_deform(deform, graph) if deform is not None else None)
        check_deform(graph)
    quantize = program.quantizes.get(definition.name)
    if quantize is not None:
        lower_quantize(quantize, graph)
    graph.verify(rederive=False)  # the builder derived every attribute and shape (SEGC_VERIFY=all: again)
    return graph


def _target(program: Program, definition: ast.NetworkDef) -> Target | None:
    if definition.target is None:
        return None
    return named_target(program, definition.target, definition.target_span)


def named_target(program: Program, name: str | None = None, span=None) -> Target:
    """A target the program defines: the one named, or its only one."""
    if name is None:
        if len(program.targets) != 1:
            known = ", ".join(sorted(program.targets)) or "none"
            path = program.root.source.path
            raise SegError(Diagnostic(f"{path} must define exactly one target to use it so (it defines: {known})"))
        name = next(iter(program.targets))
    target_def = program.targets.get(name)
    if target_def is None:
        raise SegError(_unknown_target(program, name, span))
    return lower_target(target_def, ExprEvaluator())


def _unknown_target(program: Program, name: str, span) -> Diagnostic:
    """A name in the source is located by its span; one from the command
    line (``--target``) by the file it was looked up in."""
    hint = suggestion(name, program.targets)
    if span is not None and hint:
        return Diagnostic(f"unknown target {shown(name)}{hint}", span)
    where = "" if span is not None else f" in {program.root.source.path}"
    known = ", ".join(shown(t) for t in sorted(program.targets)) or "none"
    return Diagnostic(f"unknown target {shown(name)}{where}{hint} (it defines or imports: {known})", span)


def _count_layers(program: Program, definition: ast.NetworkDef) -> None:
    """CapReached if the network has more layers than the cap (counted, not
    built: a build that reaches COUNT_FROM layers stops to count them once,
    then goes on)."""
    builder = _NetworkBuilder(program, definition, CountingEvaluator(program.blocks))
    with contextlib.suppress(SegError):  # the real build reports it
        builder.run([])


class _NetworkBuilder:
    def __init__(self, program: Program, definition: ast.NetworkDef, evaluator: CallEvaluator,
                 count_from: int | None = None):
        self.definition = definition
        self.ev = evaluator
        self.ev.count_from = count_from
        self.root = Scope(explicit=None, span=definition.span, is_root=True)
        self.ev.scopes.append(self.root)
        self.env = Env()
        self.outputs: list[Pending] = []
        self.statement_scopes: list[tuple[Scope, ast.Assign | ast.OutputDecl]] = []

    def run(self, earlier: list[Diagnostic]) -> None:
        """Evaluate every statement; raise all errors (``earlier`` first)."""
        for stmt in self.definition.body:
            if isinstance(stmt, ast.InputDecl):
                self._input(stmt)
            elif isinstance(stmt, ast.Assign):
                if self._check_name(stmt.target, stmt.target_span):
                    value = self._scoped(stmt, stmt.target, stmt.target_span, stmt.value)
                    self.env.define(stmt.target, value, stmt.target_span)
            else:
                self._output(stmt)
        name, span = self.definition.name, self.definition.name_span
        body = self.definition.body
        if not any(isinstance(s, ast.InputDecl) for s in body):
            self.ev.record(SegError(f"network '{name}' has no input", span))
        if not any(isinstance(s, ast.OutputDecl) for s in body):
            self.ev.record(SegError(f"network '{name}' has no output", span))
        if earlier or self.ev.errors:
            raise SegError(earlier + self.ev.errors)

    def _check_name(self, name: str, span) -> bool:
        if name.split(".")[0] == "output":
            self.ev.record(SegError("names starting with 'output.' are reserved for outputs", span))
            return False
        return not self.ev.redefined(name, span, self.env)

    def _input(self, stmt: ast.InputDecl) -> None:
        if not self._check_name(stmt.name, stmt.name_span):
            return
        dims = [self.ev.guarded(d, self.env) for d in stmt.dims]
        for dim, expr in zip(dims, stmt.dims):
            if not is_poison(dim) and (isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim < 2**31):
                what = dim if isinstance(dim, int) and not isinstance(dim, bool) else type_name(dim)
                if isinstance(dim, float) and dim.is_integer():
                    what = f"{dim} (use // for integer division)"
                self.ev.record(self.ev.error(f"an input size must be a positive integer, got {what}", expr.span))
                dims = [POISON]
        if any(is_poison(d) for d in dims):
            self.env.define(stmt.name, POISON, stmt.name_span)
            return
        c, h, w = dims
        attrs = OPS["input"].build_attrs({"c": c, "h": h, "w": w})
        tensor = self.ev.add_layer("input", [], attrs, Shape(c, h, w), stmt.span, stmt.name, stmt.name_span)
        self.env.define(stmt.name, tensor, stmt.name_span)

    def _scoped(self, stmt, name: str, span, value: ast.Expr) -> object:
        """Evaluate a network-level statement's value in scope ``name``."""
        scope = Scope(explicit=name, span=stmt.span, explicit_span=span)
        self.root.children.append(scope)
        self.statement_scopes.append((scope, stmt))
        self.ev.scopes.append(scope)
        try:
            result = self.ev.guarded(value, self.env)
        finally:
            self.ev.scopes.pop()
        return result

    def _output(self, stmt: ast.OutputDecl) -> None:
        if stmt.value is None:
            value = self.ev.guarded(ast.Var(name=stmt.name, span=stmt.name_span), self.env)
        else:
            value = self._scoped(stmt, stmt.name, stmt.name_span, stmt.value)
        if any(p.explicit == OUTPUT_PREFIX + stmt.name for p in self.outputs):
            self.ev.record(SegError(f"output '{stmt.name}' is declared twice", stmt.name_span))
            return
        if is_poison(value):
            return
        if not isinstance(value, Tensor):
            self.ev.record(SegError(f"output '{stmt.name}' must be a tensor, got {type_name(value)}", stmt.span))
            return
        layer = self.ev.add_layer("output", [value], {}, value.shape, stmt.span, OUTPUT_PREFIX + stmt.name,
                                  stmt.name_span)
        if layer.id >= 0:  # not counting
            self.outputs.append(self.ev.pending[layer.id])

    # ---------------------------------------------------------- the graph
    def _live(self) -> set[int]:
        live = {p.id for p in self.outputs}
        for layer in reversed(self.ev.pending):
            if layer.id in live:
                live.update(layer.inputs)
        return live

    def _warn_dead(self, live: set[int], warnings: list[Diagnostic]) -> None:
        for layer in self.ev.pending:
            if layer.op == "input" and layer.id not in live:
                warnings.append(Diagnostic(f"input '{layer.explicit}' is not used", layer.explicit_span,
                                           severity="warning"))
        for scope, stmt in self.statement_scopes:
            ids = _layer_ids(scope)
            dead = [i for i in ids if i not in live]
            if not dead:
                continue
            name = stmt.target if isinstance(stmt, ast.Assign) else stmt.name
            message = (f"'{name}' is not used by any output; it is left out" if len(dead) == len(ids) else
                       f"{len(dead)} of the layers made by '{name}' do not reach any output; they are left out")
            span = stmt.target_span if isinstance(stmt, ast.Assign) else stmt.name_span
            warnings.append(Diagnostic(message, span, severity="warning"))

    def graph(self, target: Target | None, warnings: list[Diagnostic]) -> Graph:
        names = assign_names(self.root)
        live = self._live()
        self._warn_dead(live, warnings)
        graph = Graph(self.definition.name, target)
        for layer in self.ev.pending:
            if layer.id in live:
                graph.add(Node(
                    names[layer.id], layer.op, tuple(names[i] for i in layer.inputs), layer.attrs,
                    layer.shape, layer.span, layer.trace,  # type: ignore[arg-type]
                ))
        return graph


def _layer_ids(scope: Scope) -> list[int]:
    ids = []
    for child in scope.children:
        ids.extend(_layer_ids(child) if isinstance(child, Scope) else [child.id])
    return ids
