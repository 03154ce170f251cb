"""segc's public API: load networks, format sources, write artifacts.

>>> import segc
>>> graph = segc.load("examples/resnet18.seg")
>>> sum(layer.macs for layer in segc.summarize(graph))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile

from .dsl import elaborate, load_file, load_text, parse_text
from .dsl.format import format_module
from .dsl.loader import read_source
from .dsl.printer import print_graph
from .ir import Diagnostic, Graph, SegError, serialize

__all__ = ["format_source", "load", "loads", "to_json", "to_seg", "write_atomic"]


def load(path: str, network: str | None = None, warnings: list[Diagnostic] | None = None) -> Graph:
    """The verified graph of a ``.seg`` file's network (the only one, or
    ``network``), or of a segc JSON graph (``.json``)."""
    if path.endswith(".json"):
        return serialize.loads(read_source(path), path)
    return elaborate(load_file(path), network, warnings)


def loads(text: str, path: str = "<string>", network: str | None = None,
          warnings: list[Diagnostic] | None = None) -> Graph:
    """Like :func:`load`, from ``.seg`` text (imports resolve relative to ``path``)."""
    return elaborate(load_text(text, path), network, warnings)


def format_source(text: str, path: str = "<string>") -> str:
    """``.seg`` source in canonical layout (what ``segc fmt`` prints)."""
    return format_module(parse_text(text, path))


def to_seg(graph: Graph) -> str:
    """The graph as flat, self-contained ``.seg`` text."""
    return print_graph(graph)


def to_json(graph: Graph) -> str:
    return serialize.dumps(graph)


def write_atomic(path: str, data: str | bytes, inputs: tuple[str, ...] = ()) -> None:
    """Write a whole file or nothing: a temporary file beside it, then a
    rename.  Refuses to overwrite any of ``inputs``."""
    target = os.path.realpath(path)
    if any(os.path.exists(i) and os.path.realpath(i) == target for i in inputs):
        raise SegError(Diagnostic(f"refusing to overwrite the input file '{path}'; choose another output"))
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise SegError(Diagnostic(f"cannot write '{path}': the folder '{os.path.dirname(path)}' does not exist"))
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, temp = tempfile.mkstemp(prefix=".segc-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            os.replace(temp, target)
        except BaseException:
            os.unlink(temp)
            raise
    except OSError as err:
        raise SegError(Diagnostic(f"cannot write '{path}': {err.strerror or err}")) from None
