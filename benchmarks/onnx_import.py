"""Time of ``segc import`` on a 100-layer ONNX model.

Goal: ``segc import`` of a 100-layer model stays under 2 s (the whole
process: start-up, reading, folding, checking, writing .seg and
.safetensors).  The model is a conv-bn-relu chain written the way
PyTorch's TorchScript exporter writes one: every convolution's weight and
bias behind an ``Identity`` node.  Each run is a fresh process; the median
of ``--runs`` (after one warm-up run) is reported, with the in-process
import time alone.  Exit status 1 when the median is over ``--limit``:

    .venv/bin/python benchmarks/onnx_import.py [--blocks 34] [--runs 7] [--limit 2.0]

Bytecode is cached (in a temporary PYTHONPYCACHEPREFIX) as an installed
package's would be.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def chain_model(blocks: int, channels: int = 32, size: int = 64) -> onnx.ModelProto:
    """``blocks`` × (conv 3×3, batch norm, ReLU), initializers behind Identity."""
    rng = np.random.default_rng(0)
    nodes, initializers, x = [], [], "x"
    for i in range(blocks):
        cin = 3 if i == 0 else channels
        params = {"w": rng.standard_normal((channels, cin, 3, 3)) * 0.1, "b": np.zeros(channels),
                  "scale": np.ones(channels), "shift": np.zeros(channels), "mean": np.zeros(channels),
                  "var": np.ones(channels)}
        for key, value in params.items():
            initializers.append(numpy_helper.from_array(value.astype(np.float32), f"onnx::{key}_{i}"))
        wrapped = {k: f"/blocks.{i}/{k}_id" for k in params}
        nodes += [helper.make_node("Identity", [f"onnx::{k}_{i}"], [v], name=f"Identity_{i}_{k}")
                  for k, v in wrapped.items()]
        nodes += [
            helper.make_node("Conv", [x, wrapped["w"], wrapped["b"]], [f"c{i}"], name=f"/blocks.{i}/conv/Conv",
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", [f"c{i}", *(wrapped[k] for k in ("scale", "shift", "mean", "var"))],
                             [f"n{i}"], name=f"/blocks.{i}/bn/BatchNormalization"),
            helper.make_node("Relu", [f"n{i}"], [f"r{i}"], name=f"/blocks.{i}/relu/Relu"),
        ]
        x = f"r{i}"
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                            ["n", 3, size, size])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["n", channels, size, size])],
                              initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=34, help="conv-bn-relu blocks (34: 102 layers)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--limit", type=float, default=2.0, help="seconds the median may take")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "chain.onnx"
        model.write_bytes(chain_model(args.blocks).SerializeToString())
        env = {**os.environ, "PYTHONPYCACHEPREFIX": str(Path(folder) / "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        runs = []
        for i in range(args.runs + 1):  # the first run warms the bytecode cache
            output = Path(folder) / f"out{i}.seg"
            runs.append(timed([sys.executable, "-m", "segc", "import", str(model), "-o", str(output)], env))
        median = statistics.median(runs[1:])
        import segc

        start = time.perf_counter()
        folded: dict[str, int] = {}
        network, _ = segc.import_onnx(str(model), folded=folded)
        in_process = time.perf_counter() - start
    verdict = "PASS" if median <= args.limit else "FAIL"
    print(f"model: {args.blocks} conv-bn-relu blocks, {len(network) - 2} layers (+ input and output), "
          f"{sum(folded.values())} nodes folded ({folded})")
    print(f"segc import (fresh process): median {median:.3f} s of {args.runs} runs "
          f"[{min(runs[1:]):.3f} … {max(runs[1:]):.3f}]; limit {args.limit} s: {verdict}")
    print(f"import_onnx in process: {in_process:.3f} s")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
