"""Regression tests that pin the bugs the fuzzers found: integers too long
for ``int``/``str`` conversion, floats beyond range, values that grow
exponentially (checked in a separate process with a time and a memory
limit), pattern keys that are keywords.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES
from fuzz_checks import Hang, check_format_roundtrip, load_or_seg_error, small_network, time_limit

import segc
from segc.cli import main
from segc.ir import SegError

GROWTH_SECONDS = 5  # CPU seconds: a separate segc process (about 1 s to start) rejecting an exponentially growing value
GROWTH_MEMORY = 2 << 30  # its address space: exponential growth must not take the machine down
BIG = "1" + "0" * 400  # 10**400: an integer beyond a float's range
LONG = "9" * 5000  # beyond Python's 4,300-digit limit for int <-> str


@pytest.mark.parametrize("text", [
    small_network(f"    output o = x -> conv({LONG}, k=1)"),
    f"target t {{\n    clock = {LONG} MHz\n}}\n",
], ids=["int", "quantity"])
def test_very_long_integer_literal_is_a_seg_error(text: str) -> None:
    with pytest.raises(SegError, match=r"digits|too long|too large|range"):
        segc.loads(text, "<bug>")


@pytest.mark.parametrize("use", ["x -> conv(d, k=1)", "x -> upsample(d)", "x -> relu -> b([1][d])", "float(d)"],
                         ids=["attribute", "scale", "index", "float"])
def test_very_long_integer_result_is_a_seg_error(use: str) -> None:
    """``d`` has 6,000 digits: 3,000-digit ``c`` squared."""
    text = small_network(f"    c = {'9' * 3000}\n    d = c * c\n    output o = {use}",
                         "block b(x, i) {\n    return x\n}\n")
    assert load_or_seg_error(text, "<bug>") is None


@pytest.mark.parametrize("expression", [f"{BIG} + 1.5", f"{BIG} * 0.5", f"{BIG} / 3"])
def test_float_overflow_in_arithmetic_is_a_seg_error(expression: str) -> None:
    assert load_or_seg_error(small_network(f"    c = {expression}\n    output o = x"), "<bug>") is None


def test_range_of_huge_integer_is_a_seg_error() -> None:
    assert load_or_seg_error(small_network(f"    c = range({BIG})\n    output o = x"), "<bug>") is None


@pytest.mark.parametrize("field, value", [("dsp", BIG), ("line_buffer", BIG), ("clock", f"{BIG} MHz"),
                                          ("word", f"{BIG} bit")])
def test_target_field_beyond_float_range_is_a_seg_error(field: str, value: str) -> None:
    target = (EXAMPLES / "targets" / "ultra96.seg").read_text(encoding="utf-8")
    target = re.sub(rf"(?m)^(\s*{field}\s*=).*$", lambda m: f"{m.group(1)} {value}", target)
    assert value in target
    text = target + small_network("    output o = x").replace("network n", "network n on ultra96_codenet")
    assert load_or_seg_error(text, "<bug>") is None


def test_import_path_with_nul_byte_is_a_seg_error() -> None:
    assert load_or_seg_error('import "\x00"\n', str(EXAMPLES / "generated.seg")) is None


def test_prune_rate_beyond_float_range_is_a_seg_error() -> None:
    text = small_network("    output o = x -> conv(4, k=1)") + f"prune n {{\n    o: {BIG}\n}}\n"
    assert load_or_seg_error(text, "<bug>") is None


def run_isolated(text: str, folder: Path) -> subprocess.CompletedProcess:
    """``segc check`` on the text in a separate process, with a CPU-time and
    a memory limit (a hang in C code, such as a huge multiplication, cannot
    be interrupted in-process; CPU time, since on a loaded machine wall time
    says nothing).  The wall-clock timeout only backs the CPU limit up."""
    resource = pytest.importorskip("resource")

    def limit_process() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (GROWTH_MEMORY, GROWTH_MEMORY))
        resource.setrlimit(resource.RLIMIT_CPU, (GROWTH_SECONDS, GROWTH_SECONDS + 1))

    path = folder / "growth.seg"
    path.write_text(text, encoding="utf-8")
    try:
        done = subprocess.run([sys.executable, "-m", "segc.cli", "check", str(path)], capture_output=True,
                              text=True, timeout=20 * GROWTH_SECONDS, preexec_fn=limit_process, check=False)
    except subprocess.TimeoutExpired:
        raise Hang(f"segc check still running after {20 * GROWTH_SECONDS} s of wall time") from None
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise Hang(f"segc check used more than {GROWTH_SECONDS} s of CPU time")
    return done


def _doubling(first: str, step: str, times: int) -> str:
    """``v0 = first`` then ``v1 = v0 OP v0`` ... : a value that doubles in size per line."""
    lines = [f"    v0 = {first}"] + [f"    v{i + 1} = v{i} {step} v{i}" for i in range(times)]
    return small_network("\n".join(lines) + "\n    output o = x")


def test_squaring_integers_is_stopped(tmp_path: Path) -> None:
    result = run_isolated(_doubling("10", "*", 30), tmp_path)
    assert result.returncode == 1 and "error:" in result.stderr and "internal error" not in result.stderr


def test_doubling_strings_is_stopped(tmp_path: Path) -> None:
    result = run_isolated(_doubling('"ab"', "+", 40), tmp_path)
    assert result.returncode == 1 and "error:" in result.stderr and "internal error" not in result.stderr


def test_growth_within_limits_is_fine(tmp_path: Path) -> None:
    """The isolated run itself works: 4 squarings (10**16, inside segc's ±2^62 integers) are accepted."""
    result = run_isolated(_doubling("10", "*", 4), tmp_path)
    assert result.returncode == 0, result.stderr


KEEP_PATTERN = 'network n {\n    input x: [3, 8, 8]\n    keep = x -> conv(4, k=1)\n    output o = keep\n}\n\n' \
               'prune n {\n    "keep": 0.5\n}\n'


def test_format_keeps_keyword_pattern_quoted() -> None:
    check_format_roundtrip(KEEP_PATTERN)


def test_printed_graph_keeps_keyword_pattern_quoted() -> None:
    graph = segc.loads(KEEP_PATTERN)
    assert segc.to_json(segc.loads(segc.to_seg(graph))) == segc.to_json(graph)


# ------------------------------------------------------------------ JSON inputs (found by test_fuzz_json)
JSON_DEPTH = 100_000  # far past Python's recursion limit (1,000)
HOSTILE_JSON = {
    "deep_array": ("[" * JSON_DEPTH + "]" * JSON_DEPTH, "nested too deeply"),
    "deep_object": ('{"a":' * JSON_DEPTH + "1" + "}" * JSON_DEPTH, "nested too deeply"),
    "long_integer": ('{"version": ' + LONG + "}", "an integer has too many digits"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_json_graph_past_python_limits_is_a_clean_error(tmp_path: Path, capsys, case: str) -> None:
    text, reason = HOSTILE_JSON[case]
    path = tmp_path / "graph.json"
    path.write_text(text, encoding="utf-8")
    assert main(["check", str(path)]) == 1
    assert capsys.readouterr().err == f"{path}: error: not valid JSON: {reason}\n"


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_calibration_file_past_python_limits_is_a_clean_error(tmp_path: Path, capsys, case: str) -> None:
    text, reason = HOSTILE_JSON[case]
    path = tmp_path / "latency.json"
    path.write_text(text, encoding="utf-8")
    assert main(["report", str(EXAMPLES / "tiny.seg"), "--calibration", str(path)]) == 1
    assert capsys.readouterr().err == f"{path}: error: bad calibration file: {reason}\n"


def test_onnx_metadata_nested_too_deeply_is_a_clean_error(tmp_path: Path, capsys) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto
    from onnx import helper as h

    io = [h.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 8, 8]) for n in ("x", "y")]
    model = h.make_model(h.make_graph([h.make_node("Relu", ["x"], ["y"], name="act")], "g", io[:1], io[1:]),
                         opset_imports=[h.make_opsetid("", 17)])
    model.metadata_props.add(key="segc.dconv", value=HOSTILE_JSON["deep_array"][0])
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    assert main(["import", str(path), "-o", str(tmp_path / "out.seg")]) == 1
    assert capsys.readouterr().err == f"{path}: error: metadata 'segc.dconv' is not valid JSON (nested too deeply)\n"


@pytest.mark.parametrize("suffix", [".seg", ".json"])
def test_a_network_without_target_is_an_error_naming_the_file(tmp_path: Path, capsys, suffix: str) -> None:
    """Found by test_fuzz_json (a graph whose "target" was deleted)."""
    path = tmp_path / f"bare{suffix}"
    seg = small_network("    output o = x")
    path.write_text(seg if suffix == ".seg" else segc.to_json(segc.loads(seg)), encoding="utf-8")
    assert main(["report", str(path)]) == 1
    assert capsys.readouterr().err == (f"{path}: error: network 'n' has no target: "
                                       "write 'network n on TARGET' or give --target\n")


def test_onnx_input_dimension_past_the_limit_is_an_error_naming_the_file(tmp_path: Path, capsys) -> None:
    """Found by test_fuzz_onnx (a graph input's channels set to 2**31)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto
    from onnx import helper as h

    x = h.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2**31, 8, 8])
    y = h.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = h.make_model(h.make_graph([h.make_node("Relu", ["x"], ["y"], name="act")], "g", [x], [y]),
                         opset_imports=[h.make_opsetid("", 17)])
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    assert main(["import", str(path), "-o", str(tmp_path / "out.seg")]) == 1
    assert capsys.readouterr().err == (f"{path}: error: input 'x': 'c' must be a positive integer, "
                                       "got 2147483648 (at most 2147483647)\n")


def test_a_pass_error_on_a_json_graph_names_the_file(tmp_path: Path, capsys) -> None:
    """Found by the fuzz campaign (a JSON graph's deform rule with a bound of
    0 for a square window): the graph has no source positions, so the
    error from the deform pass names the file instead."""
    graph = json.loads(segc.to_json(segc.load(str(EXAMPLES / "codenet_layer.seg"), "full_square")))
    graph["directives"]["deform"]["rules"][0]["bound"] = 0
    path = tmp_path / "square.json"
    path.write_text(json.dumps(graph), encoding="utf-8")
    assert main(["report", str(path)]) == 1
    assert capsys.readouterr().err == (f"{path}: error: layer 'y': a square window needs a bound of at least 0.5 "
                                       "(scales in [1 − bound, bound]), got 0\n")


@pytest.mark.parametrize("node_name", ["output/act", "output"])
def test_an_onnx_layer_named_like_an_output_imports(tmp_path: Path, node_name: str) -> None:
    """Found by the fuzz campaign (a node renamed 'output/...' made the
    importer number names forever): the name's first part becomes 'output_'."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto
    from onnx import helper as h

    io = [h.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 8, 8]) for n in ("x", "y")]
    model = h.make_model(h.make_graph([h.make_node("Relu", ["x"], ["y"], name=node_name)], "g", io[:1], io[1:]),
                         opset_imports=[h.make_opsetid("", 17)])
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    with time_limit(GROWTH_SECONDS):
        assert main(["import", str(path), "-o", str(tmp_path / "out.seg")]) == 0
    names = [n.name for n in segc.load(str(tmp_path / "out.seg")).nodes()]
    assert names == ["x", node_name.replace("output", "output_").replace("/", "."), "output.y"]
