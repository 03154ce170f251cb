"""``layer_config.h``/``.json`` of an HLS project say what each layer
computes in: its widths, its scheme, and for an integer-scheme layer no
fraction bits of weights (its words are integers with per-channel scales)
but its requantization table."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("torch")

from conftest import EXAMPLES
from hls_weights import randomised

import segc
from segc.hls import HlsOptions, build_project

NETWORK = """import "targets/ultra96.seg"
network n on ultra96_codenet {
    input image: [3, 8, 8]
    a = image -> conv(8, k=3, bias=true) -> relu
    b = a -> conv(4, k=1)
    output y = b
}
quantize n {
    *: w=8, a=8, scheme=int
    b: w=4, a=16, scheme=fixed
}
"""


def _header_rows(text: str) -> tuple[list[str], list[list[int]]]:
    fields = re.findall(r"^    (\w+),$", text, flags=re.M)
    rows = [[int(v) for v in row.split(", ")] for row in re.findall(r"^    \{([\d, ]+)\},", text, flags=re.M)]
    return fields, rows


def test_int_scheme_layers_give_widths_scheme_and_their_requantization_table():
    graph = segc.loads(NETWORK, str(EXAMPLES / "config_case.seg"))
    files, _ = build_project(graph, HlsOptions(weights=randomised(graph, 3)))
    layers = {e["name"]: e for e in json.loads(files["layer_config.json"])["layers"]}
    params = {e["name"]: e.get("params", {}) for e in json.loads(files["config.json"])["layers"]}
    int_conv, fixed_conv = "a.conv", "b"
    assert layers[int_conv]["fused"] == ["a.relu"]
    assert (layers[int_conv]["scheme"], layers[int_conv]["int_scheme"]) == ("int", 1)
    assert (layers[int_conv]["w_bits"], layers[int_conv]["a_bits"], layers[int_conv]["frac_w"]) == (8, 8, 0)
    assert layers[int_conv]["requant"] == params[int_conv]["requant"]
    assert len(layers[int_conv]["requant"]["m"]) == 8
    assert (layers[fixed_conv]["scheme"], layers[fixed_conv]["int_scheme"]) == ("fixed", 0)
    assert (layers[fixed_conv]["w_bits"], layers[fixed_conv]["a_bits"]) == (4, 16)
    assert layers[fixed_conv]["frac_w"] == params[fixed_conv]["weight"]["frac"]
    assert "requant" not in layers[fixed_conv]

    fields, rows = _header_rows(files["layer_config.h"].decode())
    assert len(rows) == 2 and all(len(row) == len(fields) for row in rows)
    header = [dict(zip(fields, row)) for row in rows]
    for row, name in zip(header, (int_conv, fixed_conv)):
        assert {k: row[k] for k in ("w_bits", "a_bits", "int_scheme", "frac_w")} == \
            {k: layers[name][k] for k in ("w_bits", "a_bits", "int_scheme", "frac_w")}
