"""segc: a compiler for accelerator-aware convolutional networks.

``.seg`` text → graph IR (``segc.ir``) → passes → backends.  The public API
(walked through in ``docs/api.md``)::

    net = segc.load("examples/deeplabv3plus_r18.seg")   # or an .onnx model
    report = net.report(unroll=(16, 32, 4))              # rows, totals, HTML
    pruned = net.prune(0.3).network                      # with its weights
    front = net.search(pop=20, gen=10)                   # Pareto points
    net.to_torch(); net.to_onnx("net.onnx"); net.to_hls("hls/")

:class:`Network` is a :class:`Graph` with these verbs; the graph-level
functions (``to_seg``, ``to_torch``, …) take either.
"""

from __future__ import annotations

import os

from . import api
from .api import format_source, to_json, to_onnx, to_seg, to_torch, to_torch_source, write_atomic
from .ir import Diagnostic, Graph, Node, SegError, Shape, Target, summarize
from .network import Network
from .results import Front, Pruned, Report

__version__ = "0.2.0"

__all__ = [
    "Diagnostic",
    "Front",
    "Graph",
    "Network",
    "Node",
    "Pruned",
    "Report",
    "SegError",
    "Shape",
    "Target",
    "__version__",
    "available_passes",
    "check",
    "format_source",
    "import_onnx",
    "load",
    "loads",
    "summarize",
    "to_json",
    "to_onnx",
    "to_seg",
    "to_torch",
    "to_torch_source",
    "write_atomic",
]


def load(path: str | os.PathLike[str], network: str | None = None, warnings: list[Diagnostic] | None = None,
         sources: list[str] | None = None) -> Network:
    """The verified network of a ``.seg`` file (the only one, or ``network``),
    a segc JSON graph (``.json``) or an ONNX model (``.onnx``, with its
    weights); ``path`` a string or a path object.  ``warnings`` and
    ``sources`` receive what loading warned about and every file read."""
    found: list[Diagnostic] = []
    path = os.fspath(path)
    if path.endswith(".onnx"):
        graph, weights = api.import_onnx(path)
        if sources is not None:
            sources.append(path)
        return Network.of(graph, weights, path)
    graph = api.load(path, network, found, sources)
    if warnings is not None:
        warnings.extend(found)
    return Network.of(graph, None, path, found)


def loads(text: str, path: str = "<string>", network: str | None = None,
          warnings: list[Diagnostic] | None = None) -> Network:
    """Like :func:`load`, from ``.seg`` text (imports resolve relative to ``path``)."""
    found: list[Diagnostic] = []
    graph = api.loads(text, path, network, found)
    if warnings is not None:
        warnings.extend(found)
    return Network.of(graph, None, None if path.startswith("<") else path, found)


def import_onnx(path: str, input_shape: tuple[int, ...] | None = None,
                folded: dict[str, int] | None = None) -> tuple[Network, dict]:
    """(network, weights as numpy arrays) of an ONNX model made elsewhere.
    ``input_shape`` (C, H, W or N, C, H, W) fixes an input size the model
    leaves dynamic; ``folded`` receives the ONNX nodes folded away (constants,
    shape arithmetic, pass-throughs), counted by op type."""
    graph, weights = api.import_onnx(path, input_shape, folded)
    return Network.of(graph, weights, path), weights


def check(path: str, network: str | None = None) -> list[Diagnostic]:
    """Every error and warning of a ``.seg`` file, without raising: empty
    when the file is clean.  ``diagnostic.render()`` gives the
    ``file:line:col: message`` text with the line and a caret."""
    warnings: list[Diagnostic] = []
    try:
        api.load(path, network, warnings)
    except SegError as err:
        return [*err.diagnostics, *warnings]
    return warnings


def available_passes() -> dict[str, type]:
    """The registered passes by name (for :meth:`Network.run`'s pipeline
    strings), each a dataclass whose fields are its options."""
    from .passes.registry import PASSES

    return dict(PASSES)
