"""Renderings of the latency report and the search: the totals row sums each
DRAM column, roofline points are named, the search plot has a legend entry
for every series and marks the unpruned network, and the HTML page is
self-contained, escaped and byte-identical for the same input."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from conftest import EXAMPLES

from segc.backends.report import html, plots, tables
from segc.cli import main

TARGET = {"name": "t", "device": "d", "clock_hz": 200e6, "bandwidth_bytes_per_s": 1e9, "word_bits": 16,
          "unroll": {"pif": 2, "pof": 2, "pkx": 1, "pky": 1}}


def _layer(name: str, words: tuple[int, int, int], latency_s: float, macs: int = 1000, bound: str = "memory") -> dict:
    dram_in, dram_weight, dram_out = words
    return {"name": name, "op": "conv", "shape": [4, 2, 2], "ci": 4, "co": 4, "k": [1, 1], "stride": [1, 1],
            "dilation": [1, 1], "groups": 1, "h_out": 2, "w_out": 2, "macs": macs, "tile": [2, 2], "rule": "conv",
            "engine": "pe", "reason": "", "cycles_compute": 10, "dram_in": dram_in, "dram_weight": dram_weight,
            "dram_out": dram_out,
            "latency_compute_s": latency_s / 2, "latency_memory_s": latency_s, "latency_s": latency_s,
            "bound": bound, "share": 0.5}


def _report(layers: list[dict], network: str = "net") -> dict:
    words = sum(x["dram_in"] + x["dram_weight"] + x["dram_out"] for x in layers)
    totals = {"latency_s": sum(x["latency_s"] for x in layers), "macs": sum(x["macs"] for x in layers),
              "throughput_gops": 1.0, "dram_total": words, "dram_bytes": 2 * words, "dsp_pe": 4,
              "input_buffer_words": 100, "input_tile_words_max": 16, "compute_bound_layers": 0,
              "memory_bound_layers": len(layers), "dram_in": 0, "dram_weight": 0, "dram_out": 0}
    return {"format": "segc.report", "version": 1, "network": network, "target": TARGET, "tiling": "paper",
            "calibration": "uncalibrated (Eq. 5)", "layers": layers, "totals": totals}


TWO = _report([_layer("a", (10, 1, 100), 1e-3), _layer("b", (20, 2, 200), 3e-3)])


# ---------------------------------------------------------------- totals row


def test_terminal_and_markdown_totals_sum_each_dram_column() -> None:
    headers, _, footer = tables.table_rows(TWO)
    row = dict(zip(headers, footer))
    assert (row["dram_in"], row["dram_weight"], row["dram_out"]) == ("30", "3", "300")
    assert row["latency_ms"] == "4.0000"
    assert tables.to_markdown(TWO).splitlines()[-1].split(" | ")[5:8] == ["30", "3", "300"]


def test_csv_ends_with_a_totals_row() -> None:
    rows = list(csv.DictReader(io.StringIO(tables.to_csv(TWO))))
    assert [r["name"] for r in rows] == ["a", "b", "total"]
    total = rows[-1]
    assert (total["dram_in"], total["dram_weight"], total["dram_out"], total["macs"]) == ("30", "3", "300", "2000")


def test_json_totals_of_tiny_seg_split_dram_words(capsys) -> None:
    assert main(["report", str(EXAMPLES / "tiny_seg.seg"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    totals = data["totals"]
    # weights, once each: 16·3·3·3 + 32·16·9 + 2·(32·32·9) + 8·32 (the 1x1 classifier)
    assert totals["dram_weight"] == 432 + 4608 + 2 * 9216 + 256 == 23728
    # outputs written once: 16·64² + 3·(32·32²) (down, context.0, context.1) + 8·32² + 8·64² (upsample)
    assert totals["dram_out"] == 65536 + 3 * 32768 + 8192 + 32768 == 204800
    assert totals["dram_in"] + totals["dram_weight"] + totals["dram_out"] == totals["dram_total"]
    assert totals["dram_in"] == sum(layer["dram_in"] for layer in data["layers"])


# ---------------------------------------------------------------- plots


def _svg_texts(svg: bytes) -> list[str]:
    """The texts of a matplotlib SVG (drawn as paths, each after a comment)."""
    return re.findall(r"<!-- (.*?) -->", svg.decode())


def test_roofline_names_every_point_when_few_and_shares_a_spot() -> None:
    data = _report([_layer("a", (100, 0, 0), 1e-3), _layer("b", (100, 0, 0), 1e-3), _layer("c", (10, 0, 0), 2e-3)])
    texts = _svg_texts(plots.roofline_plot(data, "svg"))
    # a and b move the same words for the same MACs in the same time: one spot, one label
    assert "a, b" in texts and "c" in texts
    assert {"roof", "compute-bound layers", "memory-bound layers"} <= set(texts)


def test_roofline_names_the_five_slowest_of_many() -> None:
    layers = [_layer(f"L{i}", (100 + i, 0, 0), (i + 1) * 1e-4) for i in range(10)]
    texts = _svg_texts(plots.roofline_plot(_report(layers), "svg"))
    assert sorted(t for t in texts if t.startswith("L")) == ["L5", "L6", "L7", "L8", "L9"]


SEARCH = {"network": "net", "cost": {"name": "latency", "unit": "s"}, "accuracy": {"name": "proxy"}, "pop": 2,
          "gen": 2, "generations": [[[0.5, 2e-3], [0.6, 3e-3]], [[0.7, 3e-3], [0.4, 1e-3]]],
          "front": [{"accuracy": 0.4, "cost": 1e-3}, {"accuracy": 0.7, "cost": 3e-3}],
          "baseline": {"accuracy": 1.0, "latency_s": 4e-3, "ops": 8000}}


@pytest.mark.parametrize(("cost", "expected"), [("latency", 4e-3), ("ops", 8000.0), ("dsp-latency", None)])
def test_baseline_cost_by_objective(cost: str, expected: float | None) -> None:
    assert plots.baseline_cost({**SEARCH, "cost": {"name": cost, "unit": "s"}}) == expected


def test_search_plot_has_a_legend_entry_per_series_and_the_baseline() -> None:
    texts = _svg_texts(plots.search_plot(SEARCH, "svg"))
    assert "evaluated candidates, generations 1 (light) to 2 (black)" in texts
    assert {"final Pareto front", "unpruned network (baseline)"} <= set(texts)
    unpruned = _svg_texts(plots.search_plot({**SEARCH, "baseline": None}, "svg"))
    assert "unpruned network (baseline)" not in unpruned


def test_svg_plots_are_byte_identical() -> None:
    assert plots.latency_plot(TWO, "svg") == plots.latency_plot(TWO, "svg")
    assert plots.search_plot(SEARCH, "svg") == plots.search_plot(SEARCH, "svg")


# ---------------------------------------------------------------- the page


def test_page_escapes_names_and_loads_nothing() -> None:
    data = _report([_layer("x<b>&amp;", (1, 1, 1), 1e-3)], network='n"<script>alert(1)</script>')
    page = html.report_page(data, '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<td>x&lt;b&gt;&amp;amp;</td>" in page
    assert re.findall(r'(?:src|href)="(?!data:)', page) == []
    assert page.count("<tr") == 1 + 1 + 1  # header, the layer, totals


def test_layer_table_fragment_has_a_row_per_layer_and_its_script() -> None:
    fragment = html.layer_table_html(TWO)
    assert fragment.count("<tbody>") == 1
    body = fragment.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr") == 2
    assert '<td class="num" data-value="0.003">3.0000</td>' in body  # b's latency sorts by seconds
    assert fragment.startswith("<style>") and fragment.rstrip().endswith("</script>")


def test_cli_html_page_is_byte_identical_and_written_with_o(tmp_path, capsys) -> None:
    argv = ["report", str(EXAMPLES / "tiny.seg"), "--format", "html"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert main(argv) == 0
    assert capsys.readouterr().out == first
    assert first.startswith("<!DOCTYPE html>") and "<h1>Latency report: tiny</h1>" in first
    assert main(["report", str(EXAMPLES / "tiny.seg"), "-o", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").read_text() == first
