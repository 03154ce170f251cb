"""What the HLS lowering of one layer sees and produces.

A layer lowers to kernel calls (:class:`Call`: a kernel of ``lib/`` and
the compile-time constants of its configuration struct), constant tables,
and parameters packed into the parameter image of 16-bit words (each tensor
with its own format and width, see ``fixed``).  :class:`Context` gives the
formats, widths and addresses of activations and packs parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...ir import Diagnostic, Graph, Node, SegError
from ...ir.quant import widths
from ..identifiers import ascii_identifier, distinct_identifiers
from .fixed import FRAC_MAX, WORD_BITS, frac_bits, quantize
from .memory import MemoryPlan

__all__ = ["Call", "Context", "Lowered", "c_identifiers"]


@dataclass(frozen=True)
class Call:
    kernel: str  # segc::KERNEL<config>(args)
    config: dict[str, int | bool]
    args: tuple[str, ...]
    suffix: str = ""  # distinguishes the configs of several calls of one layer


@dataclass
class Lowered:
    calls: list[Call]
    tables: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # extra fields for config.json
    # with layers fused into the last call (``fusion``):
    members: list[tuple[str, Call]] = field(default_factory=list)  # fused layers and their configurations
    epilogue: str = ""  # the epilogue struct
    before: list[str] = field(default_factory=list)  # lines of the top function before the calls
    after: list[str] = field(default_factory=list)  # and after them
    written: list[str] | None = None  # layers whose outputs reach DRAM (default: the layer itself)
    member_info: dict[str, dict] = field(default_factory=dict)  # fused layers' own config.json fields


def c_identifiers(graph: Graph) -> dict[str, str]:
    """A distinct C identifier per layer (``layer1.0.conv1`` → ``layer1_0_conv1``)."""
    return distinct_identifiers(graph, lambda name: ascii_identifier(name, "l"))


class Context:
    """Formats, addresses and parameter packing for the lowering functions."""

    def __init__(self, graph: Graph, plan: MemoryPlan, formats: dict[str, int], weights: dict[str, np.ndarray],
                 offset_max: dict[str, float] | None = None, headroom: int = 1,
                 scales: dict[str, float] | None = None):
        self.graph = graph
        self.plan = plan
        self.formats = formats  # owning layer -> fraction bits
        self.weights = weights
        self.offset_max = offset_max or {}  # dconv layer -> largest calibrated offset (or scale)
        self.headroom = headroom
        self.scales = scales or {}  # owning layer -> scale (default 2^-frac, ``scales``)
        self.ident = c_identifiers(graph)
        self.chunks: list[np.ndarray] = []
        self.words = 0
        self.params: dict[str, dict[str, dict]] = {}  # layer -> key -> {frac, bits, offset, words}
        self.tables: list[str] = []  # constant tables of the source beside the layers' own

    @property
    def unroll(self):
        return self.graph.target.unroll

    def frac(self, name: str) -> int:
        return self.formats[self.plan.owner[name]]

    def scale(self, name: str) -> float:
        """The scale s of a layer's output words (value = q·s)."""
        return self.scales.get(self.plan.owner[name], 2.0 ** -self.frac(name))

    def unit(self, name: str) -> float:
        """s·2^f: 1 in fixed point, the factor an ``int`` scale adds to the nominal format."""
        return self.scale(name) * 2.0 ** self.frac(name)

    def bits(self, name: str) -> int:
        """The width of a layer's output words (that of the layer owning them)."""
        return widths(self.graph, self.graph.node(self.plan.owner[name]))[1]

    def data(self, name: str) -> str:
        """The address of a layer's output; ``nullptr`` for one fused away (no DRAM tensor)."""
        owner = self.plan.owner[name]
        return f"mem + {self.plan.offset[owner]}" if owner in self.plan.offset else "nullptr"

    def scratch(self, name: str) -> str:
        return f"mem + {self.plan.offset[f'{name}#scratch']}"

    def weight(self, node: Node, key: str) -> np.ndarray:
        return np.asarray(self.weights[f"{node.name}.{key}"], dtype=np.float64)

    def param_frac(self, node: Node, key: str, values: np.ndarray, limit: int = FRAC_MAX,
                   bits: int = WORD_BITS) -> int:
        """The format of a parameter tensor of ``bits``-bit words: the most
        fraction bits that hold it (at most ``limit``)."""
        frac = frac_bits(float(np.max(np.abs(values))) if values.size else 0.0, 0, bits)
        if frac is None:
            raise SegError(Diagnostic(
                f"layer '{node.name}': parameter '{key}' (largest magnitude {np.max(np.abs(values)):.6g}) "
                f"does not fit {bits}-bit fixed point", node.span,
            ))
        return min(frac, limit)

    def pack(self, node: Node, key: str, values: np.ndarray, frac: int, bits: int = WORD_BITS) -> str:
        """Append a tensor of ``bits``-bit fixed-point words to the parameter image; its address as C."""
        return self.pack_words(node, key, quantize(values.reshape(-1), frac, bits), {"frac": frac, "bits": bits})

    def pack_words(self, node: Node, key: str, words: np.ndarray, entry: dict) -> str:
        """Append integer words to the parameter image, described in config.json
        by ``entry``; their address as C."""
        offset = self.words
        self.chunks.append(np.asarray(words, dtype=np.int16).reshape(-1))
        self.words += words.size
        self.params.setdefault(node.name, {})[key] = {**entry, "offset": offset, "words": int(words.size)}
        return f"params + {offset}"

    def image(self) -> bytes:
        """The parameter image: int16 words, little-endian."""
        if not self.chunks:
            return b""
        return np.concatenate(self.chunks).astype("<i2").tobytes()
