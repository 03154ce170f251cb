"""Accuracy of quantized ``examples/tiny_seg.seg`` on the synthetic segmentation data.

The float network is trained as ``benchmarks/finetune.py`` does (256 training samples,
seed 0, SGD lr 0.1, 5 epochs, batches of 16); then, on the same weights:

* post-training quantization (PTQ): activation ranges calibrated on 64 training samples
  (``segc quantize … --samples 64 [--range R]``), every layer at 8-bit int (per-channel
  weights) or 8-bit fixed point, and 4-bit weights / 8-bit activations (int);
* quantization-aware fine-tuning (QAT) at 4-bit weights / 8-bit activations: ranges
  calibrated first (max, 64 samples) and kept, then ``--qat-epochs`` epochs of SGD through
  fake quantization at ``--qat-lr`` (``segc finetune`` on the quantized network); and
  both at 2-bit weights / 4-bit activations, where PTQ breaks down.

All scored on the 64 validation samples (seed 1).  Goals: 8-bit PTQ loses at most 1 mIoU
point, QAT at w4/a8 at most 3; exit status 1 when one fails.

    .venv/bin/python benchmarks/quantize.py [--threads 1] [--qat-epochs 2] [--qat-lr 0.01] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

import segc
from segc.quantization import float_weights, quantized_module
from segc.train.data import network_task, open_dataset
from segc.train.finetune import evaluate, finetune

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tiny_seg.seg"
SCHEMES = {  # row: (quantize rule options, range rule, QAT)
    "PTQ int w8/a8, max": ("w=8, a=8, scheme=int", "max", False),
    "PTQ int w8/a8, percentile 99.99": ("w=8, a=8, scheme=int", "percentile:99.99", False),
    "PTQ fixed w8/a8, max": ("w=8, a=8, scheme=fixed", "max", False),
    "PTQ int w4/a8, max": ("w=4, a=8, scheme=int", "max", False),
    "QAT int w4/a8, max": ("w=4, a=8, scheme=int", "max", True),
    "PTQ int w2/a4, max": ("w=2, a=4, scheme=int", "max", False),  # where fine-tuning has something to recover
    "QAT int w2/a4, max": ("w=2, a=4, scheme=int", "max", True),
}


def _quantized(text: str, options: str):
    return segc.loads(f"{text}\nquantize tiny_seg {{\n    *: {options}\n}}\n", str(EXAMPLE))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--qat-epochs", type=int, default=2)
    parser.add_argument("--qat-lr", type=float, default=0.01)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    text = EXAMPLE.read_text()
    graph = segc.loads(text, str(EXAMPLE))
    task, classes, shape = network_task(graph)
    train = open_dataset("synthetic", "train", task, classes, shape)
    val = open_dataset("synthetic", "val", task, classes, shape)
    module = segc.to_torch(graph, seed=0)
    finetune(module, train, 5, 0.1, 16, seed=0)
    weights = float_weights(module.state_dict())
    rows = {"float": {"miou": evaluate(module, val, task, classes)["miou"], "seconds": 0.0}}
    for name, (options, rule, qat) in SCHEMES.items():
        start = time.perf_counter()
        quantized = quantized_module(_quantized(text, options), weights, train, rule, samples=64)
        if qat:
            finetune(quantized, train, args.qat_epochs, args.qat_lr, 16, seed=0)
        rows[name] = {"miou": evaluate(quantized, val, task, classes)["miou"], "seconds": time.perf_counter() - start}
    base = rows["float"]["miou"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; QAT {args.qat_epochs} epochs, SGD lr "
          f"{args.qat_lr:g}")
    print("| network | mIoU | change (points) | calibration (+ QAT) s |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['miou']:.4f} | {(row['miou'] - base) * 100:+.2f} | {row['seconds']:.1f} |")
    goals = {"PTQ w8/a8 loses <= 1 point": base - rows["PTQ int w8/a8, max"]["miou"] <= 0.01,
             "QAT w4/a8 loses <= 3 points": base - rows["QAT int w4/a8, max"]["miou"] <= 0.03}
    print("goals: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in goals.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "goals": goals}, indent=1))
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
