"""The HLS C++ backend: generated code of the tiny example against golden
files (byte-identical across runs), fixed-point formats and resize tables
against hand-worked values and torch, the memory plan, the commands, and the
mistakes users can make.  Numerics of the C simulation: test_hls_sim.py."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import EXAMPLES  # noqa: E402

import segc  # noqa: E402
from segc.backends.hls import lower as hls_lower  # noqa: E402
from segc.backends.hls.fixed import frac_bits, quantize  # noqa: E402
from segc.backends.hls.fusion import fusion_chains, unstored  # noqa: E402
from segc.backends.hls.memory import VIEW_OPS, plan_memory  # noqa: E402
from segc.backends.hls.project import CXX_FLAGS, LIBRARY  # noqa: E402
from segc.cli import main  # noqa: E402
from segc.hls import HlsOptions, build_project  # noqa: E402
from segc.ir import OPS  # noqa: E402
from segc.passes.base import run_pipeline  # noqa: E402
from segc.passes.cost import CostPass  # noqa: E402
from segc.passes.tile import TilePass  # noqa: E402

TINY = str(EXAMPLES / "tiny.seg")
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
GENERATED = ("network.cpp", "network.h", "config.json", "build.sh", "vitis_hls.tcl", "layer_config.h")


def test_every_op_has_an_hls_lowering():
    assert set(hls_lower.HLS_LOWERING) == set(OPS)


def test_tiny_project_is_golden_and_deterministic(golden):
    first, _ = build_project(segc.load(TINY), HlsOptions())
    second, _ = build_project(segc.load(TINY), HlsOptions())
    assert first == second  # every byte, the parameter image and test data included
    for name in GENERATED:
        golden(f"hls/tiny/{name}", first[name].decode())


def test_tiny_fuses_bn_relu_and_the_residual_add_into_its_convolutions():
    """tiny.seg by hand: five conv -> bn -> relu blocks, each one conv2d call
    with an epilogue.  merged = add(down, body) -> maxpool: the add's first
    input (down.relu) is written by down.conv before body runs, its second
    (body.1.relu) leaves body.1.conv's pipeline, so the add (reading down.relu
    from DRAM) and the max pooling run in body.1.conv's epilogue (one
    max_pool_finish).  Bilinear upsampling, concat (two slices), global
    average pooling and linear stay kernels of their own: 10 kernel calls
    (22 with every layer a kernel)."""
    import collections
    import re

    files, _ = build_project(segc.load(TINY), HlsOptions())
    source = files["network.cpp"].decode()
    top = source.split("_top(")[1]
    calls = collections.Counter(re.findall(r"segc::(\w+)<", top))
    assert calls == {"conv2d": 5, "max_pool_finish": 1, "resize_bilinear": 1, "requantize_copy": 2,
                     "global_avg_pool": 1, "linear": 1}
    config = json.loads(files["config.json"])
    layers = {e["name"]: e for e in config["layers"]}
    for entry in layers.values():
        if entry["op"] in ("conv", "bn"):  # read only by the next layer of their block
            assert "offset" not in entry, entry["name"]
        if entry["op"] in ("bn", "relu"):
            assert entry["fused_into"] == entry["name"].rsplit(".", 1)[0] + ".conv"
    assert layers["merged.add"]["fused_into"] == layers["merged.maxpool"]["fused_into"] == "body.1.conv"
    assert "offset" not in layers["merged.add"] and "offset" not in layers["body.1.relu"]  # only the pool reads them
    assert [name for name, e in layers.items() if e["op"] == "relu" and "offset" in e] == [
        "stem.relu", "down.relu", "body.0.relu", "fused.0.relu"]
    assert not any(e["op"] in ("conv", "bn", "add") for e in layers.values() if e["name"] in config["trace"])
    # the add reads down.relu from DRAM; body.1.relu is the pipeline's word (input 1: bit 2)
    down = layers["down.relu"]["offset"]
    assert f"residual_add<merged_add_cfg, 2, 16, 16>(v, c, y, x, mem + {down}, nullptr, nullptr, nullptr)" in source


@pytest.mark.parametrize(("value", "headroom", "frac"), [
    (1.0, 0, 14),  # 2^15 = 32768 > 32767, 2^14 fits
    (1.0, 1, 13),
    (0.9999, 0, 15),  # 0.9999·2^15 = 32764.7 → 32765
    (32767.0, 0, 0),
    (32768.0, 0, -1),
    (0.0, 1, 14),  # nothing to hold: 15 − headroom
    (2.0**-30, 0, 24),  # at most 24 fraction bits
    (2.0**40, 0, None),  # beyond −16 fraction bits
    (float("inf"), 0, None),
])
def test_fraction_bits_by_hand(value, headroom, frac):
    assert frac_bits(value, headroom) == frac


def test_quantize_rounds_half_up_and_saturates():
    words = quantize(np.array([0.25, -0.25, 1.25, -1.25, 100.0, -200.0]), 1)
    assert words.tolist() == [1, 0, 3, -2, 200, -400]  # floor(2x + 1/2): halves go up
    assert quantize(np.array([200.0, -200.0]), 8).tolist() == [32767, -32768]


def _apply(table: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    if table.shape[1] == 1:
        return np.take(x, table[:, 0], axis=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    weight = (table[:, 2] / 2**15).reshape(shape)
    return np.take(x, table[:, 0], axis=axis) * (1 - weight) + np.take(x, table[:, 1], axis=axis) * weight


@pytest.mark.parametrize(("size", "factor", "mode", "corners"), [
    ((5, 7), (2.0, 2.0), "nearest", False), ((5, 7), (1.7, 2.5), "nearest", False),
    ((6, 4), None, "nearest", False), ((5, 7), (2.0, 3.0), "bilinear", False),
    ((5, 7), (1.5, 2.5), "bilinear", False), ((5, 7), (3.0, 3.0), "bilinear", True),
    ((9, 3), None, "bilinear", False), ((9, 3), None, "bilinear", True),
])
def test_resize_tables_follow_torch(size, factor, mode, corners):
    x = torch.randn(1, 1, 5, 7)
    kwargs = {"scale_factor": factor} if factor else {"size": size}
    if mode == "bilinear":
        kwargs["align_corners"] = corners
    expected = torch.nn.functional.interpolate(x, mode=mode, **kwargs)[0, 0].double().numpy()
    out_h, out_w = expected.shape
    rows = hls_lower.resize_table(5, out_h, factor[0] if factor else None, mode, corners)
    cols = hls_lower.resize_table(7, out_w, factor[1] if factor else None, mode, corners)
    got = _apply(cols, _apply(rows, x[0, 0].double().numpy(), 0), 1)
    # bilinear weights are kept in 2^-15 units: at most 2^-16 off per axis
    assert np.abs(got - expected).max() <= (0 if mode == "nearest" else 4 * 2**-16 * x.abs().max().item() + 1e-6)


def _small(name: str) -> segc.Graph:
    text = (EXAMPLES / name).read_text()
    for size in ("960, 960", "512, 512", "224, 224"):
        text = text.replace(f"[3, {size}]", "[3, 32, 32]")
    return segc.loads(text, str(EXAMPLES / name))


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("name", ["deeplabv3plus_r18.seg", "codenet_shufflenet.seg"])
def test_memory_plan_never_overlaps_live_tensors(name, fused):
    """Fused: a chain's stored outputs are written by its head's kernel, so
    they live from the head's step on (while the head's inputs still do)."""
    graph, chains, skipped = _small(name), {}, set()
    if fused:
        graph, _ = run_pipeline(graph, [TilePass("paper"), CostPass()])
        chains = fusion_chains(graph)
        skipped = unstored(graph, chains)
        assert chains and skipped
    plan = plan_memory(graph, {n.name: 7 for n in graph.nodes() if n.op == "dconv"}, chains, skipped)
    assert not skipped & set(plan.offset)
    head = {member: first for first, chain in chains.items() for member in chain}
    order = {n.name: i for i, n in enumerate(graph.nodes())}
    root = {}
    for node in graph.nodes():
        root[node.name] = root[node.inputs[0]] if node.op in VIEW_OPS else node.name
    assert root == plan.owner
    born = {n.name: (-1 if n.op == "input" else order[head.get(n.name, n.name)]) for n in graph.nodes()
            if root[n.name] == n.name and n.name not in skipped}
    dies = dict.fromkeys(born, -1)
    for node in graph.nodes():
        for operand in [o for o in node.inputs if root[o] in dies]:  # not a fused head's or member's
            dies[root[operand]] = max(dies[root[operand]], order[node.name])
        if node.op == "output":
            dies[root[node.name]] = len(order)
    size = {n.name: n.shape.c * n.shape.h * n.shape.w for n in graph.nodes()}
    for step in range(len(order)):
        live = sorted((plan.offset[n], plan.offset[n] + size[n]) for n in born if born[n] <= step <= dies[n])
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(live)), step
        assert all(end <= plan.words for _, end in live)


# ---------------------------------------------------------------- commands


def test_export_writes_a_project(tmp_path):
    out = tmp_path / "tiny_hls"
    assert main(["export", TINY, "--to", "hls", "-o", str(out)]) == 0
    names = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert {*GENERATED, "tb.cpp", "params.bin", "tb_data/input.bin", "tb_data/expected.bin",
            "include/segc.h", "include/segc_conv.h", "include/segc_deform.h"} <= names
    assert os.access(out / "build.sh", os.X_OK)
    config = json.loads((out / "config.json").read_text())
    assert config["param_words"] * 2 == (out / "params.bin").stat().st_size


@needs_gxx
@pytest.mark.parametrize("header", sorted(p.name for p in LIBRARY.glob("*.h")))
def test_every_library_header_compiles_on_its_own(tmp_path, header):
    """A header includes the headers it uses (the names a template uses
    without depending on its parameters are looked up where it is defined)."""
    (tmp_path / "one.cpp").write_text(f'#include "{header}"\n')
    flags = [f for f in CXX_FLAGS if not f.startswith("-I")]
    done = subprocess.run(["g++", *flags, "-Werror", f"-I{LIBRARY}", "-fsyntax-only", "one.cpp"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@needs_gxx
def test_build_script_and_test_bench(tmp_path):
    out = tmp_path / "tiny_hls"
    main(["export", TINY, "--to", "hls", "-o", str(out)])
    built = subprocess.run(["sh", "build.sh"], cwd=out, check=True, capture_output=True, text=True,
                           env={**os.environ, "CXXFLAGS": "-O1"})
    assert "warning" not in built.stderr  # -Wall
    done = subprocess.run(["./csim", "params.bin", "tb_data/input.bin", "y.bin", "tb_data/expected.bin"], cwd=out,
                          capture_output=True, text=True, check=True)
    error = float(done.stdout.split("max abs difference")[1])
    lsb = 2.0 ** -json.loads((out / "config.json").read_text())["outputs"][0]["frac"]
    assert error < 4 * lsb
    assert "saturated results: 0" in done.stderr


@needs_gxx
def test_hls_sim_json_and_table(capsys):
    assert main(["hls-sim", TINY, "--opt", "1", "--json", "--layers"]) == 0
    result = json.loads(capsys.readouterr().out)
    (logits,) = result["outputs"]
    assert logits["name"] == "logits" and logits["argmax_agreement"] == 1.0
    # the output's lsb is 2^-frac; the C simulation of the same network stays within 4 lsb
    # (as in test_build_script_and_test_bench)
    assert logits["lsb"] == 2.0 ** -logits["frac"]
    assert 0 <= logits["max_abs_error"] < 4 * logits["lsb"]
    # stem.conv and stem.bn run in stem.conv's pipeline and leave no tensor to trace
    assert [layer["name"] for layer in result["layers"]][:2] == ["image", "stem.relu"]
    assert main(["hls-sim", TINY, "--opt", "1"]) == 0
    assert "max_abs_error" in capsys.readouterr().out


# ---------------------------------------------------------------- mistakes


def _fails(argv, capsys) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_unimplemented_op_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.delitem(hls_lower.HLS_LOWERING, "upsample")
    err = _fails(["export", TINY, "--to", "hls", "-o", str(tmp_path / "p")], capsys)
    assert "layer 'up': op 'upsample' is not implemented by the HLS kernel library" in err
    assert "tiny.seg:" in err and not (tmp_path / "p").exists()


def test_add_of_many_inputs(tmp_path, capsys):
    path = tmp_path / "many.seg"
    path.write_text('import "targets/arria10.seg"\n'.replace("targets", str(EXAMPLES / "targets"))
                    + "network n on arria10_gx1150 {\n    input x: [2, 4, 4]\n"
                    "    output y = add(x, x -> relu, x -> relu6, x -> sigmoid, x -> identity)\n}\n")
    assert "adds at most 4 tensors" in _fails(["export", str(path), "--to", "hls", "-o", str(tmp_path / "p")], capsys)


@pytest.mark.parametrize(("frac", "message"), [
    ("stem.conv=20", "layer 'stem.conv': 20 fraction bits would overflow its 8-bit words"),
    ("head.flatten=3", "layer 'head.flatten' (flatten) has no format of its own"),
    ("stem.cnv=3", "no layer 'stem.cnv' in network 'tiny'"),
    ("stem.conv", "--frac takes LAYER=BITS"),
])
def test_fixed_formats_are_checked(frac, message, tmp_path, capsys):
    assert message in _fails(["export", TINY, "--to", "hls", "-o", str(tmp_path / "p"), "--frac", frac], capsys)


def test_a_given_format_that_fits_is_used(tmp_path):
    assert main(["export", TINY, "--to", "hls", "-o", str(tmp_path / "p"), "--frac", "stem.conv=5"]) == 0
    layers = {e["name"]: e for e in json.loads((tmp_path / "p" / "config.json").read_text())["layers"]}
    assert layers["stem.conv"]["frac"] == 5  # calibrated: 4 (max 2.33 with a bit of headroom in 8 bits)


def test_bad_inputs(tmp_path, capsys):
    np.save(tmp_path / "wrong.npy", np.zeros((3, 8, 8), dtype=np.float32))
    err = _fails(["export", TINY, "--to", "hls", "-o", str(tmp_path / "p"), "--input", str(tmp_path / "wrong.npy")],
                 capsys)
    assert "input 'image' must be [3, 32, 32], got [3, 8, 8]" in err
    np.save(tmp_path / "huge.npy", np.full((3, 32, 32), 1e12, dtype=np.float32))
    err = _fails(["export", TINY, "--to", "hls", "-o", str(tmp_path / "p"), "--input", str(tmp_path / "huge.npy")],
                 capsys)
    assert "layer 'image': its output reaches 1e+12 on the calibration input, beyond 8-bit fixed point" in err


def test_output_must_be_a_folder_and_a_target_is_needed(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert "is a file" in _fails(["export", TINY, "--to", "hls", "-o", str(tmp_path / "file")], capsys)
    (tmp_path / "free.seg").write_text("network n {\n    input x: [1, 2, 2]\n    output y = x -> relu\n}\n")
    assert "has no target" in _fails(["export", str(tmp_path / "free.seg"), "--to", "hls", "-o", str(tmp_path)],
                                      capsys)


def test_missing_compiler(capsys, monkeypatch):
    monkeypatch.setenv("CXX", "segc-no-such-compiler")
    assert "the C++ compiler 'segc-no-such-compiler' was not found" in _fails(["hls-sim", TINY], capsys)


def test_failing_compiler_shows_its_output(tmp_path, capsys, monkeypatch):
    fake = tmp_path / "fake-cxx"
    fake.write_text("#!/bin/sh\necho 'network.cpp:1:1: error: something is wrong'\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", str(fake))
    err = _fails(["hls-sim", TINY], capsys)
    assert "the C++ compiler failed on network.cpp (exit status 1)" in err
    assert "error: something is wrong" in err


def test_deform_section_decides_the_variant():
    text = ('import "targets/ultra96.seg"\nnetwork n on ultra96_codenet {\n    input x: [4, 12, 12]\n'
            "    output y = x -> dconv(4, k=3, groups=4)\n}\n\n"
            "deform n {\n    y: bound=2, shape=square, round=true\n}\n")
    files, _ = build_project(segc.loads(text, str(EXAMPLES / "deform_case.seg")), HlsOptions())
    source = files["network.cpp"].decode()
    offset_frac = next(e for e in json.loads(files["config.json"])["layers"] if e["name"] == "y")["offset_frac"]
    assert "SQUARE = true, ROUND = true, BOUNDED = true" in source
    assert f"BOUND_LO = {-1 * 2**offset_frac}, BOUND_HI = {2 * 2**offset_frac}" in source  # scales in [1 − 2, 2]
    (layer,) = json.loads(files["layer_config.json"])["layers"]  # the layer table carries the variant
    assert layer["deform"] == {"bound": 2.0, "shape": "square", "round": True, "offset_groups": 1}
    assert [layer[k] for k in ("deform_bound", "deform_square", "deform_round", "deform_groups")] == [512, 1, 1, 1]
    row = files["layer_config.h"].decode().split("layer_config[LAYER_NUM][NUM_CONFIG_ITEM] = {")[1]
    deform_and_widths = "512, 1, 1, 1, 8, 8, 0"  # 2 pixels in 2^-8 units; then w_bits, a_bits, int_scheme
    assert row.split("}")[0].strip().lstrip("{").endswith(deform_and_widths)


def test_calibration_batch_and_inputs_by_name(tmp_path):
    text = ('import "targets/arria10.seg"\nnetwork two on arria10_gx1150 {\n    input a: [2, 4, 4]\n'
            "    input b: [2, 4, 4]\n    output y = add(a, b -> relu)\n}\n")
    graph = segc.loads(text, str(EXAMPLES / "two_inputs.seg"))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", a=rng.standard_normal((2, 4, 4)), b=rng.standard_normal((2, 4, 4)))
    np.savez(tmp_path / "cal.npz", a=4 * rng.standard_normal((5, 2, 4, 4)), b=rng.standard_normal((5, 2, 4, 4)))
    files, _ = build_project(graph, HlsOptions(input=str(tmp_path / "x.npz"), calibrate=str(tmp_path / "cal.npz")))
    config = json.loads(files["config.json"])
    assert config["calibration"] == {"headroom_bits": 1, "input": "cal.npz", "samples": 5}
    assert [i["name"] for i in config["inputs"]] == ["a", "b"]
    assert len(files["tb_data/input.bin"]) == 2 * 32 * 4
    np.savez(tmp_path / "half.npz", a=np.zeros((2, 4, 4)))
    with pytest.raises(segc.SegError, match="no array for input"):
        build_project(graph, HlsOptions(input=str(tmp_path / "half.npz")))


@needs_gxx
def test_two_inputs_simulate(capsys):
    text = ('import "targets/arria10.seg"\nnetwork two on arria10_gx1150 {\n    input a: [2, 4, 4]\n'
            "    input b: [2, 4, 4]\n    output y = add(a, b -> relu)\n    output z = b\n}\n")
    from segc.hls import simulate

    result = simulate(segc.loads(text, str(EXAMPLES / "two_inputs.seg")), HlsOptions(), opt="-O1")
    half = {e["name"]: 2.0 ** -(e["frac"] + 1) for e in result["config"]["layers"]}  # half an LSB
    y, z = result["outputs"]
    assert (y["name"], z["name"]) == ("y", "z")
    assert y["max_abs_error"] <= half["a"] + half["b"] + half["y.relu"] + half["y.add"]  # every rounding once
    assert z["max_abs_error"] <= half["b"]  # the input's own rounding
