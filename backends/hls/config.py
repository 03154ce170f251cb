"""``hls-config``: the per-layer table an accelerator host program needs, as
JSON and as a C header in the style of PipeCNN's ``layer_config.h`` (the
accelerator of Mori et al. extends PipeCNN).

One accelerator layer is a convolution (or linear, or deformable) layer with
what the ``cost`` pass fused into its pipeline (batch norm, ReLU, max
pooling, a residual add), or one streaming op (upsample, average pooling, an
unfused add, pooling or activation).  Free ops (concat, flatten, inputs,
outputs) are not layers: their consumers read their producers directly.

Fixed-point formats: with no weights or activation statistics known yet,
weights get one integer bit (``frac_w = word − 2``, values in [−2, 2)) and
activations eight (``frac = word − 9``, values in [−256, 256)); these are the
defaults a calibration of ranges replaces: given the fraction bits of every
layer's output and of the weights (the HLS C++ backend's calibrated formats),
``frac_din`` is the head's input's, ``frac_dout`` the last fused layer's and
``frac_w`` the head's weights'.

The C header keeps PipeCNN's 25 leading fields, in its order, then adds
segc's: ``memrd_src``/``memwr_dst`` hold the producing layer's index + 1 (0
for the network input) instead of PipeCNN's buffer numbers.  A deformable
layer's variant (the deform pass's decision, else its attributes):
``deform_bound`` the offset bound in 2^-8 pixel units (rounded half up; 0:
unbounded), ``deform_square`` (1: one scale per pixel, 0: full offsets),
``deform_round`` (1: rounded offsets, 0: bilinear), ``deform_groups`` the
offset groups; the JSON also holds the variant exactly under ``deform``.

Number formats: ``w_bits``/``a_bits`` are the head's weight and output
widths (``ir.quant.widths`` on the target; ``w_bits`` 0 without weights)
and ``int_scheme`` is 1 for a layer of the integer scheme (``quantize``
section's ``scheme=int``): its weights are integers with one scale per
output channel, so its ``frac_w`` is 0 (products are integers) and its sum
is requantized by a per-channel multiplier and shift; the JSON gives the
scheme (``scheme``) and, from an HLS project's weights, the table itself
(``requant``: per channel ``bias`` in the sum's units, ``m``, ``shift``, as
``config.json``'s parameters; the generated source holds it as the table
``<layer>_rq``).

The JSON also gives the resource estimate of its kernel (``resources``: DSPs, RAM blocks, LUTs,
flip-flops, ``passes/resources.py``), and the design's totals against the
target's budget (docs/quantization.md, "Resources").
"""

from __future__ import annotations

import json
import math
from typing import Any

from ...ir import Diagnostic, Graph, Node, SegError, conv_pads
from ...ir.dconv_plan import dconv_variant
from ..literals import c_comment
from ..report.resources import resource_totals

__all__ = ["FIELDS", "LAYER_TYPES", "hls_layers", "to_header", "to_json"]

LAYER_TYPES = {"conv": 0, "linear": 1, "dconv": 2, "upsample": 3, "avgpool": 4, "maxpool": 5, "add": 6,
               "bn": 7, "relu": 8, "relu6": 8, "sigmoid": 8, "identity": 8, "mean": 4, "mul": 6, "sub": 6,
               **dict.fromkeys(("hardsigmoid", "hardswish", "silu", "leakyrelu", "tanh", "clip", "div", "softmax"), 8)}
LAYER_TYPES.update(deconv=9, shuffle=10)  # a transposed convolution; a channel shuffle (streamed)
PIPECNN_FIELDS = (
    "layer_type", "data_w", "data_h", "data_n", "weight_w", "weight_h", "weight_n", "weight_m", "bias_size",
    "memrd_src", "conv_x", "conv_y", "conv_z", "conv_stride", "conv_padding", "conv_split", "conv_relu",
    "pool_on", "pool_x", "pool_y", "pool_z", "pool_size", "pool_stride", "lrn_on", "memwr_dst",
)
SEGC_FIELDS = ("conv_dilation", "tile_x", "tile_y", "bn_on", "eltwise_on", "eltwise_src", "upsample_on",
               "upsample_bilinear", "frac_w", "frac_din", "frac_dout", "deform_bound", "deform_square",
               "deform_round", "deform_groups", "w_bits", "a_bits", "int_scheme")
BOUND_UNIT_BITS = 8  # deform_bound in 2^-8 pixels
FIELDS = PIPECNN_FIELDS + SEGC_FIELDS


def _groups(graph: Graph) -> list[tuple[Node, list[Node]]]:
    """(head, fused followers) for every accelerator layer, in order."""
    groups: list[tuple[Node, list[Node]]] = []
    owner: dict[str, int] = {}
    for node in graph.nodes():
        cost = node.annotations.get("cost")
        if cost is None:
            raise SegError(Diagnostic(f"layer '{node.name}' has no cost; run the 'tile' and 'cost' passes first"))
        if cost["rule"] in ("fused", "residual"):
            index = owner[node.inputs[0]]
            groups[index][1].append(node)
            owner[node.name] = index
        elif cost["rule"] in ("conv", "stream"):
            owner[node.name] = len(groups)
            groups.append((node, []))
    return groups


def _source(graph: Graph, name: str, owner: dict[str, int]) -> int:
    """Index + 1 of the layer producing ``name`` (0: the input), looking
    through free ops."""
    node = graph.node(name)
    while node.name not in owner and node.op in ("flatten", "concat") and node.inputs:
        node = graph.node(node.inputs[0])
    return owner[node.name] + 1 if node.name in owner else 0


def _formats(head: Node, fused: list[Node], formats: tuple[dict, dict] | None) -> dict[str, int]:
    if formats is None:
        return {}
    fracs, weight_fracs = formats
    found = {"frac_din": fracs[head.inputs[0]], "frac_dout": fracs[(fused[-1] if fused else head).name]}
    if head.name in weight_fracs:
        found["frac_w"] = weight_fracs[head.name]
    return found


def _widths(head: Node) -> dict[str, int]:
    """The head's widths (the cost pass's, on the real target) and scheme; an
    int-scheme layer's integer weights have no fraction bits."""
    cost, scheme = head.annotations["cost"], head.quant.scheme if head.quant is not None else "fixed"
    fields = {"w_bits": cost["w_bits"] or 0, "a_bits": cost["a_bits"], "int_scheme": int(scheme == "int")}
    return {**fields, "frac_w": 0} if scheme == "int" and cost["w_bits"] else fields


def _layer(graph: Graph, head: Node, fused: list[Node], owner: dict[str, int], word: int,
           formats: tuple[dict, dict] | None = None, requant: dict | None = None) -> dict[str, Any]:
    x = graph.input_shapes(head)[0]
    out = fused[-1].shape if fused else head.shape
    a = head.attrs
    row = dict.fromkeys(FIELDS, 0)
    row.update(layer_type=LAYER_TYPES[head.op], data_w=x.w, data_h=x.h, data_n=x.c,
               memrd_src=_source(graph, head.inputs[0], owner), conv_x=head.shape.w, conv_y=head.shape.h,
               conv_z=head.shape.c, frac_w=word - 2, frac_din=word - 9, frac_dout=word - 9)
    row.update(_formats(head, fused, formats))
    row.update(_widths(head))
    if head.op in ("conv", "dconv", "linear"):
        k, stride = a.get("k", (1, 1)), a.get("stride", (1, 1))
        row.update(weight_w=k[1], weight_h=k[0], weight_n=x.c // a.get("groups", 1), weight_m=head.shape.c,
                   bias_size=head.shape.c if a["bias"] else 0, conv_stride=stride[1],
                   conv_padding=conv_pads(a)[1] if head.op != "linear" else 0, conv_split=a.get("groups", 1),
                   conv_dilation=a.get("dilation", (1, 1))[1])
        tile = head.annotations["cost"].get("tile") or [1, 1]
        row.update(tile_x=tile[0], tile_y=tile[1])
    cost = head.annotations["cost"]
    extra: dict[str, Any] = {"scheme": "int" if row["int_scheme"] else "fixed", "resources": cost["resources"]}
    if requant and head.name in requant:
        extra["requant"] = requant[head.name]
    if head.op == "dconv":
        variant = dconv_variant(head)
        bound = variant["bound"]
        row.update(deform_bound=0 if bound is None else math.floor(bound * 2**BOUND_UNIT_BITS + 0.5),
                   deform_square=int(variant["shape"] == "square"), deform_round=int(variant["round"]),
                   deform_groups=a["offset_groups"])
        extra["deform"] = {**variant, "offset_groups": a["offset_groups"]}
    if head.op == "upsample":
        row.update(upsample_on=1, upsample_bilinear=int(a["mode"] == "bilinear"))
    for node in fused:
        if node.op in ("relu", "relu6"):
            row["conv_relu"] = 1
        elif node.op == "bn":
            row["bn_on"] = 1
        elif node.op == "maxpool":
            row.update(pool_on=1, pool_x=node.shape.w, pool_y=node.shape.h, pool_z=node.shape.c,
                       pool_size=node.attrs["k"][1], pool_stride=node.attrs["stride"][1])
        elif node.op == "add":
            row.update(eltwise_on=1, eltwise_src=_source(graph, node.inputs[1], owner))
    return {"name": head.name, "fused": [n.name for n in fused], "output": list(out), **row, **extra}


def hls_layers(graph: Graph, formats: tuple[dict, dict] | None = None,
               requant: dict | None = None) -> list[dict[str, Any]]:
    """The accelerator layers with their configuration fields; ``formats``:
    (fraction bits of every layer's output, of every layer's weights);
    ``requant``: int-scheme layer → its requantization table."""
    groups = _groups(graph)
    owner = {head.name: i for i, (head, fused) in enumerate(groups)}
    owner.update({n.name: i for i, (_, fused) in enumerate(groups) for n in fused})
    return [_layer(graph, head, fused, owner, graph.target.word_bits, formats, requant) for head, fused in groups]


def to_json(graph: Graph, formats: tuple[dict, dict] | None = None, requant: dict | None = None) -> str:
    u = graph.target.unroll
    data = {"format": "segc.hls-config", "version": 1, "network": graph.name, "target": graph.target.name,
            "unroll": {"pif": u.pif, "pof": u.pof, "pkx": u.pkx, "pky": u.pky}, "word_bits": graph.target.word_bits,
            "layers": hls_layers(graph, formats, requant), "resources": resource_totals(graph)}
    return json.dumps(data, indent=1, allow_nan=False) + "\n"


def to_header(graph: Graph, formats: tuple[dict, dict] | None = None) -> str:
    layers = hls_layers(graph, formats)
    u, first = graph.target.unroll, graph.inputs[0].shape
    guard = "SEGC_LAYER_CONFIG_H"
    lines = [
        f"/* Layer configuration of {c_comment(graph.name)} on {c_comment(graph.target.name)}, generated by segc. */",
        f"#ifndef {guard}", f"#define {guard}", "",
        f"#define LAYER_NUM {len(layers)}", f"#define NUM_CONFIG_ITEM {len(FIELDS)}",
        f"#define P_IF {u.pif}", f"#define P_OF {u.pof}", f"#define P_KX {u.pkx}", f"#define P_KY {u.pky}", "",
        "enum config_item {", *[f"    {name}," for name in FIELDS], "};", "",
        f"static const unsigned input_config[3] = {{{first.w}, {first.h}, {first.c}}};",
        "static const unsigned layer_config[LAYER_NUM][NUM_CONFIG_ITEM] = {",
    ]
    for i, layer in enumerate(layers):
        values = ", ".join(str(int(layer[name])) for name in FIELDS)
        lines.append(f"    {{{values}}},  /* {i}: {c_comment(layer['name'])} */")
    lines += ["};", "", f"#endif /* {guard} */", ""]
    return "\n".join(lines)
