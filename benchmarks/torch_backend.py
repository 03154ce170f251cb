"""The generated ResNet-18 module against a hand-written one with the same
weights: forward time at batch 1 and 8 on the CPU, same process, runs
interleaved, medians.  Goal: the generated module within 1.05x.

Usage: python benchmarks/torch_backend.py [--runs N] [--threads T]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

import segc

ROOT = Path(__file__).resolve().parent.parent


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    """ResNet-18 as torchvision writes it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
        for i, (cin, cout, stride) in enumerate(widths, 1):
            setattr(self, f"layer{i}", nn.Sequential(Block(cin, cout, stride), Block(cout, cout, 1)))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _seconds(module: nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        module(x)
    return time.perf_counter() - start


def compare(batch: int, runs: int) -> float:
    reference = ResNet18().eval()
    generated = segc.to_torch(segc.load(str(ROOT / "examples" / "resnet18.seg")), reference.state_dict())
    x = torch.randn(batch, 3, 224, 224)
    for _ in range(3):  # warm-up
        _seconds(reference, x)
        _seconds(generated, x)
    times: dict[str, list[float]] = {"reference": [], "generated": []}
    for _ in range(runs):
        times["reference"].append(_seconds(reference, x))
        times["generated"].append(_seconds(generated, x))
    ref, gen = statistics.median(times["reference"]), statistics.median(times["generated"])
    print(f"batch {batch}: hand-written {ref * 1e3:.2f} ms, generated {gen * 1e3:.2f} ms, ratio {gen / ref:.3f}")
    return gen / ref


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"ResNet-18 forward, torch {torch.__version__}, {args.threads} threads, {args.runs} interleaved runs")
    ratios = [compare(batch, args.runs) for batch in (1, 8)]
    ok = all(r <= 1.05 for r in ratios)
    print("PASS (within 1.05x)" if ok else "FAIL (over 1.05x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
