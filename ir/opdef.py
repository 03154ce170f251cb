"""What an op is: :class:`OpDef` (attribute schema, operand arity, shape rule,
work counts, channel coupling) and :class:`Coupling`.

The table of all ops is :data:`segc.ir.ops.OPS`; backends keep their own
lowering tables keyed by the same names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .attrs import Attr, AttrError
from .shapes import Shape

__all__ = ["Coupling", "OpDef"]

Attrs = Mapping[str, Any]


class Coupling(Enum):
    """How an op's output channels relate to its inputs' channels; structured
    pruning computes its channel groups from this (Mori et al., Sec. 3.3)."""

    FIXED = "fixed"  # input/output: the channel count is an interface
    SOURCE = "source"  # new channels (conv, linear): free to prune, inputs shrink the weights
    PASSTHROUGH = "passthrough"  # output channel i is input channel i
    ELEMENTWISE = "elementwise"  # every input and the output share channel i
    CONCAT = "concat"  # output channels are the inputs' channels, in order
    DEPTHWISE = "depthwise"  # weighted, but output channel i reads only input channel i
    GROUPED = "grouped"  # grouped conv: channels tied group by group
    FLATTEN = "flatten"  # input channel i becomes features [i·H·W, (i+1)·H·W)
    SLICE = "slice"  # output channel i is input channel start + i
    SHUFFLE = "shuffle"  # output channel c·g + p is channel c of part p: the parts are pruned alike


def _same(value: Any, default: Any) -> bool:
    """A value equal to an attribute's default (None only matches None)."""
    if default is None or value is None:
        return value is default
    return type(value) is type(default) and value == default


def _zero(attrs: Attrs, inputs: Sequence[Shape], out: Shape) -> int:
    return 0


@dataclass(frozen=True)
class OpDef:
    """One op, declared once.

    ``inputs``: (minimum, maximum) tensor operands, maximum ``None`` for
    variadic.  ``positional``: attributes that may follow the tensor operands
    by position.  ``operand_keywords``: keyword arguments that are tensor
    operands (appended to the inputs in this order).  ``shape_only``: operand
    positions whose shape is read but whose values and channels are not.
    """

    name: str
    doc: str
    shape_rule: Callable[[Attrs, Sequence[Shape]], Shape]
    attrs: tuple[Attr, ...] = ()
    inputs: tuple[int, int | None] = (1, 1)
    positional: tuple[str, ...] = ()
    operand_keywords: tuple[str, ...] = ()
    shape_only: tuple[int, ...] = ()
    macs_rule: Callable[[Attrs, Sequence[Shape], Shape], int] = _zero
    params_rule: Callable[[Attrs, Sequence[Shape], Shape], int] = _zero
    coupling_rule: Callable[[Attrs, Sequence[Shape]], Coupling] = lambda a, s: Coupling.PASSTHROUGH
    normalize: Callable[[dict[str, Any]], str | None] = lambda attrs: None

    def attr(self, name: str) -> Attr | None:
        for attr in self.attrs:
            if attr.name == name:
                return attr
        return None

    def arity_text(self) -> str:
        low, high = self.inputs
        if high is None:
            return f"at least {low} input{'s' if low != 1 else ''}"
        if low == high:
            return f"{low} input{'s' if low != 1 else ''}"
        return f"{low} to {high} inputs"

    def accepts(self, n_inputs: int) -> bool:
        low, high = self.inputs
        return n_inputs >= low and (high is None or n_inputs <= high)

    def build_attrs(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Canonical attributes from user values: unknown names, missing
        required ones and bad values raise AttrError (naming the attribute)."""
        for name in given:
            if self.attr(name) is None:
                raise AttrError(f"{self.name} has no attribute '{name}'{self._known()}", name)
        attrs: dict[str, Any] = {}
        for attr in self.attrs:
            if attr.name in given and not (not attr.required and _same(given[attr.name], attr.default)):
                attrs[attr.name] = attr.coerce(given[attr.name])
            elif attr.required:
                raise AttrError(f"{self.name} needs '{attr.name}'", attr.name)
            else:
                attrs[attr.name] = attr.default
        problem = self.normalize(attrs)
        if problem:
            raise AttrError(problem)
        return attrs

    def _known(self) -> str:
        names = [a.name for a in self.attrs] + list(self.operand_keywords)
        return f" (it has: {', '.join(names)})" if names else " (it takes none)"

    def shape(self, attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
        return self.shape_rule(attrs, inputs)

    def macs(self, attrs: Attrs, inputs: Sequence[Shape], out: Shape) -> int:
        """Multiply-accumulates for one input sample."""
        return self.macs_rule(attrs, inputs, out)

    def params(self, attrs: Attrs, inputs: Sequence[Shape], out: Shape) -> int:
        """Trainable parameters (BN running statistics are buffers, not counted)."""
        return self.params_rule(attrs, inputs, out)

    def coupling(self, attrs: Attrs, inputs: Sequence[Shape]) -> Coupling:
        return self.coupling_rule(attrs, inputs)
