"""Initial weights drawn from a seed with numpy, without importing torch:
the ``state_dict`` (keys ``LAYER.weight``, …; float32) that the generated
PyTorch module loads when no weights are given, and that ``prune``,
``search`` and the HLS backend start from.

The distributions are PyTorch's defaults: a convolution's, transposed
convolution's or linear layer's weight and bias uniform in ±1/√fan_in
(``kaiming_uniform_(a=√5)``), batch norm 1, 0 and running statistics 0, 1,
a deformable layer's offset branch zero (a square one's bias 1).  The
values are drawn from ``numpy.random.default_rng(seed)``, layer by layer in
the graph's order, weight before bias, so they differ from those of
``torch.manual_seed(seed)`` (used up to segc 2026-12) but are the same on
every machine and every run.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..ir import Graph, Node
from ..ir.dconv_plan import dconv_variant

__all__ = ["misfits", "seeded_weights"]

_Draw = Callable[[Graph, Node, np.random.Generator], dict[str, np.ndarray]]


def seeded_weights(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    """The network's initial weights from ``seed`` (see the module's text)."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for node in graph.nodes():
        draw = _DRAWS.get(node.op)
        if draw is not None:
            arrays.update({f"{node.name}.{key}": value for key, value in draw(graph, node, rng).items()})
    return arrays


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def _weight_and_bias(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, bias: bool,
                     outputs: int) -> dict[str, np.ndarray]:
    drawn = {"weight": _uniform(rng, shape, fan_in)}
    if bias:
        drawn["bias"] = _uniform(rng, (outputs,), fan_in)
    return drawn


def _conv(graph: Graph, node: Node, rng: np.random.Generator) -> dict[str, np.ndarray]:
    a, ci = node.attrs, graph.input_shapes(node)[0].c
    (kh, kw), out = a["k"], a["out"]
    return _weight_and_bias(rng, (out, ci // a["groups"], kh, kw), ci // a["groups"] * kh * kw, a["bias"], out)


def _dconv(graph: Graph, node: Node, rng: np.random.Generator) -> dict[str, np.ndarray]:
    drawn = _conv(graph, node, rng)
    a, ci = node.attrs, graph.input_shapes(node)[0].c
    (kh, kw), groups = a["k"], a["offset_groups"]
    if dconv_variant(node)["shape"] == "square":
        shape, bias = (groups, ci, 1, 1), np.ones(groups, np.float32)
    else:
        shape, bias = (2 * kh * kw * groups, ci, kh, kw), np.zeros(2 * kh * kw * groups, np.float32)
    return {**drawn, "offset.weight": np.zeros(shape, np.float32), "offset.bias": bias}


def _deconv(graph: Graph, node: Node, rng: np.random.Generator) -> dict[str, np.ndarray]:
    a, ci = node.attrs, graph.input_shapes(node)[0].c
    (kh, kw), out = a["k"], a["out"]
    return _weight_and_bias(rng, (ci, out // a["groups"], kh, kw), out // a["groups"] * kh * kw, a["bias"], out)


def _linear(graph: Graph, node: Node, rng: np.random.Generator) -> dict[str, np.ndarray]:
    features = graph.input_shapes(node)[0].c
    return _weight_and_bias(rng, (node.shape.c, features), features, node.attrs["bias"], node.shape.c)


def _bn(graph: Graph, node: Node, rng: np.random.Generator) -> dict[str, np.ndarray]:
    c = node.shape.c
    return {"weight": np.ones(c, np.float32), "bias": np.zeros(c, np.float32),
            "running_mean": np.zeros(c, np.float32), "running_var": np.ones(c, np.float32),
            "num_batches_tracked": np.zeros((), np.int64)}


_DRAWS: dict[str, _Draw] = {"conv": _conv, "dconv": _dconv, "deconv": _deconv, "linear": _linear, "bn": _bn}


def misfits(graph: Graph, weights: dict[str, np.ndarray]) -> list[str]:
    """How ``weights`` do not fit the network: entries missing (but batch
    norm's counter, as for ``load_state_dict``), of another shape, or of no
    layer (empty when they fit)."""
    expected = {key: value.shape for key, value in seeded_weights(graph, 0).items()}
    problems = [f"'{key}' is missing" for key in expected
                if key not in weights and not key.endswith(".num_batches_tracked")]
    problems += [f"'{key}' has shape {list(np.shape(weights[key]))}, the network needs {list(shape)}"
                 for key, shape in expected.items() if key in weights and np.shape(weights[key]) != shape]
    return problems + [f"'{key}' belongs to no layer of the network" for key in weights if key not in expected]
