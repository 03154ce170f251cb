"""Training ``examples/tiny_seg.seg`` from scratch on the synthetic segmentation data.

The recipe (the same as ``segc finetune examples/tiny_seg.seg --data synthetic --epochs 5
--lr 0.1 -o tiny_seg.safetensors``): 256 training samples (seed 0), batches of 16, SGD with
momentum 0.9, learning rate 0.1, 5 epochs, weights initialised from seed 0; scored on the 64
validation samples (seed 1) with :func:`segc.train.finetune.evaluate`.

Reported: the mIoU and pixel accuracy before (random weights) and after training, the
training time, the time to evaluate the 64 validation samples (what an accuracy-driven
pruning search pays per candidate), whether a second run gives bit-identical weights, and
the same recipe on a copy of the network with a quarter of the channels (so the data tell
capacities apart, which a pruning search needs).  Goals: mIoU ≥ 0.80 after training, in
under 60 s, reproducibly; exit status 1 when one fails.

    .venv/bin/python benchmarks/finetune.py [--epochs 5] [--lr 0.1] [--threads N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

import segc
from segc.train.data import network_task, open_dataset
from segc.train.finetune import evaluate, finetune

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tiny_seg.seg"


def _narrow(text: str) -> str:
    return text.replace("cbr(16)", "cbr(4)").replace("cbr(32", "cbr(8")


def _train(graph, args) -> dict:
    task, classes, shape = network_task(graph)
    train = open_dataset("synthetic", "train", task, classes, shape)
    val = open_dataset("synthetic", "val", task, classes, shape)
    module = segc.to_torch(graph, seed=0)
    before = evaluate(module, val, task, classes)
    result = finetune(module, train, args.epochs, args.lr, 16, seed=0, optimizer="sgd")
    start = time.perf_counter()
    after = evaluate(module, val, task, classes)
    eval_s = time.perf_counter() - start
    return {"module": module, "macs": sum(r.macs for r in segc.summarize(graph)), "miou_before": before["miou"],
            "miou": after["miou"], "pixel_accuracy": after["pixel_accuracy"], "train_s": result.seconds,
            "eval_s": eval_s, "losses": result.epoch_losses}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    text = EXAMPLE.read_text()
    full = _train(segc.loads(text, str(EXAMPLE)), args)
    again = _train(segc.loads(text, str(EXAMPLE)), args)
    same = all(torch.equal(a, b) for a, b in zip(full["module"].state_dict().values(),
                                                 again["module"].state_dict().values()))
    narrow = _train(segc.loads(_narrow(text), str(EXAMPLE)), args)
    rows = {"tiny_seg": full, "tiny_seg, 1/4 channels": narrow}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.epochs} epochs, SGD lr {args.lr:g}")
    print("| network | MACs | mIoU before | mIoU after | pixel acc. | train s | eval s (64) |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['macs'] / 1e6:.1f} M | {r['miou_before']:.3f} | {r['miou']:.3f} | "
              f"{r['pixel_accuracy']:.3f} | {r['train_s']:.1f} | {r['eval_s']:.2f} |")
    print(f"epoch losses: {', '.join(f'{x:.3f}' for x in full['losses'])}; second run identical: {same} "
          f"(trained in {again['train_s']:.1f} s)")
    goals = {"miou >= 0.80": full["miou"] >= 0.80, "train < 60 s": full["train_s"] < 60, "reproducible": same}
    print("goals: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in goals.items()))
    if args.json:
        figures = {k: {f: v for f, v in r.items() if f != "module"} for k, r in rows.items()}
        Path(args.json).write_text(json.dumps({"rows": figures, "reproducible": same, "goals": goals}, indent=1))
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
