"""Early rejection of networks over the layer cap.

Blocks that call blocks can describe exponentially many layers in a few
lines (``b0`` calls ``b1`` twice, ``b1`` calls ``b2`` twice, …).  Building
them one by one until the cap stops them takes seconds, so once a network
passes :data:`COUNT_FROM` layers its layers are first *counted*: a block
call seen before with equal arguments (tensors compared by shape; a block
sees nothing but its arguments) adds the count of that first call without
running again, so ``k`` levels of doubling cost ``O(k)`` calls.
"""

from __future__ import annotations

from ..ir import SegError, Span
from . import ast
from .calls import MAX_LAYERS, CallEvaluator, LargeNetwork
from .naming import Scope
from .values import Tensor

__all__ = ["COUNT_FROM", "CapReached", "CountingEvaluator", "LargeNetwork", "cap_error"]

COUNT_FROM = 20_000


class CapReached(Exception):
    """Internal: the count passed the cap at the call ``span``."""

    def __init__(self, span: Span):
        super().__init__(span)
        self.span = span


def cap_error(span: Span) -> SegError:
    return SegError(f"the network would have more than {MAX_LAYERS:,} layers", span)


def _key(block: str, positional: list, keywords: dict) -> tuple | None:
    """What a block call's result depends on (None: not hashable, no memo)."""
    key = (block, tuple(v for v, _ in positional), tuple(sorted((k, v) for k, (v, _) in keywords.items())))
    try:
        hash(key)
    except TypeError:
        return None
    return key


class CountingEvaluator(CallEvaluator):
    """Evaluates a network counting its layers instead of building them."""

    def __init__(self, blocks: dict[str, ast.BlockDef]):
        super().__init__(blocks)
        self.count = 0
        self.memo: dict[tuple, tuple[int, object]] = {}
        self.scopes.append(Scope(explicit=None, span=None, is_root=True))

    def _grow(self, layers: int, span: Span) -> None:
        self.count += layers
        if self.count > MAX_LAYERS:
            raise CapReached(span)

    def add_layer(self, op, operands, attrs, shape, span, name=None, name_span=None) -> Tensor:
        self._grow(1, span)
        return Tensor(-1, shape)

    def _block(self, call: ast.Call, block: ast.BlockDef, positional: list, keywords: dict) -> object:
        key = _key(block.name, positional, keywords)
        if key in self.memo:
            layers, value = self.memo[key]
            self._grow(layers, call.span)
            return value
        before, errors = self.count, len(self.errors)
        value = super()._block(call, block, positional, keywords)
        if key is not None and len(self.errors) == errors:
            self.memo[key] = (self.count - before, value)
        return value
