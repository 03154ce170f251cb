"""Plots (PNG, or SVG for the HTML page) of a latency report and of a
design-space exploration: per-layer latency split into compute and memory
time, a roofline, the DSE Pareto front, and the generations of a pruning
search.  matplotlib is imported only here, and only when called.  The bytes
are the same for the same input: no dates, and SVG ids from a fixed salt."""

from __future__ import annotations

import io

__all__ = ["FORMATS", "baseline_cost", "latency_plot", "pareto_plot", "roofline_labels", "roofline_plot",
           "roofline_points", "search_plot", "tiling_plot"]

FORMATS = ("png", "svg")
ROOFLINE_ALL, ROOFLINE_LABELS = 8, 5  # a roofline names all its points up to 8, else the 5 slowest


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes (deterministic); closes it."""
    plt = _pyplot()
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    with plt.rc_context({"svg.hashsalt": "segc", "svg.fonttype": "path"}):
        fig.savefig(buffer, format=fmt, dpi=110, bbox_inches="tight", metadata=metadata)
    plt.close(fig)
    return buffer.getvalue()


def latency_plot(report: dict, fmt: str = "png") -> bytes:
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
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)  # beside: hides no bar
    return _save(fig, fmt)


def roofline_points(report: dict) -> list[dict]:
    """One point per layer that does work and moves data: its operational
    intensity (operations per DRAM byte) and achieved GOP/s."""
    word_bytes = report["target"]["word_bits"] / 8
    points = []
    for r in report["layers"]:
        words = r["dram_in"] + r["dram_weight"] + r["dram_out"]
        if r["macs"] and words and r["latency_s"]:
            points.append({"name": r["name"], "bound": r["bound"], "latency_s": r["latency_s"],
                           "intensity": 2 * r["macs"] / (words * word_bytes),
                           "gops": 2 * r["macs"] / r["latency_s"] / 1e9})
    return points


def roofline_labels(points: list[dict]) -> dict[tuple[float, float], str]:
    """Names to write beside the points: every layer when there are few, else
    the slowest ones; layers on the same spot share one label."""
    chosen = points if len(points) <= ROOFLINE_ALL else sorted(points, key=lambda p: -p["latency_s"])[:ROOFLINE_LABELS]
    labels: dict[tuple[float, float], list[str]] = {}
    for p in sorted(chosen, key=points.index):
        labels.setdefault((p["intensity"], p["gops"]), []).append(p["name"])
    return {spot: ", ".join(names) for spot, names in labels.items()}


def roofline_plot(report: dict, fmt: str = "png") -> bytes:
    """Achieved GOP/s against operational intensity, under the roofs; the
    slowest layers named."""
    plt = _pyplot()
    target = report["target"]
    u = target["unroll"]
    peak = 2 * u["pif"] * u["pof"] * u["pkx"] * u["pky"] * target["clock_hz"] / 1e9
    bandwidth = target["bandwidth_bytes_per_s"] / 1e9
    points = roofline_points(report)
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    low = min([p["intensity"] for p in points] + [0.1]) / 2
    high = max([p["intensity"] for p in points] + [peak / bandwidth]) * 2
    ax.plot([low, peak / bandwidth, high], [bandwidth * low, peak, peak], color="black", label="roof")
    for bound, color in (("compute", "tab:blue"), ("memory", "tab:red")):
        chosen = [p for p in points if p["bound"] == bound]
        ax.scatter([p["intensity"] for p in chosen], [p["gops"] for p in chosen], s=14, color=color,
                   label=f"{bound}-bound layers")
    for i, ((x, y), text) in enumerate(sorted(roofline_labels(points).items())):
        ax.annotate(text, (x, y), xytext=(5, 3 if i % 2 else -9), textcoords="offset points", fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operations per DRAM byte")
    ax.set_ylabel("GOP/s")
    ax.set_title(f"{report['network']}: roofline ({peak:.0f} GOP/s, {bandwidth:.1f} GB/s)")
    _legend_below(ax)
    return _save(fig, fmt)


def pareto_plot(dsps, latencies_s, front: list[dict], title: str, fmt: str = "png") -> bytes:
    """Latency against all the DSP blocks used (PE array + other units) for
    every explored design (``dsps``, ``latencies_s``: equal-length
    sequences), the front marked.  Designs that would land on the same spot
    (same DSPs, latency within 0.1 %) are drawn once."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    x, y = _distinct_spots(dsps, latencies_s)
    ax.scatter(x, y * 1e3, s=10, color="grey", label="explored")
    ordered = sorted(front, key=lambda p: p["dsp_total"])
    ax.plot([p["dsp_total"] for p in ordered], [p["latency_s"] * 1e3 for p in ordered], "o-", color="tab:red",
            label="Pareto front")
    ax.plot([p["dsp_total"] for p in ordered], [p["roofline_s"] * 1e3 for p in ordered], "--", color="tab:blue",
            label="compute-only bound")
    ax.set_yscale("log")
    ax.set_xlabel("DSP blocks (PE array + other units)")
    ax.set_ylabel("latency (ms)")
    ax.set_title(title)
    ax.legend()
    return _save(fig, fmt)


def _distinct_spots(dsps, latencies_s):
    """The (DSPs, latency) pairs, one per DSP count and 0.1 % latency band."""
    import numpy as np

    x, y = np.asarray(dsps, dtype=np.int64), np.asarray(latencies_s, dtype=np.float64)
    bands = np.round(np.log(np.maximum(y, 1e-300)) / np.log1p(1e-3)).astype(np.int64)
    _, first = np.unique(np.column_stack((x, bands)), axis=0, return_index=True)
    first.sort()
    return x[first], y[first]


def baseline_cost(result: dict) -> float | None:
    """The unpruned network's search cost, where the document has it (the
    ``dsp-latency`` cost needs the best unroll of the unpruned network, which
    the document does not record)."""
    base = result.get("baseline")
    if base is None:
        return None
    if "cost" in base:
        return float(base["cost"])
    key = {"latency": "latency_s", "ops": "ops"}.get(result["cost"]["name"])
    return float(base[key]) if key else None


def search_plot(result: dict, fmt: str = "png") -> bytes:
    """Mori et al. Fig. 5: every generation of a pruning search, light grey
    (first) to black (last), the final Pareto front in red, the unpruned
    network as a star."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    cost = result["cost"]
    labels = {"latency": "latency (ms)", "dsp-latency": "latency at the best unroll within the DSP budget (ms)",
              "ops": "operations (GOPs)"}
    scale = 1e3 if cost["unit"] == "s" else 1e-9
    generations = result["generations"]
    for i, points in enumerate(generations):
        shade = 0.8 * (1 - i / max(1, len(generations) - 1))
        label = None if i else _candidates_label(len(generations))
        ax.scatter([p[1] * scale for p in points], [p[0] for p in points], s=8, color=(shade, shade, shade),
                   label=label)
    front = sorted(result["front"], key=lambda p: p["cost"])
    ax.plot([p["cost"] * scale for p in front], [p["accuracy"] for p in front], "o-", color="tab:red", ms=4,
            label="final Pareto front")
    base = baseline_cost(result)
    if base is not None:
        ax.scatter([base * scale], [result["baseline"]["accuracy"]], s=90, marker="*", color="tab:blue",
                   zorder=3, label="unpruned network (baseline)")
    _speedups(ax, result, front, scale)
    ax.set_xlabel(labels.get(cost["name"], cost["name"]))
    ax.set_ylabel(result["accuracy"]["name"])
    ax.set_title(f"{result['network']}: NSGA-II, population {result['pop']}, {result['gen']} generations")
    _legend_below(ax)
    return _save(fig, fmt)


SPEEDUP_LABELS = 8  # front points whose speed-up is written beside them, spread along the front


def _speedups(ax, result: dict, front: list[dict], scale: float) -> None:
    """Each front point's speed-up over the unpruned network written beside
    it (up to 8, spread along the front); on a latency axis, also a top axis
    of speed-up (unpruned latency / latency)."""
    chosen = {round(i * (len(front) - 1) / max(1, SPEEDUP_LABELS - 1)) for i in range(min(len(front), SPEEDUP_LABELS))}
    for i in sorted(chosen):
        point = front[i]
        if "speedup" in point:
            ax.annotate(f"{point['speedup']:.2f}×", (point["cost"] * scale, point["accuracy"]), xytext=(4, 4),
                        textcoords="offset points", fontsize=7, color="tab:red")
    base = result.get("baseline_latency_s")
    if result["cost"]["name"] == "latency" and base:
        import numpy as np

        def invert(values):
            values = np.asarray(values, dtype=float)
            return np.divide(base * scale, values, out=np.full_like(values, np.inf), where=values > 0)

        top = ax.secondary_xaxis("top", functions=(invert, invert))
        top.set_xlabel("speed-up over the unpruned network (×)")


def _legend_below(ax) -> None:
    """The legend under the axes, where it hides no point."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8, frameon=False)


def _candidates_label(generations: int) -> str:
    if generations == 1:
        return "evaluated candidates"
    return f"evaluated candidates, generations 1 (light) to {generations} (black)"


_SCHEME_LABELS = {"none": "no tiling", "static": "static tiling", "paper": "dynamic tiling (Eq. 1)",
                  "dilation-aware": "dilation-aware tiling"}


def tiling_plot(document: dict, fmt: str = "png") -> bytes:
    """Mori et al. Fig. 4: DRAM accesses (bars) and latency (lines, right
    axis) of every convolution layer under each tiling scheme of a
    ``segc.tiling`` document."""
    plt = _pyplot()
    layers, modes = document["layers"], document["modes"]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.3 * len(layers)), 4.5))
    xs = range(len(layers))
    width = 0.8 / len(modes)
    colors = ("tab:grey", "tab:orange", "tab:blue", "tab:green")
    for i, (mode, color) in enumerate(zip(modes, colors)):
        offset = (i - (len(modes) - 1) / 2) * width
        ax.bar([x + offset for x in xs], [layer["schemes"][mode]["dram"] / 1e6 for layer in layers], width,
               color=color, label=f"DRAM, {_SCHEME_LABELS.get(mode, mode)}")
    ax.set_ylabel("DRAM accesses (million words)")
    ax.set_xticks(list(xs), [layer["name"] for layer in layers], rotation=90, fontsize=6)
    right = ax.twinx()
    for mode, color in zip(modes, colors):
        right.plot(list(xs), [layer["schemes"][mode]["latency_s"] * 1e3 for layer in layers], "o-", ms=3,
                   color=color, label=f"latency, {_SCHEME_LABELS.get(mode, mode)}")
    right.set_ylabel("latency (ms)")
    ratios = ", ".join(f"{key.partition('/')[0]}/dynamic {value['dram']:.2f}×"
                       for key, value in document["ratios"].items() if value["dram"])
    ax.set_title(f"{document['network']}: tiling schemes (DRAM {ratios})")
    handles = [h for a in (ax, right) for h in a.get_legend_handles_labels()[0]]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper left", bbox_to_anchor=(1.1, 1.0),
              fontsize=8, frameon=False)  # beside the right axis: hides no bar
    return _save(fig, fmt)
