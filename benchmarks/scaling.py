"""How the front end scales: parse + elaborate + verify of generated networks.

Goal (b): a generated network of 10,000 layers goes through the front end
(``segc.loads``: parse and imports, elaboration with block expansion, naming
and shape inference, then verification) in under 3 s, and in no more than 12x
the time of 1,000 layers.

Networks have exactly N layers (graph nodes, the input and ``output.*`` nodes
included).  Shapes (``--shape``):

* ``resnet`` (default): a stem, four stages of residual blocks (the first of
  stages 2-4 strided and projected), ten blocks per statement, a head;
* ``chain``: the same blocks, all in one ``->`` chain of one statement;
* ``wide``: one ``concat`` of many parallel 3-layer branches;
* ``nested``: blocks nested 60 deep (names like ``n0.0.0.0. ... .relu``);
* ``flat``: the resnet network as ``segc export --to seg`` prints it, one
  statement per layer (mostly parsing).

Sizes are timed in this process with ``time.perf_counter``, after one
untimed warm-up run each, taking turns (so they share the machine's noise);
the median of ``--runs`` runs is reported, split into parse (``load_text``)
and elaborate (``elaborate``, which verifies), with the time spent in the
garbage collector (part of both).  Exit status 1 when a goal fails:

    .venv/bin/python benchmarks/scaling.py [--sizes 1000 10000] [--runs 5] [--shape resnet]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable

import lark

import segc

BLOCKS = """
block cbr(x, c, k=1, stride=1) {
    return x -> conv(c, k=k, stride=stride) -> bn -> relu
}

# ResNet's basic block: 7 layers, 9 with a projection shortcut.
block basic(x, c, stride=1) {
    y = x -> cbr(c, k=3, stride=stride) -> conv(c, k=3) -> bn
    s = if stride != 1 or channels(x) != c {
        x -> conv(c, k=1, stride=stride) as downsample.0 -> bn as downsample.1
    } else {
        x
    }
    return add(y, s) -> relu
}
"""
HEAD = "    output logits = {} -> avgpool(global=true) -> flatten -> linear(10)\n}}\n"
FIXED = 1 + 3 + 4  # input, the stem's conv/bn/relu, the head's avgpool/flatten/linear/output
WIDTHS = (16, 32, 64, 128)
NEST_DEPTH = 60


def _network(body: list[str], spare: int, last: str, blocks: str = BLOCKS) -> str:
    """A whole file: blocks, then a stem padded with ``spare`` ReLUs, ``body``, and the head."""
    stem = "image -> cbr(16, k=3)" + " -> relu" * spare
    lines = ["network bench {", "    input image: [3, 64, 64]", f"    stem = {stem}", *body]
    return blocks + "\n".join(lines) + "\n" + HEAD.format(last)


def _stages(blocks: int, per_statement: int) -> tuple[list[str], str]:
    """Statements calling ``blocks`` basic blocks in four stages, ``per_statement`` to a statement."""
    calls = []
    for stage, width in enumerate(WIDTHS):
        count = blocks // len(WIDTHS) + (stage < blocks % len(WIDTHS))
        calls += [f"basic({width}, stride=2)" if i == 0 and stage else f"basic({width})" for i in range(count)]
    body, last = [], "stem"
    for start in range(0, len(calls), per_statement):
        name = f"s{start // per_statement}"
        body.append(f"    {name} = {last} -> " + " -> ".join(calls[start:start + per_statement]))
        last = name
    return body, last


def resnet(layers: int, per_statement: int = 10) -> str:
    projections = 2 * (len(WIDTHS) - 1)
    blocks, spare = divmod(layers - FIXED - projections, 7)
    body, last = _stages(blocks, per_statement)
    return _network(body, spare, last)


def chain(layers: int) -> str:
    return resnet(layers, per_statement=layers)


def wide(layers: int) -> str:
    branches, spare = divmod(layers - FIXED - 1, 3)  # 1: the concat
    body = [f"    wide = concat(*[stem -> cbr(8) for i in range({branches})])"]
    return _network(body, spare, "wide")


def nested(layers: int) -> str:
    """Block ``nest{d}`` calls ``nest{d-1}`` then a ReLU; ``nest0`` is a basic block."""
    per_call = 7 + NEST_DEPTH
    calls, spare = divmod(layers - FIXED, per_call)
    defs = ["block nest0(x) { return x -> basic(16) }"]
    defs += [f"block nest{d}(x) {{ return x -> nest{d - 1}() -> relu }}" for d in range(1, NEST_DEPTH + 1)]
    body, last = [], "stem"
    for start in range(0, calls, 10):
        body.append(f"    n{start} = {last} -> " + " -> ".join([f"nest{NEST_DEPTH}()"] * min(10, calls - start)))
        last = f"n{start}"
    return _network(body, spare, last, BLOCKS + "\n".join(defs) + "\n")


def flat(layers: int) -> str:
    """The resnet network as ``segc export --to seg`` prints it: one statement per layer."""
    return segc.to_seg(segc.dsl.elaborate(segc.dsl.load_text(resnet(layers), "<bench>")))


SHAPES: dict[str, Callable[[int], str]] = {
    "resnet": resnet, "chain": chain, "wide": wide, "nested": nested, "flat": flat,
}


class GcTimer:
    """Seconds spent in the garbage collector while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __call__(self, phase: str, _info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start


def time_front_end(text: str) -> dict[str, float]:
    """Seconds to parse, to elaborate (with verification) and in the GC, and the layer count."""
    gc.collect()
    timer = GcTimer()
    gc.callbacks.append(timer)
    try:
        start = time.perf_counter()
        program = segc.dsl.load_text(text, "<bench>")  # segc.loads is load_text + elaborate
        parsed = time.perf_counter()
        graph = segc.dsl.elaborate(program)
        done = time.perf_counter()
    finally:
        gc.callbacks.remove(timer)
    return {"parse": parsed - start, "elaborate": done - parsed, "total": done - start, "gc": timer.seconds,
            "layers": len(graph)}


def measure(sizes: list[int], shape: str, runs: int) -> dict[int, dict[str, float]]:
    """Medians per size; the sizes take turns in each run, so they share the machine's noise."""
    texts = {size: SHAPES[shape](size) for size in sizes}
    for text in texts.values():
        time_front_end(text)  # warm-up: imports, Lark's parser cache
    samples: dict[int, list[dict[str, float]]] = {size: [] for size in sizes}
    for _ in range(runs):
        for size in sizes:
            samples[size].append(time_front_end(texts[size]))
    return {size: _medians(texts[size], samples[size]) for size in sizes}


def _medians(text: str, samples: list[dict[str, float]]) -> dict[str, float]:
    counts = {sample["layers"] for sample in samples}
    row = {key: statistics.median(sample[key] for sample in samples) for key in ("parse", "elaborate", "total", "gc")}
    return {**row, "layers": counts.pop() if len(counts) == 1 else -1, "lines": text.count("\n")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="layer counts (default 1000 10000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per size (default 5)")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="resnet", help="network shape (default resnet)")
    parser.add_argument("--max-seconds", type=float, default=3.0, help="limit at 10,000 layers (default 3)")
    parser.add_argument("--max-ratio", type=float, default=12.0, help="limit on t(10x size)/t(size) (default 12)")
    args = parser.parse_args(argv)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, shape {args.shape}, median of {args.runs} runs")
    print(f"{'target':>8} {'layers':>8} {'lines':>7} {'parse':>9} {'elaborate':>10} {'total':>9} {'us/layer':>9} "
          f"{'in GC':>8}")
    try:
        results = measure(args.sizes, args.shape, args.runs)
    except (RecursionError, segc.SegError, lark.exceptions.VisitError) as err:  # the front end failed on valid input
        print(f"FAIL: the front end raised {type(err).__name__}: {str(err).splitlines()[-1]}")
        return 1
    for size, row in results.items():
        print(f"{size:>8} {row['layers']:>8} {row['lines']:>7} {row['parse']:>8.3f}s {row['elaborate']:>9.3f}s "
              f"{row['total']:>8.3f}s {row['total'] / size * 1e6:>9.1f} {row['gc']:>7.3f}s")
    return 0 if verdicts(results, args.max_seconds, args.max_ratio) else 1


def verdicts(results: dict[int, dict[str, float]], max_seconds: float, max_ratio: float) -> bool:
    ok = all(row["layers"] == size for size, row in results.items())
    if not ok:
        print("FAIL: a generated network does not have the number of layers asked for")
    if 10000 in results:
        seconds = results[10000]["total"]
        ok &= _verdict(f"10,000 layers in {seconds:.3f} s (< {max_seconds} s)", seconds < max_seconds)
    for size in results:
        if size * 10 in results:
            ratio = results[size * 10]["total"] / results[size]["total"]
            ok &= _verdict(f"{size * 10:,} / {size:,} layers: {ratio:.2f}x (<= {max_ratio}x)", ratio <= max_ratio)
    return ok


def _verdict(text: str, passed: bool) -> bool:
    print(f"{'PASS' if passed else 'FAIL'}: {text}")
    return passed


if __name__ == "__main__":
    sys.exit(main())
