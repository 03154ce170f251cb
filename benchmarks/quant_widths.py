"""ResNet-18 on the Ultra96 target at 16, 8 and 4/8 bits (weights/activations):
the cost model's predicted latency, DRAM traffic and DSP blocks of the PE
array, and the resource estimate of the generated HLS design (one kernel per
layer), from ``examples/resnet18_int8.seg`` with its quantize rule replaced.

    .venv/bin/python benchmarks/quant_widths.py
"""

from __future__ import annotations

from pathlib import Path

import segc
from segc.backends.report.tables import build_report
from segc.hardware import analyse
from segc.ir.quant import QuantRule, apply_quantize

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "resnet18_int8.seg"
WIDTHS = ((16, 16), (8, 8), (4, 8))


def figures(w_bits: int, a_bits: int) -> dict:
    graph = segc.load(str(EXAMPLE))
    apply_quantize(graph, [QuantRule("*", (("w", w_bits), ("a", a_bits), ("scheme", "int")))])
    report = build_report(analyse(graph), "paper", "uncalibrated")
    totals, resources = report["totals"], report["resources"]
    return {"widths": f"W{w_bits}A{a_bits}", "latency_ms": totals["latency_s"] * 1e3,
            "dram_mb": totals["dram_bytes"] / 1e6, "dsp_pe": totals["dsp_pe"],
            "memory_bound": totals["memory_bound_layers"], "design_dsp": resources["dsp"],
            "design_bram": resources["bram"], "design_lut": resources["lut"]}


def main() -> None:
    rows = [figures(w, a) for w, a in WIDTHS]
    print("| widths | latency (ms) | DRAM (MB) | PE array DSPs (of 360) | memory-bound layers "
          "| HLS design DSPs | BRAM (of 216) | LUTs (of 70,560) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['widths']} | {r['latency_ms']:.3f} | {r['dram_mb']:.1f} | {r['dsp_pe']} | {r['memory_bound']} "
              f"| {r['design_dsp']:,} | {r['design_bram']:,} | {r['design_lut']:,} |")


if __name__ == "__main__":
    main()
