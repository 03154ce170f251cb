"""The torch lowering of quantized layers (``node.quant``, ``ir/quant.py``):
each is built with :func:`quantized` of ``fake_quant.py`` around its module
(the fake-quantized subclass for a layer with weights; ``nn.Identity`` for
a network input), and its output goes through ``quantize_output``.  Output
nodes pass on their producer's (quantized) tensor.  Unquantized layers are lowered as before.
This module imports nothing from torch."""

from __future__ import annotations

from ...ir import Graph, Node
from ..literals import py_string
from ..quant import INT_BIAS_OPS

__all__ = ["QUANT_NAMES", "input_scale_argument", "quant_call", "quant_constructor", "quant_files",
           "quantized_input"]

QUANT_FILES = ("fake_quant.py",)  # inlined into quantized networks' source
QUANT_DEFORM_FILES = ("fake_quant_deform.py",)  # and after the deform files when a dconv is quantized
QUANT_NAMES = frozenset({"quantize_output", "activation_scale"})  # called in forward: no variable may take them
_QUANT_CLASSES = {"conv": ("nn.Conv2d(", "QuantConv2d("), "deconv": ("nn.ConvTranspose2d(", "QuantConvTranspose2d("),
                  "linear": ("Linear(", "QuantLinear("), "dconv": ("DeformConv2d(", "QuantDeformConv2d(")}


def quant_files(graph: Graph) -> tuple[str, ...]:
    """The files a network's source inlines for its quantized layers (after the deform files)."""
    quantized = [n for n in graph.nodes() if n.quant is not None]
    if not quantized:
        return ()
    return QUANT_FILES + (QUANT_DEFORM_FILES if any(n.op == "dconv" for n in quantized) else ())


def quantized_input(node: Node) -> bool:
    """A quantized network input: an ``nn.Identity`` module holds its format
    and range, and ``forward`` quantizes the input first."""
    return node.op == "input" and node.quant is not None


def quant_constructor(node: Node, constructor: str) -> str:
    """``quantized(Module(...), name, format)`` for a quantized layer, else ``constructor``."""
    quant = node.quant
    if quant is None:
        return constructor
    if node.op in _QUANT_CLASSES:
        plain, fake = _QUANT_CLASSES[node.op]
        constructor = fake + constructor.removeprefix(plain)
    options = [f"a_frac={quant.a_frac}"] if quant.a_frac is not None else []
    if quant.w_bits is not None:
        options.append(f"w_bits={quant.w_bits}")
    if quant.w_frac is not None:
        options.append(f"w_frac={quant.w_frac}")
    arguments = ", ".join([py_string(node.name), py_string(quant.scheme), f"a_bits={quant.a_bits}", *options])
    return f"quantized({constructor}, {arguments})"


def input_scale_argument(graph: Graph, node: Node, access) -> str:
    """``, activation_scale(PRODUCER)`` for an ``int`` layer with weights and
    a bias whose input is quantized (its bias is rounded in the sum's units),
    else nothing; ``access`` gives a layer's module expression."""
    quant, producer = node.quant, graph.node(node.inputs[0]) if node.inputs else None
    if node.op not in INT_BIAS_OPS or quant is None or quant.scheme != "int" or not node.attrs.get("bias") \
            or producer is None or producer.quant is None:
        return ""
    return f", activation_scale({access(producer.name)})"


def quant_call(node: Node, module: str, call: str) -> str:
    """The layer's output: ``call``, through ``quantize_output`` if it is quantized."""
    return call if node.quant is None else f"quantize_output({module}, {call})"
