"""PNG plots of a latency report and of a design-space exploration:
per-layer latency split into compute and memory time, a roofline, and the
DSE Pareto front, and the generations of a pruning search.  matplotlib is imported only here, and only when called."""

from __future__ import annotations

import io

__all__ = ["latency_plot", "pareto_plot", "roofline_plot", "search_plot"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return buffer.getvalue()


def latency_plot(report: dict) -> bytes:
    """Compute and memory time of every layer that takes time."""
    plt = _pyplot()
    layers = [r for r in report["layers"] if r["latency_s"] > 0]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.16 * len(layers)), 4.0))
    xs = range(len(layers))
    ax.bar([x - 0.2 for x in xs], [r["latency_compute_s"] * 1e3 for r in layers], 0.4, label="compute (Eq. 2)")
    ax.bar([x + 0.2 for x in xs], [r["latency_memory_s"] * 1e3 for r in layers], 0.4, label="memory (Eq. 3-4)")
    ax.set_xticks(list(xs), [r["name"] for r in layers], rotation=90, fontsize=6)
    ax.set_ylabel("ms")
    ax.set_title(f"{report['network']}: per-layer latency ({report['totals']['latency_s'] * 1e3:.2f} ms in all)")
    ax.legend()
    return _png(fig)


def roofline_plot(report: dict) -> bytes:
    """Achieved GOP/s against operational intensity, under the roofs."""
    plt = _pyplot()
    target = report["target"]
    u = target["unroll"]
    word_bytes = target["word_bits"] / 8
    peak = 2 * u["pif"] * u["pof"] * u["pkx"] * u["pky"] * target["clock_hz"] / 1e9
    bandwidth = target["bandwidth_bytes_per_s"] / 1e9
    points = []
    for r in report["layers"]:
        words = r["dram_in"] + r["dram_weight"] + r["dram_out"]
        if r["macs"] and words and r["latency_s"]:
            points.append((2 * r["macs"] / (words * word_bytes), 2 * r["macs"] / r["latency_s"] / 1e9, r["bound"]))
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    low = min([p[0] for p in points] + [0.1]) / 2
    high = max([p[0] for p in points] + [peak / bandwidth]) * 2
    ax.plot([low, peak / bandwidth, high], [bandwidth * low, peak, peak], color="black", label="roof")
    for bound, color in (("compute", "tab:blue"), ("memory", "tab:red")):
        chosen = [p for p in points if p[2] == bound]
        ax.scatter([p[0] for p in chosen], [p[1] for p in chosen], s=12, color=color, label=f"{bound}-bound layers")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operations per DRAM byte")
    ax.set_ylabel("GOP/s")
    ax.set_title(f"{report['network']}: roofline ({peak:.0f} GOP/s, {bandwidth:.1f} GB/s)")
    ax.legend()
    return _png(fig)


def pareto_plot(points: list[dict], front: list[dict], title: str) -> bytes:
    """Latency against PE-array DSPs for every explored design, front marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    ax.scatter([p["dsp_pe"] for p in points], [p["latency_s"] * 1e3 for p in points], s=10, color="grey",
               label="explored")
    ordered = sorted(front, key=lambda p: p["dsp_pe"])
    ax.plot([p["dsp_pe"] for p in ordered], [p["latency_s"] * 1e3 for p in ordered], "o-", color="tab:red",
            label="Pareto front")
    ax.plot([p["dsp_pe"] for p in ordered], [p["roofline_s"] * 1e3 for p in ordered], "--", color="tab:blue",
            label="compute-only bound")
    ax.set_yscale("log")
    ax.set_xlabel("PE-array DSP blocks")
    ax.set_ylabel("latency (ms)")
    ax.set_title(title)
    ax.legend()
    return _png(fig)


def search_plot(result: dict) -> bytes:
    """Mori et al. Fig. 5: every generation of a pruning search, grey (first)
    to black (last), the final generation's Pareto front in red."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    cost = result["cost"]
    labels = {"latency": "latency (ms)", "dsp-latency": "latency at the best unroll within the DSP budget (ms)",
              "ops": "operations (GOPs)"}
    scale = 1e3 if cost["unit"] == "s" else 1e-9
    generations = result["generations"]
    for i, points in enumerate(generations):
        shade = 0.8 * (1 - i / max(1, len(generations) - 1))
        ax.scatter([p[1] * scale for p in points], [p[0] for p in points], s=8, color=(shade, shade, shade))
    front = sorted(result["front"], key=lambda p: p["cost"])
    ax.plot([p["cost"] * scale for p in front], [p["accuracy"] for p in front], "o-", color="tab:red", ms=4,
            label="final Pareto front")
    ax.set_xlabel(labels.get(cost["name"], cost["name"]))
    ax.set_ylabel(result["accuracy"]["name"])
    ax.set_title(f"{result['network']}: NSGA-II, population {result['pop']}, {result['gen']} generations")
    ax.legend()
    return _png(fig)
