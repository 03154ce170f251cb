"""``target`` definitions → :class:`~segc.ir.Target`.

Each field is checked for kind (a clock is a frequency, a buffer a size …)
and range against :data:`~segc.ir.TARGET_FIELDS`; then the whole target is
checked for being buildable (:func:`~segc.ir.target_problems`).  Every
problem is reported at the field (or the target's name) it concerns.
"""

from __future__ import annotations

from ..ir import TARGET_FIELDS, Diagnostic, SegError, Target, Unroll, target_problems
from ..ir.target import UNROLL_KEYS, FieldSpec, packing_from_dict
from . import ast
from .evaluate import Env, ExprEvaluator, close_match
from .units import KIND_UNITS, format_base
from .values import Quantity, is_poison, type_name

__all__ = ["lower_target"]

_KIND_NAMES = {"frequency": "a frequency", "rate": "a bandwidth", "size": "a size", "time": "a time"}


def _in_range(spec: FieldSpec, value: float) -> str | None:
    if spec.minimum <= value <= spec.maximum:
        return None
    if spec.kind in _KIND_NAMES:
        low, high = format_base(spec.minimum, spec.kind), format_base(spec.maximum, spec.kind)
        return f"'{spec.name}' must be between {low} and {high}, got {format_base(value, spec.kind)}"
    return f"'{spec.name}' must be between {spec.minimum:g} and {spec.maximum:g}, got {value:g}"


def _quantity(spec: FieldSpec, value: object) -> float:
    if not isinstance(value, Quantity):
        hint = f" with a unit ({KIND_UNITS[spec.kind]})"
        raise ValueError(f"'{spec.name}' must be {_KIND_NAMES[spec.kind]}{hint}, got {type_name(value)}")
    if value.kind != spec.kind:
        raise ValueError(
            f"'{spec.name}' must be {_KIND_NAMES[spec.kind]} ({KIND_UNITS[spec.kind]}), "
            f"got {_KIND_NAMES[value.kind]} ({value.text})"
        )
    if spec.kind == "size":
        if value.value != int(value.value):
            raise ValueError(f"'{spec.name}' must be a whole number of bits, got {value.text}")
        return int(value.value)
    return float(value.value)


def _count(name: str, value: object, spec: FieldSpec) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{name}' must be an integer, got {type_name(value)}")
    problem = _in_range(FieldSpec(name, "count", "", False, spec.minimum, spec.maximum), value)
    if problem:
        raise ValueError(problem)
    return value


def _number(spec: FieldSpec, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"'{spec.name}' must be a number, got {type_name(value)}")
    problem = _in_range(spec, value)
    if problem:
        raise ValueError(problem)
    return float(value)


def _record(spec: FieldSpec, value: object) -> object:
    """A dict field such as ``depthwise = {lanes: 16, taps: 9}``, built into ``spec.record``."""
    members = {m.name: m for m in spec.members}
    if not isinstance(value, dict):
        example = ", ".join(f"{m.name}: …" for m in spec.members if m.required)
        raise ValueError(f"'{spec.name}' must be a dict such as {{{example}}}, got {type_name(value)}")
    unknown = [k for k in value if k not in members]
    if unknown:
        raise ValueError(f"'{spec.name}' has no field '{unknown[0]}' (it has: {', '.join(members)})")
    missing = [m.name for m in spec.members if m.required and m.name not in value]
    if missing:
        raise ValueError(f"'{spec.name}' needs {', '.join(missing)}")
    named = {k: FieldSpec(f"{spec.name}.{k}", m.kind, m.attr, m.required, m.minimum, m.maximum)
             for k, m in members.items()}
    return spec.record(**{members[k].attr: _convert(named[k], v) for k, v in value.items()})  # type: ignore[misc]


def _unroll(spec: FieldSpec, value: object) -> Unroll:
    if not isinstance(value, dict):
        raise ValueError("'unroll' must be a dict such as {pif: 16, pof: 32, pkx: 4}")
    unknown = [k for k in value if k not in UNROLL_KEYS]
    if unknown:
        raise ValueError(f"'unroll' has no factor '{unknown[0]}' (it has: {', '.join(UNROLL_KEYS)})")
    missing = [k for k in UNROLL_KEYS[:3] if k not in value]
    if missing:
        raise ValueError(f"'unroll' needs {', '.join(missing)}")
    return Unroll(**{k: _count(k, v, spec) for k, v in value.items()})


def _convert(spec: FieldSpec, value: object) -> object:
    """A field's value in base units, or ValueError with a message."""
    if spec.kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"'{spec.name}' must be a string, got {type_name(value)}")
        return value
    if spec.kind == "unroll":
        return _unroll(spec, value)
    if spec.kind == "count":
        return _count(spec.name, value, spec)
    if spec.kind == "number":
        return _number(spec, value)
    if spec.kind == "record":
        return _record(spec, value)
    if spec.kind == "packing":
        return packing_from_dict(value, spec.name)
    number = _quantity(spec, value)
    problem = _in_range(spec, number)
    if problem:
        raise ValueError(problem)
    return number


def lower_target(definition: ast.TargetDef, evaluator: ExprEvaluator) -> Target:
    """The Target a definition describes, or SegError listing every problem."""
    errors: list[Diagnostic] = []
    values: dict[str, object] = {}
    spans = {}
    attempted: set[str] = set()  # fields given (or misspelt), even if their value was wrong
    for field in definition.fields:
        spec = TARGET_FIELDS.get(field.name)
        if spec is None:
            guess = close_match(field.name, TARGET_FIELDS)
            hint = f"; did you mean '{guess}'?" if guess else ""
            errors.append(Diagnostic(f"targets have no field '{field.name}'{hint}", field.name_span))
            attempted.add(guess or field.name)
            continue
        attempted.add(spec.name)
        if spec.attr in values:
            errors.append(Diagnostic(f"field '{field.name}' is given twice", field.name_span))
            continue
        spans[spec.name] = field.span
        try:
            value = evaluator.eval(field.value, Env())  # type: ignore[arg-type]
            values[spec.attr] = None if is_poison(value) else _convert(spec, value)
        except SegError as err:
            errors.extend(err.diagnostics)
        except ValueError as err:
            errors.append(Diagnostic(str(err), field.value.span))  # type: ignore[union-attr]
    errors.extend(evaluator.errors)
    for spec in TARGET_FIELDS.values():
        if spec.required and spec.name not in attempted:
            message = f"target '{definition.name}' needs '{spec.name}' ({spec.doc})"
            errors.append(Diagnostic(message, definition.name_span))
    if errors:
        raise SegError(errors)
    target = Target(name=definition.name, **values)  # type: ignore[arg-type]
    problems = [Diagnostic(msg, spans.get(field, definition.name_span)) for field, msg in target_problems(target)]
    if problems:
        raise SegError(problems)
    return target
