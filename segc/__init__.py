"""segc: a compiler for accelerator-aware convolutional networks.

``.seg`` text → graph IR (``segc.ir``) → passes → backends.  The functions
here are the public API; ``segc.ir`` holds the types they return.
"""

from .api import (
    format_source,
    import_onnx,
    load,
    loads,
    to_json,
    to_onnx,
    to_seg,
    to_torch,
    to_torch_source,
    write_atomic,
)
from .ir import Graph, Node, SegError, Shape, Target, summarize

__version__ = "0.1.0"

__all__ = [
    "Graph",
    "Node",
    "SegError",
    "Shape",
    "Target",
    "__version__",
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
