"""Small deformable networks for the deform-pass tests (not a test module):
a target with a given input buffer, line buffer and word, one layer on an
input of a given shape, and the graph after a deform pipeline."""

from __future__ import annotations

from conftest import EXAMPLES

import segc
from segc.passes.base import run_pipeline
from segc.passes.registry import parse_pipeline

__all__ = ["CODENET", "VARIANTS", "deformed", "network", "target"]

CODENET = EXAMPLES / "codenet_layer.seg"
VARIANTS = ("plain", "square", "bounded", "deform")


def target(buffer: str = "4 KiB", rows: int | None = None, word: int = 8) -> str:
    line = f"\n    line_buffer = {rows}" if rows else ""
    return f"""
target t {{
    clock = 100 MHz
    bandwidth = 1 GB/s
    dsp = 1000
    bram = 1000
    bram_block = 36 Kibit
    input_buffer = {buffer}{line}
    word = {word} bit
    macs_per_dsp = 1
    unroll = {{pif: 4, pof: 4, pkx: 3, pky: 3}}
}}
"""


def network(layer: str, shape=(8, 16, 16), **target_args) -> segc.Graph:
    c, h, w = shape
    return segc.loads(target(**target_args) + f"network n on t {{\n input x: [{c}, {h}, {w}]\n"
                      f" output y = x -> {layer}\n}}\n")


def deformed(graph: segc.Graph, spec: str = "deform") -> segc.Graph:
    return run_pipeline(graph, parse_pipeline(spec))[0]
