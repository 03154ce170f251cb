"""A tiny tiled network whose names are then replaced by anything at all,
bypassing validation (as a caller building a ``Graph`` by hand could), and
checks that code generated from it keeps those names inside comments and
literals."""

from __future__ import annotations

import ast
import dataclasses
import re

import numpy as np

import segc
from segc.ir import Graph

TINY = """
target board {
    clock = 200 MHz
    bandwidth = 4 GB/s
    dsp = 360
    bram = 216
    bram_block = 36 Kibit
    input_buffer = 64 KiB
    word = 16 bit
    macs_per_dsp = 1
    unroll = {pif: 2, pof: 2, pkx: 1}
}

network tiny on board {
    input x: [3, 8, 8]
    c = x -> conv(4, k=3) -> bn -> relu -> maxpool(k=2)
    up = c -> upsample(2)
    output y = up
}
"""

# Names that attack each language the generated files are written in.
HOSTILE = (
    'x */ extern "C" int system(const char*); static int segc_pwn = system("touch PWNED"); /*',
    "tiny\ntouch PWNED\n",
    "a\"b\\c$(touch PWNED);`touch PWNED`;}{[exec touch PWNED]",
    "'; touch PWNED; echo '",
    "__mangled",
    "\u00e9\u2028\U0001f600\x00\x1b[31m",
    "ends in a backslash\\",
    "",
)


GENERATED = ("network.h", "network.cpp", "layer_config.h", "config.json", "build.sh", "vitis_hls.tcl")


def tiled() -> Graph:
    """The tiny network after the tile and cost passes."""
    from segc.passes.base import run_pipeline
    from segc.passes.cost import CostPass
    from segc.passes.tile import TilePass

    graph, _ = run_pipeline(segc.loads(TINY), [TilePass("paper"), CostPass()])
    return graph


def renamed(graph: Graph, layers: dict[str, str], network: str, target: str) -> Graph:
    """``graph`` with new names, built without any check of them."""
    other = Graph(network, dataclasses.replace(graph.target, name=target), graph.directives)
    for node in graph.nodes():
        new = layers.get(node.name, node.name)
        other.add(dataclasses.replace(node, name=new, inputs=tuple(layers.get(i, i) for i in node.inputs)))
    return other


def layer_map(graph: Graph, names: list[str]) -> dict[str, str]:
    """The graph's layers → ``names`` (``output.NAME`` for outputs), made
    distinct with trailing ``_``."""
    mapping: dict[str, str] = {}
    for node, new in zip(graph.nodes(), names):
        new = f"output.{new}" if node.op == "output" else new
        while new in mapping.values():
            new += "_"
        mapping[node.name] = new
    return mapping


def hls_files(graph: Graph) -> dict[str, str]:
    """The generated text files of the HLS project, with made-up weights."""
    from segc.backends.hls.project import generate

    weights = {}
    for node in graph.nodes():
        if node.op == "conv":
            weights[f"{node.name}.weight"] = np.full((node.shape.c, 3, 3, 3), 0.1)
        elif node.op == "bn":
            for key, value in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
                weights[f"{node.name}.{key}"] = np.full(node.shape.c, value)
    files = generate(graph, weights, dict.fromkeys((n.name for n in graph.nodes()), 1.0))
    return {name: data.decode("utf-8") for name, data in files.items() if name in GENERATED}


_C_INERT = re.compile(r'/\*.*?\*/|"(?:\\.|[^"\\\n])*"', re.DOTALL)
_WORD = re.compile(r"[A-Za-z0-9_]+")


def c_shape(text: str) -> str:
    """C/C++ text less its comments and string literals, every identifier
    and number made ``I``: what a name could change if it escaped."""
    return _WORD.sub("I", _C_INERT.sub("", text))


def script_shape(text: str) -> str:
    """A shell or Tcl script less its comment lines, identifiers made ``I``."""
    return _WORD.sub("I", "\n".join(line for line in text.splitlines() if not line.startswith("#")))


def python_names(source: str) -> set[str]:
    """Every name and attribute the Python source uses (what code that
    escaped a string literal would add to)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(f"import {alias.name}" for alias in node.names)
    return found
