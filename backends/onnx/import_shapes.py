"""The input size of an imported model: the model's own where it fixes C, H
and W, or the one the user gives (``--input-shape C,H,W`` or ``N,C,H,W``)
where it leaves them dynamic.  A given size is written into the model and
checked by ONNX shape inference through the whole graph.  The batch may
stay dynamic: segc's layers have none."""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from ...ir import Diagnostic, SegError

__all__ = ["feature_inputs", "inferred_dims", "parse_input_shape"]

_AXES = ("N", "C", "H", "W")


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``C,H,W`` or ``N,C,H,W`` as positive integers; ValueError otherwise."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (3, 4) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"expected C,H,W or N,C,H,W (positive integers), got '{text}'")
    return tuple(int(p) for p in parts)


def feature_inputs(model: onnx.ModelProto, path: str, constants: set[str],
                   input_shape: Sequence[int] | None) -> dict[str, list[int | None]]:
    """``{input: [N or None, C, H, W]}`` of every graph input that is not an
    initializer; with ``input_shape``, the model's input is set to it and
    shapes are inferred from it (``model`` is changed in place)."""
    values = [v for v in model.graph.input if v.name not in constants]
    if input_shape is not None and len(values) != 1:
        raise _error(path, f"--input-shape fixes the size of a model with one input; this one has {len(values)}")
    found = {}
    for value in values:
        dims = _dims(value)
        if len(dims) != 4:
            raise _error(path, f"input '{value.name}' must be [N, C, H, W], got {_shown(value)}")
        if input_shape is not None:
            dims = _given(path, value, dims, input_shape)
        dynamic = [axis for axis, d in zip(_AXES[1:], dims[1:]) if d is None]
        if dynamic:
            raise _error(path, f"input '{value.name}' {_shown(value)} has no fixed {', '.join(dynamic)}: pass "
                               "--input-shape C,H,W (or N,C,H,W) to import it at that size")
        found[value.name] = dims
    if input_shape is not None:
        (name, dims), = found.items()
        _fix(model, path, name, dims)
    return found


def inferred_dims(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    """``{value: dims}`` as ONNX shape inference finds them (None: unknown);
    empty where inference itself fails."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # a model inference cannot follow: no shapes, the import reports its own errors
        return {}
    return {v.name: _dims(v) for v in (*inferred.graph.value_info, *inferred.graph.output)}


def _dims(value: onnx.ValueInfoProto) -> list[int | None]:
    shape = value.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in shape.dim]


def _shown(value: onnx.ValueInfoProto) -> str:
    """``[n, 3, h, w]``: the model's dims, names for dynamic ones (``?`` unnamed)."""
    dims = value.type.tensor_type.shape.dim
    return "[" + ", ".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in dims) + "]"


def _given(path: str, value: onnx.ValueInfoProto, dims: list[int | None], given: Sequence[int]) -> list[int | None]:
    wanted = [None, *given] if len(given) == 3 else list(given)
    for axis, have, want in zip(_AXES, dims, wanted):
        if have is not None and want is not None and have != want:
            raise _error(path, f"--input-shape {','.join(map(str, given))} does not fit input '{value.name}' "
                               f"{_shown(value)}: its {axis} is {have}")
    return [want if want is not None else have for have, want in zip(dims, wanted)]


def _fix(model: onnx.ModelProto, path: str, name: str, dims: list[int | None]) -> None:
    """Write the size into the input and infer every shape from it."""
    value = next(v for v in model.graph.input if v.name == name)
    for dim, size in zip(value.type.tensor_type.shape.dim, dims):
        if size is not None:
            dim.Clear()
            dim.dim_value = size
    del model.graph.value_info[:]  # the exporter's symbolic shapes, inferred anew
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as err:  # onnx's InferenceError and its checker's reasons
        reason = str(err).strip().splitlines()[-1][:300] if str(err).strip() else type(err).__name__
        raise _error(path, f"the model does not take input '{name}' of size {_listed(dims)}: {reason}") from None
    model.graph.value_info.extend(inferred.graph.value_info)


def _listed(dims: list[int | None]) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in dims) + "]"


def _error(path: str, message: str) -> SegError:
    return SegError(Diagnostic(message, path=path))
