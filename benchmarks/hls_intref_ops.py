"""The HLS C simulation against the integer reference, layer by layer, for
the ops it covers beyond conv/linear: dconv (bilinear, rounded, bounded,
square, grouped, depthwise), deconv, shuffle and the pointwise ops, in small
networks (8 channels, 8x8) at 16 and 8 bits in fixed point and with
integer-scheme weights (8 and 4 bits); then whole example networks
(``--examples``: MobileNetV3-small, EfficientNet-B0, the CoDeNet detector as
written and every layer int8, U-Net int8), their outputs against the
reference.

Per run (network, format, seed: the weights, deformable offsets moved by up
to ±2.5 pixels with random fractions, and a normal input scaled by 3 from
it): the layers traced and how many equal the reference word for word.  Exit
status 1 unless every layer of every run is bit-exact.

    .venv/bin/python benchmarks/hls_intref_ops.py [--seeds 3] [--examples] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import segc
from segc.backends.hls.intref import integer_reference, tensor_values
from segc.backends.hls.reference import build_reference
from segc.backends.hls.sim import compile_project, run_testbench, write_project
from segc.hls import HlsOptions, build_project, simulate
from segc.ir import SegError
from segc.ir.quant import QuantRule, apply_quantize

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = {
    "pointwise": """
    a = image -> conv(8, k=3, bias=true) -> bn
    output s = a -> sigmoid
    output t = a -> tanh
    output si = image -> silu
    output hs = a -> hardswish
    output hsig = image -> hardsigmoid
    output lr = a -> leakyrelu(0.2)
    output cl = a -> clip(max=0.75)
    output dv = image -> div(-2.5)
    output sm = image -> softmax
    output sc = mul(a, a -> mean)
    output df = sub(a, image)
    output sh = a -> shuffle(4)
    output dc = a -> deconv(6, k=4, stride=2, padding=1, bias=true)
    output dw = image -> deconv(8, k=3, stride=2, groups=8, dilation=2)""",
    "dconv": """
    output full = image -> dconv(8, k=3, bias=true)
    output bounded = image -> dconv(8, k=3, bound=2.5, stride=2, offset_groups=2)
    output rounded = image -> dconv(8, k=3, bound=1, round=true, dilation=2)
    output unbounded_rounded = image -> dconv(4, k=3, round=true, groups=2)
    output square = image -> dconv(8, k=3, shape="square", bound=2, groups=8)
    output square_rounded = image -> dconv(8, k=3, shape="square", bound=2, round=true, offset_groups=4)
    output depthwise = image -> dconv(8, k=3, groups=8, offset_groups=8, bound=1.5) -> hardswish""",
}
FORMATS = ("*: w=16, a=16, scheme=fixed", "*: w=8, a=8, scheme=fixed", "*: w=8, a=8, scheme=int",
           "*: w=4, a=8, scheme=int")
EXAMPLES = (("mobilenetv3_small.seg", None), ("efficientnet_b0.seg", None), ("codenet_shufflenet.seg", None),
            ("codenet_shufflenet.seg", 8), ("unet_small.seg", 8))  # (file, every layer int-scheme at w=a=N)


def _graph(body: str, quantize: str) -> segc.Graph:
    text = (f'import "targets/ultra96.seg"\nnetwork n on ultra96_codenet {{\n    input image: [8, 8, 8]\n{body}\n}}\n'
            f"quantize n {{\n    {quantize}\n}}\n")
    return segc.loads(text, str(ROOT / "examples" / "intref_ops.seg"))


def _weights(graph: segc.Graph, seed: int) -> dict:
    """Seeded weights; offset branches with small weights and biases that move
    samples by up to ±2.5 pixels (square scales 0.5 … 2.5)."""
    state = build_reference(graph, None, seed).state_dict()
    generator = torch.Generator().manual_seed(seed)
    for key in [k for k in state if k.endswith("offset.weight")]:
        state[key] = torch.randn(state[key].shape, generator=generator) * 0.01
        bias = key[: -len("weight")] + "bias"
        state[bias] = torch.rand(state[bias].shape, generator=generator) * 5 - 2.5
        if state[key].shape[2] == 1:  # square: scales around 1.5
            state[bias] = state[bias] / 2.5 + 1.5
    return state


def one_run(name: str, quantize: str, seed: int) -> dict:
    graph = _graph(NETWORKS[name], quantize)
    x = 3 * np.random.default_rng(seed).standard_normal((1, *graph.inputs[0].shape)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="segc-intref-") as folder:
        np.save(Path(folder) / "x.npy", x)
        files, _ = build_project(graph, HlsOptions(weights=_weights(graph, seed), input=str(Path(folder) / "x.npy")))
        config = json.loads(files["config.json"])
        write_project(files, folder)
        compile_project(folder, "-O1")
        _, counts, _, traced = run_testbench(folder, config, trace=True, threads=1)
    words = integer_reference(graph, config, np.frombuffer(files["params.bin"], dtype="<i2"), {"image": x[0]},
                              every_layer=True)
    entries = {entry["name"]: entry for entry in config["layers"]}
    exact = [np.array_equal(values, tensor_values(words[layer], entries[layer]).reshape(values.shape))
             for layer, values in traced.items()]
    return {"network": name, "quantize": quantize, "seed": seed, "layers": len(exact), "bit_exact": sum(exact),
            "words": int(sum(v.size for v in traced.values())), "saturated": counts["saturated"]}


def whole_network(file: str, int_bits: int | None) -> dict:
    graph = segc.load(str(ROOT / "examples" / file))
    if int_bits is not None:
        apply_quantize(graph, [QuantRule("*", (("w", int_bits), ("a", int_bits), ("scheme", "int")))])
    name = file if int_bits is None else f"{file} (*: w={int_bits}, a={int_bits}, scheme=int)"
    try:
        result = simulate(graph, HlsOptions(), threads=1)
    except SegError as err:  # a network the backend refuses, reported as such
        return {"network": name, "int_ref": f"refused: {err.diagnostics[0].message}", "int_ref_max_abs_error": [],
                "bits": [], "saturated": 0}
    errors = [out["int_ref_max_abs_error"] for out in result["outputs"]]
    return {"network": name, "int_ref": result["int_ref"], "int_ref_max_abs_error": errors,
            "bits": sorted({out["bits"] for out in result["outputs"]}), "saturated": result["saturated"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--examples", action="store_true", help="also the whole example networks")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    runs = [one_run(name, quantize, seed) for name in NETWORKS for quantize in FORMATS for seed in range(args.seeds)]
    print("| network | format | seed | layers bit-exact | words | saturated |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for run in runs:
        print(f"| {run['network']} | {run['quantize']} | {run['seed']} | {run['bit_exact']} of {run['layers']} "
              f"| {run['words']:,} | {run['saturated']} |")
    examples = [whole_network(*example) for example in EXAMPLES] if args.examples else []
    for row in examples:
        print(f"{row['network']}: {row['bits']}-bit outputs, integer reference {row['int_ref']}, max abs error "
              f"{row['int_ref_max_abs_error']}, saturated {row['saturated']}")
    exact_examples = [row for row in examples
                      if row["int_ref"] == "computed" and all(e == 0 for e in row["int_ref_max_abs_error"])]
    exact = all(r["bit_exact"] == r["layers"] for r in runs) and len(exact_examples) == len(examples)
    print(f"bit-exact: {sum(r['bit_exact'] == r['layers'] for r in runs)} of {len(runs)} runs"
          + (f", {len(exact_examples)} of {len(examples)} example networks" if examples else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "examples": examples}, indent=1) + "\n")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
