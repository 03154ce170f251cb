"""The canonical printer: graph IR → ``.seg`` text.

The output is flat (one layer per statement, named by its full name, which
the naming rules give back unchanged: a statement ``stem.conv = image ->
conv(64, k=7, stride=2)`` makes exactly one layer, so the layer takes the
statement's name), self-contained (the target and the prune, deform and quantize
directives are printed too) and deterministic.  Attributes equal to their defaults are left
out.  Parsing the text again gives the same graph.
"""

from __future__ import annotations

import dataclasses
import re

from ..ir import NAME_RE, OPS, TARGET_FIELDS, Graph, Node, PruneDirectives, Target, check_names
from ..ir.directives import DeformDirectives
from ..ir.quant import quantize_rules
from ..ir.target import packing_to_dict
from .units import format_base

__all__ = ["format_float", "format_pattern", "format_string", "format_value", "print_graph", "print_target"]

INDENT = "    "
KEYWORDS = frozenset(("import", "block", "return", "network", "on", "input", "output", "target", "prune", "keep",
                      "deform", "quantize", "as", "and", "or", "not", "if", "else", "for", "in", "true", "false"))
_PATTERN = re.compile(r"[A-Za-z0-9_.*?\[\]!]*[*?\[][A-Za-z0-9_.*?\[\]!]*")


def format_float(value: float) -> str:
    """Shortest text that reads back as the same float (``1e-5``, ``0.5``)."""
    text = repr(float(value))
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def format_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _format_number(value: float) -> str:
    return str(int(value)) if value == int(value) else format_float(value)


def format_value(value: object) -> str:
    """An attribute value as ``.seg`` text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return format_string(value)
    if isinstance(value, float):
        return _format_number(value)
    if isinstance(value, tuple):
        if len(value) == 2 and value[0] == value[1]:
            return format_value(value[0])
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def _call(node: Node, first: str | None) -> str:
    """``op(args)`` for a node; ``first`` operand omitted when chained."""
    opdef = OPS[node.op]
    operands = list(node.inputs[1:] if first else node.inputs)
    keyword_operands = {}
    if opdef.operand_keywords:
        plain = opdef.inputs[0] - (1 if first else 0)
        keyword_operands = dict(zip(opdef.operand_keywords, operands[plain:]))
        operands = operands[:plain]
    args = list(operands)
    for attr in opdef.attrs:
        value = node.attrs[attr.name]
        if attr.name in opdef.positional and attr.required:
            args.append(format_value(value))
        elif value != attr.default:
            args.append(f"{attr.name}={format_value(value)}")
    args += [f"{k}={v}" for k, v in keyword_operands.items()]
    call = f"{node.op}({', '.join(args)})" if args else node.op
    return f"{first} -> {call}" if first else call


def _statement(node: Node) -> str:
    if node.op == "input":
        a = node.attrs
        return f"input {node.name}: [{a['c']}, {a['h']}, {a['w']}]"
    if node.op == "output":
        name, source = node.output_name, node.inputs[0]
        return f"output {name}" if name == source else f"output {name} = {source}"
    chained = node.inputs[0] if node.inputs and OPS[node.op].inputs[1] != 0 else None
    if node.op in ("add", "concat"):
        chained = None
    return f"{node.name} = {_call(node, chained)}"


def _target_value(spec, value) -> str:
    """A target field's value as ``.seg`` text."""
    if spec.kind == "unroll":
        keys = ("pif", "pof", "pkx", "pky") if value.pky != 1 else ("pif", "pof", "pkx")
        return "{" + ", ".join(f"{k}: {getattr(value, k)}" for k in keys) + "}"
    if spec.kind == "record":
        members = [(m, getattr(value, m.attr)) for m in spec.members if getattr(value, m.attr) is not None]
        return "{" + ", ".join(f"{m.name}: {_target_value(m, v)}" for m, v in members) + "}"
    if spec.kind == "packing":
        return "{" + ", ".join(f"{k}: {v}" for k, v in packing_to_dict(value).items()) + "}"
    if spec.kind == "string":
        return format_string(value)
    if spec.kind == "count":
        return str(value)
    if spec.kind == "number":
        return format_float(value)
    return format_base(value, spec.kind)


def print_target(target: Target) -> str:
    """The target's definition; optional fields at their defaults are left out."""
    defaults = {f.name: f.default for f in dataclasses.fields(Target)}
    lines = [f"target {target.name} {{"]
    present = [s for s in TARGET_FIELDS.values()
               if getattr(target, s.attr) not in (None, "") and getattr(target, s.attr) != defaults[s.attr]]
    width = max(len(spec.name) for spec in present)
    for spec in present:
        lines.append(f"{INDENT}{spec.name.ljust(width)} = {_target_value(spec, getattr(target, spec.attr))}")
    return "\n".join([*lines, "}"])


def format_pattern(text: str) -> str:
    """A layer-name pattern, quoted only when it must be (keywords too)."""
    if text in KEYWORDS:
        return format_string(text)
    return text if NAME_RE.fullmatch(text) or _PATTERN.fullmatch(text) else format_string(text)


def _print_prune(name: str, prune: PruneDirectives) -> str:
    lines = [f"prune {name} {{"]
    lines += [f"{INDENT}{format_pattern(r.pattern)}: {format_float(r.rate)}" for r in prune.rules]
    if prune.keep:
        lines.append(f"{INDENT}keep " + ", ".join(format_pattern(k.pattern) for k in prune.keep))
    return "\n".join([*lines, "}"])


def _print_deform(name: str, deform: DeformDirectives) -> str:
    return _print_rules(f"deform {name}", deform.rules)


def _print_rules(header: str, rules) -> str:
    lines = [f"{header} {{"]
    for rule in rules:
        options = ", ".join(f"{key}={format_value(value) if isinstance(value, bool) else value}"
                            for key, value in rule.options)
        lines.append(f"{INDENT}{format_pattern(rule.pattern)}: {options}")
    return "\n".join([*lines, "}"])


def print_graph(graph: Graph) -> str:
    """The whole graph as one self-contained ``.seg`` text (names must be
    valid: ``.seg`` has no quoting for them)."""
    check_names(graph)
    parts = []
    if graph.target is not None:
        parts.append(print_target(graph.target))
    on = f" on {graph.target.name}" if graph.target is not None else ""
    body = [f"{INDENT}{_statement(node)}" for node in graph.nodes()]
    parts.append("\n".join([f"network {graph.name}{on} {{", *body, "}"]))
    if graph.directives.prune is not None:
        parts.append(_print_prune(graph.name, graph.directives.prune))
    if graph.directives.deform is not None:
        parts.append(_print_deform(graph.name, graph.directives.deform))
    quantize = quantize_rules(graph)
    if quantize:
        parts.append(_print_rules(f"quantize {graph.name}", quantize))
    return "\n\n".join(parts) + "\n"

