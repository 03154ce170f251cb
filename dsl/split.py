"""``split``: a tensor's channels in consecutive parts, as a list of
tensors — ``x -> split(2)`` (equal parts) or ``x -> split([58, 58])``
(given sizes).  A layer of the IR has one output, so each part is a
``slice`` layer of ``x`` (named ``slice1``, ``slice2``, … in the scope);
index the list (``halves[0]``) or spread it (``concat(*parts)``)."""

from __future__ import annotations

from ..ir import OPS, Span
from . import ast
from .values import Tensor, type_name

__all__ = ["SPLIT", "split_sizes"]

SPLIT = "split"


def split_sizes(channels: int, parts: object) -> list[int] | str:
    """The part sizes, or what is wrong with ``parts``."""
    if isinstance(parts, int) and not isinstance(parts, bool):
        if not 1 <= parts <= channels or channels % parts:
            return f"split into {parts} equal parts needs a divisor of the {channels} channels"
        return [channels // parts] * parts
    if isinstance(parts, tuple) and parts and all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        if min(parts) < 1 or sum(parts) != channels:
            return f"split sizes {list(parts)} must be positive and add up to the {channels} channels"
        return list(parts)
    return f"split takes an integer count of equal parts or a list of integer sizes, got {type_name(parts)}"


def split_call(evaluator, call: ast.Call, positional: list[tuple[object, Span]],
               keywords: dict[str, tuple[object, Span]]) -> tuple[Tensor, ...]:
    """The parts of ``split(x, parts)`` as slice layers."""
    if call.alias:
        raise evaluator.error("'as' names one layer, and split makes one per part", call.alias_span)
    if keywords:
        raise evaluator.error("split takes no keyword arguments", next(iter(keywords.values()))[1])
    if len(positional) != 2 or not isinstance(positional[0][0], Tensor):
        raise evaluator.error("split takes a tensor and its parts: x -> split(2) or x -> split([58, 58])", call.span)
    (x, _), (parts, parts_span) = positional
    sizes = split_sizes(x.shape.c, parts)
    if isinstance(sizes, str):
        raise evaluator.error(sizes, parts_span)
    tensors, start = [], 0
    for size in sizes:
        attrs = OPS["slice"].build_attrs({"start": start, "end": start + size})
        shape = OPS["slice"].shape(attrs, [x.shape])
        tensors.append(evaluator.add_layer("slice", [x], attrs, shape, call.span))
        start += size
    return tuple(tensors)
