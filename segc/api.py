"""segc's public API: load networks, format sources, write artifacts.

>>> import segc
>>> graph = segc.load("examples/resnet18.seg")
>>> sum(layer.macs for layer in segc.summarize(graph))  # doctest: +SKIP
"""

from __future__ import annotations

from .dsl import elaborate, load_file, load_text
from .dsl.format import format_module
from .dsl.loader import parse_source, read_source
from .dsl.printer import print_graph
from .ir import Diagnostic, Graph, SegError, serialize, shown
from .outputs import write_atomic

__all__ = [
    "format_source", "import_onnx", "load", "loads", "to_json", "to_onnx", "to_seg", "to_torch", "to_torch_source",
    "weight_arrays", "with_deform_decisions", "write_atomic",
]


def load(path: str, network: str | None = None, warnings: list[Diagnostic] | None = None,
         sources: list[str] | None = None) -> Graph:
    """The verified graph of a ``.seg`` file's network (the only one, or
    ``network``), or of a segc JSON graph (``.json``).  ``sources`` receives
    the path of every file read (the file and its imports)."""
    if sources is not None:
        sources.append(path)
    if path.endswith(".json"):
        graph = serialize.loads(read_source(path), path)
        if network is not None and network != graph.name:
            raise SegError(Diagnostic(f"no network {shown(network)} in {path} (it defines: {graph.name})"))
        return graph
    program = load_file(path)
    if sources is not None:
        sources.extend(m.source.path for m in program.modules)
    return elaborate(program, network, warnings)


def loads(text: str, path: str = "<string>", network: str | None = None,
          warnings: list[Diagnostic] | None = None) -> Graph:
    """Like :func:`load`, from ``.seg`` text (imports resolve relative to ``path``)."""
    return elaborate(load_text(text, path), network, warnings)


def format_source(text: str, path: str = "<string>") -> str:
    """``.seg`` source in canonical layout (what ``segc fmt`` prints)."""
    return format_module(parse_source(text, path))


def to_seg(graph: Graph) -> str:
    """The graph as flat, self-contained ``.seg`` text."""
    return print_graph(graph)


def to_json(graph: Graph) -> str:
    return serialize.dumps(graph)


def with_deform_decisions(graph: Graph) -> Graph:
    """The graph with its ``deform`` section applied by the ``deform`` pass
    (so torch and ONNX render the variants it asks for); the graph itself
    when it has no such section or the pass has run."""
    layers = [n for n in graph.nodes() if n.op == "dconv"]
    if graph.directives.deform is None or all("deform" in n.annotations for n in layers):
        return graph
    from .passes.base import run_pipeline
    from .passes.deform import DeformPass

    return run_pipeline(graph, [DeformPass()])[0]


def to_torch_source(graph: Graph) -> str:
    """Readable Python source of the network's ``nn.Module`` (needs only torch)."""
    from .backends.torch.source import to_torch_source as source

    return source(with_deform_decisions(graph))


def to_torch(graph: Graph, weights=None, seed: int = 0):
    """The network as a live ``nn.Module`` (eval mode): parameters from
    ``weights`` (a state_dict, or a ``.pt``/``.safetensors`` path) or
    initialised from ``seed``."""
    from .backends.torch.module import build_module, read_weights

    source = weights if isinstance(weights, str) else "<weights>"
    if isinstance(weights, str):
        weights = read_weights(weights)
    return build_module(with_deform_decisions(graph), weights, seed, source)


def weight_arrays(graph: Graph, weights=None, seed: int = 0) -> dict:
    """The network's weights as numpy arrays keyed by ``state_dict`` names:
    from ``weights`` (a state_dict or a ``.pt``/``.safetensors`` path,
    checked against the graph) or initialised from ``seed`` (with numpy:
    torch is imported only to read or check ``weights``)."""
    if weights is None:
        from .backends.seeded import seeded_weights

        return seeded_weights(with_deform_decisions(graph), seed)
    module = to_torch(graph, weights, seed)
    return {key: value.detach().cpu().numpy() for key, value in module.state_dict().items()}


def import_onnx(path: str, input_shape=None, folded: dict[str, int] | None = None):
    """(graph, weights as numpy arrays) of an ONNX model made elsewhere;
    ``input_shape`` (C, H, W or N, C, H, W) fixes a dynamic input size and
    ``folded`` receives the ONNX nodes that became no layer, by op type."""
    from .backends.onnx.importer import import_onnx as read

    return read(path, input_shape, folded)


def to_onnx(graph: Graph, weights=None, seed: int = 0) -> bytes:
    """The network as a serialized ONNX model (checked), with the weights of
    :func:`to_torch`; quantized layers take their activation ranges from the
    weights' ``LAYER.act_range`` entries (those missing are calibrated, see
    ``backends/onnx/export_quant.py``)."""
    from .backends.onnx.export import to_onnx as emit
    from .backends.onnx.export_quant import split_ranges
    from .backends.quant import RANGE_SUFFIX
    from .backends.torch.module import build_module, read_weights

    graph = with_deform_decisions(graph)
    source = weights if isinstance(weights, str) else "<weights>"
    weights = read_weights(weights) if isinstance(weights, str) else weights
    _, ranges = split_ranges(weights)
    module = build_module(graph, weights, seed, source, ranges_optional=True)
    arrays = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items() if not k.endswith(RANGE_SUFFIX)}
    return emit(graph, {**arrays, **ranges}, seed).SerializeToString()
