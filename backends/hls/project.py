"""``segc export --to hls``: a self-contained HLS C++ project.

Files: ``network.h``/``network.cpp`` (generated: one configuration struct
per layer, one kernel call per layer not fused into a convolution's
epilogue (``fusion``), constants from the IR), ``include/`` (the
hand-written kernel library, ``lib/``), ``tb.cpp`` (the C-simulation
test bench), ``params.bin`` (parameters in 16-bit words, each tensor at
its width), ``config.json`` (formats,
tiles, addresses), ``build.sh`` (g++) and ``vitis_hls.tcl`` (Vitis HLS);
with the ``cost`` pass's annotations also ``layer_config.h``/``.json``, the
PipeCNN-style layer table (``config``) with these 16-bit formats.
The graph must carry the ``tile`` pass's annotations; weights are float
arrays by ``state_dict`` name, maxima the calibrated largest magnitudes of
layer outputs.  Generation is deterministic and needs no torch.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ...ir import Graph
from . import config as hls_config
from .context import Context, Lowered
from .formats import activation_formats
from .fusion import fuse, fusion_chains, unstored
from .lower import HLS_LOWERING, unsupported
from .lower_conv import offset_words
from .memory import plan_memory
from .render import network_identifier, render_build, render_config, render_header, render_source, render_tcl
from .scales import activation_scales

__all__ = ["CXX_FLAGS", "LIBRARY", "generate", "library_files"]

LIBRARY = Path(__file__).parent / "lib"
CXX_FLAGS = ("-std=c++17", "-Wall", "-Wno-unknown-pragmas", "-Wno-unused-label", "-Iinclude")


def library_files() -> dict[str, bytes]:
    """The kernel library and the test bench, as the project holds them."""
    files = {f"include/{p.name}": p.read_bytes() for p in sorted(LIBRARY.glob("*.h"))}
    files["tb.cpp"] = (LIBRARY / "segc_tb.cpp").read_bytes()
    return files


def _check_supported(graph: Graph) -> None:
    for node in graph.nodes():
        if node.op not in HLS_LOWERING:
            raise unsupported(node)


def generate(graph: Graph, weights: dict[str, np.ndarray], maxima: dict[str, float],
             offset_max: dict[str, float] | None = None, headroom: int = 1,
             fixed: dict[str, int] | None = None, calibration: dict | None = None) -> dict[str, bytes]:
    """The project's files (path → bytes)."""
    _check_supported(graph)
    scratch = {n.name: offset_words(n) for n in graph.nodes() if n.op == "dconv"}
    chains = fusion_chains(graph) if all("cost" in n.annotations for n in graph.nodes()) else {}
    skipped = unstored(graph, chains)
    plan = plan_memory(graph, scratch, chains, skipped)
    formats = activation_formats(graph, plan.owner, maxima, headroom, fixed)
    ctx = Context(graph, plan, formats, weights, offset_max, headroom,
                  activation_scales(graph, plan.owner, formats, maxima))
    lowered: dict[str, Lowered] = {}
    for node in graph.nodes():
        lower = HLS_LOWERING[node.op]
        if lower is not None:
            lowered[node.name] = lower(ctx, node)
            for call in lowered[node.name].calls:
                call.config.setdefault("BITS", ctx.bits(node.name))
    for head, chain in chains.items():
        lowered[head] = fuse(ctx, head, lowered, chain, skipped)
    top = f"{network_identifier(graph)}_top"
    config = render_config(ctx, lowered, maxima, {"headroom_bits": headroom, **(calibration or {})})
    files = {
        "network.h": render_header(ctx, top).encode(),
        "network.cpp": render_source(ctx, lowered, top).encode(),
        "params.bin": ctx.image(),
        "config.json": (json.dumps(config, indent=1, allow_nan=False) + "\n").encode(),
        "build.sh": render_build(graph, CXX_FLAGS).encode(),
        "vitis_hls.tcl": render_tcl(graph, top).encode(),
    }
    if all("cost" in n.annotations for n in graph.nodes()):
        files.update(_layer_table(graph, ctx))
    files.update(library_files())
    return files


def _layer_table(graph: Graph, ctx: Context) -> dict[str, bytes]:
    """``layer_config.h``/``.json`` with the project's formats (16-bit words)."""
    table = graph.copy()
    table.target = dataclasses.replace(graph.target, word_bits=16)
    fracs = {n.name: ctx.frac(n.name) for n in graph.nodes()}
    weight_fracs = {name: keys["weight"]["frac"] for name, keys in ctx.params.items()
                    if "frac" in keys.get("weight", {})}  # integer-scheme weights have scales instead
    formats = (fracs, weight_fracs)
    requant = {name: keys["requant"] for name, keys in ctx.params.items() if "requant" in keys}
    return {"layer_config.h": hls_config.to_header(table, formats).encode(),
            "layer_config.json": hls_config.to_json(table, formats, requant).encode()}
