"""The 8-bit HLS C simulation of ResNet-18 (examples/resnet18_int8.seg:
8-bit integer weights with per-channel scales, 8-bit activations, Ultra96
target) against the numpy integer reference and against float torch.

For each seed (the weights and a standard normal input from it): the C
simulation's largest difference from the integer reference (goal: 0, bit
exact), its error against float torch, and whether the class (argmax of
the 1,000 logits) agrees with float torch's.  Exit status 1 unless every
run is bit-exact.

    .venv/bin/python benchmarks/hls_int8.py [--seeds 5] [--threads 1] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import segc
from segc.hls import HlsOptions, simulate

ROOT = Path(__file__).resolve().parent.parent


def one_seed(graph, seed: int, threads: int) -> dict:
    result = simulate(graph, HlsOptions(seed=seed), threads=threads)
    out = result["outputs"][0]
    return {"seed": seed, "int_ref_max_abs_error": out["int_ref_max_abs_error"],
            "max_abs_error": out["max_abs_error"], "max_rel_error": out["max_rel_error"],
            "class_agrees": out["argmax_agreement"] == 1.0, "saturated": result["saturated"],
            "csim_s": result["run_s"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    graph = segc.load(str(ROOT / "examples" / "resnet18_int8.seg"))
    runs = [one_seed(graph, seed, args.threads) for seed in range(args.seeds)]
    print("ResNet-18 224x224, 8-bit int weights and activations (Ultra96), C simulation:")
    for run in runs:
        print(f"  seed {run['seed']}: integer reference max abs error {run['int_ref_max_abs_error']:g}; against "
              f"float torch max abs error {run['max_abs_error']:.3g} (relative {run['max_rel_error']:.3g}), "
              f"class agrees: {run['class_agrees']}; saturated {run['saturated']}; csim {run['csim_s']:.2f} s")
    exact = all(run["int_ref_max_abs_error"] == 0 for run in runs)
    agree = sum(run["class_agrees"] for run in runs)
    print(f"  bit-exact in {sum(r['int_ref_max_abs_error'] == 0 for r in runs)} of {len(runs)} runs; "
          f"class agrees with float torch in {agree} of {len(runs)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
