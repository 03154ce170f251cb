"""JSON form of a graph, its target and its directives (``segc.graph``,
version 1).  Reading it back re-validates everything (attributes against
the op table, shapes against the shape rules, the target's ranges), so a
hand-edited file gets precise errors, not a broken graph."""

from __future__ import annotations

import json
import math
from typing import Any

from .attrs import AttrError
from .diagnostics import Diagnostic, SegError
from .directives import DeformDirectives, DeformRule, Directives, KeepRule, PruneDirectives, PruneRule
from .graph import Graph, Node
from .names import name_problem
from .ops import OPS
from .quant import WEIGHTED_OPS, LayerQuant, option_problem
from .record import plain
from .shapes import ShapeError
from .target import TARGET_FIELDS, UNROLL_KEYS, Target, Unroll, packing_from_dict, packing_to_dict, target_problems

__all__ = ["FORMAT", "VERSION", "decode_json", "graph_from_json", "graph_to_json", "target_from_json", "target_to_json"]

FORMAT, VERSION = "segc.graph", 1


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def target_to_json(target: Target) -> dict:
    data: dict[str, Any] = {"name": target.name}
    for spec in TARGET_FIELDS.values():
        value = getattr(target, spec.attr)
        if isinstance(value, Unroll):
            value = {k: getattr(value, k) for k in UNROLL_KEYS}
        elif spec.kind == "record" and value is not None:
            value = {m.attr: getattr(value, m.attr) for m in spec.members}
        elif spec.kind == "packing" and value is not None:
            value = packing_to_dict(value)
        data[spec.attr] = value
    return data


def _prune_to_json(prune: PruneDirectives) -> dict:
    return {"rules": [{"pattern": r.pattern, "rate": r.rate} for r in prune.rules],
            "keep": [k.pattern for k in prune.keep]}


def _deform_to_json(deform: DeformDirectives) -> dict:
    return {"rules": [{"pattern": r.pattern, **dict(r.options)} for r in deform.rules]}


def _deform_option_ok(key: str, value: Any) -> bool:
    if key == "bound":
        return value in ("auto", "none") or (type(value) is int and value >= 0)
    if key == "shape":
        return value in ("full", "square")
    return key == "round" and isinstance(value, bool)


def _deform_from_json(reader: _Reader, data: Any) -> DeformDirectives:
    where = "directives.deform"
    rules = []
    for i, rule in enumerate(reader.get(data, "rules", list, where)):
        pattern = reader.get(rule, "pattern", str, f"{where}.rules[{i}]")
        options = tuple((k, v) for k, v in rule.items() if k != "pattern")
        for key, value in options:
            if not _deform_option_ok(key, value):
                raise reader.fail(f"{where}.rules[{i}].{key}", f"not a deform option value: {json.dumps(value)[:40]} "
                                  "(bound: an integer >= 0, auto or none; shape: full or square; round: a bool)")
        rules.append(DeformRule(pattern, options))
    return DeformDirectives(tuple(rules))


def graph_to_json(graph: Graph) -> dict:
    """A JSON-ready dict; ``json.dumps`` of it is deterministic."""
    nodes = []
    for node in graph.nodes():
        entry = {"name": node.name, "op": node.op, "inputs": list(node.inputs),
                 "attrs": {k: _jsonable(v) for k, v in node.attrs.items()}, "shape": list(node.shape)}
        if node.quant is not None:
            entry["quant"] = node.quant.to_json()
        if node.annotations:
            entry["annotations"] = {key: plain(value) for key, value in node.annotations.items()}
        nodes.append(entry)
    prune, deform = graph.directives.prune, graph.directives.deform
    directives: dict[str, Any] = {"prune": None if prune is None else _prune_to_json(prune)}
    if deform is not None:
        directives["deform"] = _deform_to_json(deform)
    return {
        "format": FORMAT, "version": VERSION, "name": graph.name,
        "target": None if graph.target is None else target_to_json(graph.target),
        "directives": directives, "nodes": nodes,
    }


def dumps(graph: Graph) -> str:
    return json.dumps(graph_to_json(graph), indent=1, allow_nan=False) + "\n"


# ------------------------------------------------------------------ reading
class _Reader:
    def __init__(self, path: str):
        self.path = path

    def fail(self, where: str, message: str) -> SegError:
        return SegError(Diagnostic(f"{where}: {message}", path=self.path))

    def name(self, data: Any, kind: str, where: str) -> str:
        """``data["name"]``, a valid ``kind`` name (see ``names``)."""
        name = self.get(data, "name", str, where)
        problem = name_problem(name, kind)
        if problem:
            raise self.fail(f"{where}.name", problem)
        return name

    def get(self, data: Any, key: str, kind: type | tuple, where: str) -> Any:
        if not isinstance(data, dict) or key not in data:
            raise self.fail(where, f"missing '{key}'")
        value = data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool and bool not in _tuple(kind)):
            raise self.fail(f"{where}.{key}", f"expected {_kind_name(kind)}, got {json.dumps(value)[:40]}")
        return value


def _tuple(kind: type | tuple) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple) -> str:
    names = {str: "a string", int: "an integer", float: "a number", dict: "an object", list: "a list",
             bool: "true or false", type(None): "null"}
    return " or ".join(names[k] for k in _tuple(kind))


def target_from_json(data: Any, path: str = "<json>", where: str = "target") -> Target:
    reader = _Reader(path)
    values: dict[str, Any] = {"name": reader.name(data, "target", where)}
    for spec in TARGET_FIELDS.values():
        if spec.attr not in data or data[spec.attr] is None:
            if spec.required:
                raise reader.fail(where, f"missing '{spec.attr}'")
            continue
        values[spec.attr] = _field_from_json(reader, data, spec, f"{where}.{spec.attr}")
    target = Target(**values)
    for field, message in target_problems(target):
        raise reader.fail(f"{where}.{field}", message)
    return target


def _field_from_json(reader: _Reader, data: Any, spec: Any, key: str) -> Any:
    """One target field (``data[spec.attr]``), checked against its spec."""
    value = data[spec.attr]
    if spec.kind == "unroll":
        factors = {k: reader.get(value, k, int, key) for k in UNROLL_KEYS}
        for k, factor in factors.items():
            if not spec.minimum <= factor <= spec.maximum:
                raise reader.fail(f"{key}.{k}", f"{factor} is out of range [{spec.minimum:g}, {spec.maximum:g}]")
        return Unroll(**factors)
    if spec.kind == "record":
        reader.get(data, spec.attr, dict, key.rpartition(".")[0])
        missing = [m.attr for m in spec.members if m.required and value.get(m.attr) is None]
        if missing:
            raise reader.fail(key, f"missing '{missing[0]}'")
        members = {m.attr: _field_from_json(reader, value, m, f"{key}.{m.attr}") for m in spec.members
                   if value.get(m.attr) is not None or m.required}
        return spec.record(**members)
    if spec.kind == "packing":
        try:
            return packing_from_dict(value, spec.attr)
        except ValueError as err:
            raise reader.fail(key, str(err)) from None
    if spec.kind == "string":
        return reader.get(data, spec.attr, str, key.rpartition(".")[0])
    number = reader.get(data, spec.attr, (int, float), key.rpartition(".")[0])
    if not (spec.minimum <= number <= spec.maximum) or not math.isfinite(number):
        raise reader.fail(key, f"{number} is out of range [{spec.minimum:g}, {spec.maximum:g}]")
    if spec.kind in ("size", "count") and number != int(number):
        raise reader.fail(key, f"expected an integer, got {number}")
    return int(number) if spec.kind in ("size", "count") else float(number)


def _prune_from_json(reader: _Reader, data: Any) -> PruneDirectives:
    where = "directives.prune"
    rules = []
    for i, rule in enumerate(reader.get(data, "rules", list, where)):
        rate = reader.get(rule, "rate", (int, float), f"{where}.rules[{i}]")
        if not 0 <= rate < 1:
            raise reader.fail(f"{where}.rules[{i}].rate", f"must be at least 0 and below 1, got {rate}")
        rules.append(PruneRule(reader.get(rule, "pattern", str, f"{where}.rules[{i}]"), float(rate)))
    keep = [KeepRule(reader.get({"keep": k}, "keep", str, f"{where}.keep[{i}]"))
            for i, k in enumerate(reader.get(data, "keep", list, where))]
    return PruneDirectives(tuple(rules), tuple(keep))


def _node_from_json(reader: _Reader, graph: Graph, data: Any, where: str) -> Node:
    name = reader.name(data, "layer", where)
    where = f"{where} ('{name}')"
    op = reader.get(data, "op", str, where)
    if op not in OPS:
        raise reader.fail(where, f"unknown op '{op}'")
    inputs = tuple(reader.get(data, "inputs", list, where))
    missing = [i for i in inputs if not isinstance(i, str) or i not in graph]
    if missing:
        raise reader.fail(where, f"reads {missing[0]!r}, which is not defined before it")
    if not OPS[op].accepts(len(inputs)):
        raise reader.fail(where, f"{op} takes {OPS[op].arity_text()}, got {len(inputs)}")
    try:
        attrs = OPS[op].build_attrs(reader.get(data, "attrs", dict, where))
        shape = OPS[op].shape(attrs, [graph.node(i).shape for i in inputs])
    except (AttrError, ShapeError) as err:
        raise reader.fail(where, str(err)) from None
    stored = reader.get(data, "shape", list, where)
    if list(shape) != stored:
        raise reader.fail(where, f"shape {stored} differs from the inferred {list(shape)}")
    annotations = reader.get(data, "annotations", dict, where) if "annotations" in data else {}
    quant = _quant_from_json(reader, data["quant"], op, f"{where}.quant") if "quant" in data else None
    return Node(name, op, inputs, attrs, shape, annotations=annotations, quant=quant)


def _quant_from_json(reader: _Reader, data: Any, op: str, where: str) -> LayerQuant:
    scheme = reader.get(data, "scheme", str, where)
    if scheme not in ("fixed", "int"):
        raise reader.fail(f"{where}.scheme", f"must be fixed or int, got {json.dumps(scheme)[:40]}")
    values = {"scheme": scheme}
    for key, option in (("a_bits", "a"), ("w_bits", "w"), ("a_frac", "a_frac"), ("w_frac", "w_frac")):
        value = data.get(key) if isinstance(data, dict) else None
        if value is None:
            continue
        problem = option_problem(option, value)
        if problem:
            raise reader.fail(f"{where}.{key}", problem)
        values[key] = value
    if "a_bits" not in values:
        raise reader.fail(where, "missing 'a_bits'")
    if (values.get("w_bits") is None) == (op in WEIGHTED_OPS):
        raise reader.fail(f"{where}.w_bits", "a layer with weights needs w_bits; a layer without has none")
    if scheme == "int" and ("a_frac" in values or "w_frac" in values):
        raise reader.fail(where, "fraction bits apply to scheme fixed, not int")
    return LayerQuant(**values)


def graph_from_json(data: Any, path: str = "<json>") -> Graph:
    """The graph a ``graph_to_json`` dict describes, verified."""
    reader = _Reader(path)
    if reader.get(data, "format", str, "file") != FORMAT:
        raise reader.fail("file", f"not a segc graph (format is not '{FORMAT}')")
    if reader.get(data, "version", int, "file") != VERSION:
        raise reader.fail("file", f"version {data['version']} is not supported (this segc reads {VERSION})")
    target = data.get("target")
    graph = Graph(reader.name(data, "network", "file"),
                  None if target is None else target_from_json(target, path))
    directives = reader.get(data, "directives", dict, "file")
    prune, deform = directives.get("prune"), directives.get("deform")
    if prune is not None or deform is not None:
        graph.directives = Directives(prune=None if prune is None else _prune_from_json(reader, prune),
                                      deform=None if deform is None else _deform_from_json(reader, deform))
    for i, entry in enumerate(reader.get(data, "nodes", list, "file")):
        node = _node_from_json(reader, graph, entry, f"nodes[{i}]")
        if node.name in graph:
            raise reader.fail(f"nodes[{i}]", f"layer '{node.name}' is defined twice")
        graph.add(node)
    problems = graph.problems()
    if problems:
        raise SegError([Diagnostic(d.message, path=path) for d in problems])
    return graph


def decode_json(text: str) -> Any:
    """``json.loads`` that fails only with ValueError (a JSONDecodeError
    where the text has a place): also for nesting too deep and integers
    too long for Python."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError:  # Python's limit on converting long integers
        raise ValueError("an integer has too many digits") from None


def loads(text: str, path: str = "<json>") -> Graph:
    try:
        data = decode_json(text)
    except json.JSONDecodeError as err:
        raise SegError(Diagnostic(f"{err.lineno}:{err.colno}: not valid JSON: {err.msg}", path=path)) from None
    except ValueError as err:
        raise SegError(Diagnostic(f"not valid JSON: {err}", path=path)) from None
    return graph_from_json(data, path)
