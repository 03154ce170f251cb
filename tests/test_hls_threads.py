"""The C simulation on several threads: a network built single-threaded
(no OpenMP), with OpenMP on two threads, and with the PE-array loops as
synthesised (SEGC_PE_LOOPS) writes the same bytes and counts the same
saturations.  Skipped without g++ or without its OpenMP."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import EXAMPLES  # noqa: E402

import segc  # noqa: E402
from segc.backends.hls.sim import compile_project, parallel_flags, run_testbench, write_project  # noqa: E402
from segc.cli import main  # noqa: E402
from segc.hls import HlsOptions, build_project  # noqa: E402

GXX = shutil.which("g++")
pytestmark = [
    pytest.mark.skipif(GXX is None, reason="g++ is not installed"),
    pytest.mark.skipif(GXX is not None and parallel_flags(GXX) != ("-fopenmp",), reason="g++ has no OpenMP"),
]

# Layers of several tiles each (a tile of one pixel for the dilated ones), a
# fused max pooling whose windows straddle tile edges, groups, a residual
# add, a strided 1x1 projection and a biased classifier.
NETWORK = """import "targets/arria10.seg"
import "blocks/resnet.seg"
network n on arria10_gx1150 {
    input image: [3, 70, 66]
    stem = image -> conv(16, k=7, stride=2, padding=3) -> bn -> relu -> maxpool(k=3, stride=2, padding=1)
    body = stem -> basic(16) -> basic(32, stride=2) -> basic(32, dilation=2)
    grouped = body -> conv(32, k=3, groups=4) -> relu
    output logits = grouped -> conv(5, k=1, bias=true) -> upsample(to=image, mode="bilinear")
}
"""


def _build(tmp_path, name: str, files: dict, config: dict, openmp: bool, threads: int | None,
           extra: tuple[str, ...] = ()) -> tuple[bytes, dict]:
    folder = tmp_path / name
    write_project(files, folder)
    build = compile_project(folder, "-O2", openmp=openmp, extra=extra)
    assert build.openmp == openmp
    _, counts, _, _ = run_testbench(folder, config, threads=threads)
    return (folder / "output.bin").read_bytes(), counts


def test_threads_and_pe_loops_write_the_same_bytes(tmp_path):
    graph = segc.loads(NETWORK, str(EXAMPLES / "threads_case.seg"))
    x = np.random.default_rng(5).standard_normal((1, 3, 70, 66)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "quarter.npy", x / 4)  # formats calibrated on a quarter of it: some words saturate
    files, _ = build_project(graph, HlsOptions(input=str(tmp_path / "x.npy"), calibrate=str(tmp_path / "quarter.npy")))
    config = json.loads(files["config.json"])
    tiles = {layer["name"]: layer["tile"] for layer in config["layers"] if "tile" in layer}
    shapes = {layer["name"]: layer["shape"] for layer in config["layers"]}
    several = [name for name, tile in tiles.items() if shapes[name][1] > tile[0] or shapes[name][2] > tile[1]]
    assert tiles["body.2.conv1"] == [1, 1]  # a dilated layer: one pixel per tile
    assert {"stem.conv", "body.0.conv1", "body.0.conv2", "body.2.conv1"} <= set(several), tiles
    single, one = _build(tmp_path, "single", files, config, openmp=False, threads=None)
    parallel, two = _build(tmp_path, "parallel", files, config, openmp=True, threads=2)
    looped, pe = _build(tmp_path, "pe", files, config, openmp=False, threads=None, extra=("-DSEGC_PE_LOOPS",))
    assert (one["threads"], two["threads"]) == (1, 2)
    assert one["saturated"] > 0
    assert one["saturated"] == two["saturated"] == pe["saturated"]
    assert single == parallel == looped
    assert np.isfinite(np.frombuffer(single, dtype="<f4")).all()


def test_hls_sim_records_the_build_and_threads(capsys):
    assert main(["hls-sim", str(EXAMPLES / "tiny.seg"), "--opt", "3", "--threads", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["openmp"] is True and result["threads"] == 2
    assert result["compiler_flags"].endswith("-Iinclude -O3 -fopenmp")
    compile_network, compile_tb, link = result["compile_commands"]
    assert compile_network.endswith(" -O3 -fopenmp -c network.cpp -o network.o")
    assert compile_tb.endswith(" -O3 -fopenmp -c tb.cpp -o tb.o")
    assert link.endswith(" -fopenmp network.o tb.o -o csim")
    assert main(["hls-sim", str(EXAMPLES / "tiny.seg"), "--opt", "1", "--threads", "1"]) == 0
    assert "-O1 -fopenmp, 1 thread)" in capsys.readouterr().out


def test_build_script_uses_openmp(tmp_path):
    out = tmp_path / "tiny_hls"
    assert main(["export", str(EXAMPLES / "tiny.seg"), "--to", "hls", "-o", str(out)]) == 0
    built = subprocess.run(["sh", "build.sh"], cwd=out, check=True, capture_output=True, text=True)
    assert " -O2 -fopenmp network.cpp tb.cpp -o csim" in built.stderr  # the command, as run (set -x)
    done = subprocess.run(["./csim", "params.bin", "tb_data/input.bin", "y.bin"], cwd=out, check=True,
                          capture_output=True, text=True, env={"OMP_NUM_THREADS": "2"})
    assert "threads: 2" in done.stderr
