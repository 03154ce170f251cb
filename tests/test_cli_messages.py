"""What the command line tells its user: ``fmt -i`` (in place, several
files, mistakes left untouched), the "wrote …" line of every command that
writes files (on standard error, standard output left clean), ``import``'s
summary, ``dse``'s roofline/latency column and its footnote, ``calibrate``'s
columns aligned whatever the name lengths, and ``offsets`` without
``--weights``.  Expected outputs are worked out by hand."""

from __future__ import annotations

import itertools
import json
import os
import re
import stat
from pathlib import Path

import pytest
from conftest import EXAMPLES

from segc.cli import main
from segc.cli.common import say_written
from segc.outputs import MANIFEST

TINY = EXAMPLES / "tiny.seg"
MESSY = "network  n{\ninput x:[1,2,2]\noutput y=x->relu\n}\n"
CANONICAL = "network n {\n    input x: [1, 2, 2]\n    output y = x -> relu\n}\n"
BROKEN = "network n {\n    input x: [1, 2, 2]\n    output y = x ->\n}\n"
# examples/tiny.seg by hand (as in test_cli.py): the MACs of its five convolutions and its linear layer.
TINY_MACS = (32 * 32 * 8 * 3 * 3 * 3 + 16 * 16 * 16 * 8 * 3 * 3 + 2 * (16 * 16 * 16 * 16 * 3 * 3)
             + 16 * 16 * 16 * 32 + 16 * 10)
ULTRA96_CLOCK = 250e6  # examples/targets/ultra96.seg


def run(capsys: pytest.CaptureFixture, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys: pytest.CaptureFixture, *argv) -> str:
    """The message of a command line argparse rejects (exit status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def named_files(err: str) -> list[str]:
    """The paths a 'wrote A, B, ... (N files)' line names."""
    match = re.fullmatch(r"wrote (.*) \((\d+) files\)\n", err)
    assert match, err
    paths = match.group(1).split(", ")
    assert len(paths) == int(match.group(2))
    return paths


# ---------------------------------------------------------------- fmt -i
def test_fmt_in_place_rewrites_and_keeps_the_mode(capsys, tmp_path: Path) -> None:
    path = write(tmp_path / "messy.seg", MESSY)
    path.chmod(0o640)
    assert run(capsys, "fmt", "-i", path) == (0, "", f"reformatted {path}\n")
    assert path.read_text(encoding="utf-8") == CANONICAL
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".segc-")]  # no temporary file left


def test_fmt_in_place_leaves_formatted_files_alone(capsys, tmp_path: Path) -> None:
    path = write(tmp_path / "clean.seg", CANONICAL)
    inode = path.stat().st_ino
    assert run(capsys, "fmt", "--in-place", path) == (0, "", "")
    assert path.stat().st_ino == inode  # not even replaced by an equal copy


def test_fmt_in_place_several_files_and_one_with_a_mistake(capsys, tmp_path: Path) -> None:
    first, clean = write(tmp_path / "a.seg", MESSY), write(tmp_path / "b.seg", CANONICAL)
    broken, last = write(tmp_path / "c.seg", BROKEN), write(tmp_path / "d.seg", MESSY)
    code, out, err = run(capsys, "fmt", "-i", first, clean, broken, last)
    assert (code, out) == (1, "")
    assert err == (f"reformatted {first}\n{broken}:4:1: error: unexpected '}}'; expected a name\n    }}\n    ^\n"
                   f"reformatted {last}\n")
    assert broken.read_text(encoding="utf-8") == BROKEN
    assert [p.read_text(encoding="utf-8") for p in (first, clean, last)] == [CANONICAL] * 3


def test_fmt_check_takes_several_files(capsys, tmp_path: Path) -> None:
    clean, messy = write(tmp_path / "a.seg", CANONICAL), write(tmp_path / "b.seg", MESSY)
    code, out, err = run(capsys, "fmt", "--check", clean, messy)
    assert code == 1 and out.startswith(f"--- {messy}\n") and err == f"{messy}: not in canonical layout\n"
    assert messy.read_text(encoding="utf-8") == MESSY


@pytest.mark.parametrize("extra", [["--check"], ["-o", "out.seg"]])
def test_fmt_in_place_excludes_check_and_output(capsys, tmp_path: Path, extra: list[str]) -> None:
    path = write(tmp_path / "messy.seg", MESSY)
    err = usage_error(capsys, "fmt", "-i", path, *extra)
    assert f"argument {'--check' if extra == ['--check'] else '-o/--output'}: not allowed with argument " \
           "-i/--in-place" in err
    assert path.read_text(encoding="utf-8") == MESSY


def test_fmt_to_standard_output_takes_one_file(capsys, tmp_path: Path) -> None:
    first, second = write(tmp_path / "a.seg", MESSY), write(tmp_path / "b.seg", MESSY)
    assert "give one FILE, or several with -i or --check" in usage_error(capsys, "fmt", first, second)


# ---------------------------------------------------------------- "wrote …"
def test_wrote_line_lists_a_few_files_and_counts_many(capsys) -> None:
    say_written(["out.seg"])
    say_written(["a/x.json", "a/y.png"])
    say_written([f"p/{name}" for name in "abcdefg"])
    lines = f"wrote out.seg\nwrote a/x.json, a/y.png (2 files)\nwrote 7 files in p{os.sep}\n"
    assert capsys.readouterr() == ("", lines)


def test_report_folder_names_every_file_it_wrote(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    code, out, err = run(capsys, "report", TINY, "-o", folder)
    assert (code, out) == (0, "")
    paths = named_files(err)
    assert sorted(paths) == sorted(str(folder / name) for name in os.listdir(folder) if name != MANIFEST)
    assert {os.path.basename(p) for p in paths} >= {"report.json", "report.md", "report.csv"}


def test_dse_and_compile_folders(capsys, tmp_path: Path) -> None:
    dse, compiled = tmp_path / "dse", tmp_path / "c"
    assert run(capsys, "dse", TINY, "-o", dse) == (0, "", f"wrote {dse}/dse.json, {dse}/pareto.png (2 files)\n")
    code, out, err = run(capsys, "compile", TINY, "--emit", "seg,json", "-o", compiled)
    assert (code, out, err) == (0, "", f"wrote {compiled}/tiny.seg, {compiled}/tiny.json (2 files)\n")


def test_export_and_graph_name_their_file(capsys, tmp_path: Path) -> None:
    for argv, path in ((["export", TINY, "--to", "json"], tmp_path / "t.json"),
                       (["graph", TINY], tmp_path / "t.dot"),
                       (["fmt", TINY], tmp_path / "t.seg")):
        assert run(capsys, *argv, "-o", path) == (0, "", f"wrote {path}\n")
        assert path.exists()


def test_hls_export_counts_its_files(capsys, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    folder = tmp_path / "hls"
    code, out, err = run(capsys, "export", TINY, "--to", "hls", "-o", folder)
    files = [name for _, _, names in os.walk(folder) for name in names if name != MANIFEST]
    assert len(files) > 6  # enough to be counted, not listed
    assert (code, out, err) == (0, "", f"wrote {len(files)} files in {folder}{os.sep}\n")


def test_search_names_its_files_after_the_front(capsys, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    folder = tmp_path / "s"
    code, out, err = run(capsys, "search", TINY, "--pop", "4", "--gen", "1", "-o", folder)
    assert code == 0 and out.startswith("tiny: Pareto front after 1 generations of 4")
    assert sorted(named_files(err)) == sorted(str(folder / name) for name in os.listdir(folder) if name != MANIFEST)


def test_calibrate_names_its_file(capsys, tmp_path: Path) -> None:
    target = tmp_path / "cal.json"
    code, out, err = run(capsys, "calibrate", EXAMPLES / "measurements" / "mori2022_table1.csv", "-o", target)
    assert code == 0 and out.startswith("fitted on all (8 points") and err == f"wrote {target}\n"


# ---------------------------------------------------------------- import
def _small_onnx(path: Path) -> Path:
    """x [1, 3, 8, 8] -> Conv 3 -> 4, 3x3, pad 1, with bias -> Relu -> y."""
    onnx = pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    from onnx import TensorProto, helper, numpy_helper

    weights = [numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "conv.weight"),
               numpy_helper.from_array(np.zeros(4, np.float32), "conv.bias")]
    nodes = [helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="/conv/Conv",
                              pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["y"], name="/relu/Relu")]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], weights)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_import_prints_a_summary_and_the_files_written(capsys, tmp_path: Path) -> None:
    model = _small_onnx(tmp_path / "small.onnx")
    code, out, err = run(capsys, "import", model, "-o", tmp_path / "m.seg")
    assert code == 0
    macs, params = 8 * 8 * 4 * 3 * 3 * 3, 4 * 3 * 3 * 3 + 4  # 6912: "6.91 k"
    assert macs == 6912
    layers = 4  # input, conv, relu, output
    assert out == (f"imported network small: input x [3, 8, 8]\n{layers} layers, 6.91 k MACs, {params} parameters\n"
                   "folded away: none\n")
    assert err == f"wrote {tmp_path / 'm.seg'}, {tmp_path / 'm.safetensors'} (2 files)\n"


# ---------------------------------------------------------------- dse's columns
def test_dse_explains_its_roofline_column(capsys) -> None:
    code, out, _ = run(capsys, "dse", TINY)
    assert code == 0 and "of_limit" not in out
    lines = out.splitlines()
    assert lines[1].split() == ["P_if", "P_of", "P_kx", "P_ky", "buffer_KiB", "DSPs_PE", "DSPs_total", "latency_ms",
                                "roofline_ms", "roofline/latency"]
    assert lines[-1].startswith("roofline/latency: the compute-only bound") and "100% = compute-bound" in lines[-1]
    assert lines[-2].startswith("DSPs_PE: the PE array's")
    first = lines[3].split()  # P_if = 1, P_of = 2, P_kx = P_ky = 1: two MACs a cycle, one DSP block
    assert first[:4] == ["1", "2", "1", "1"] and first[5:7] == ["1", "1"]
    assert first[8] == f"{TINY_MACS / 2 / ULTRA96_CLOCK * 1e3:.3f}" == "3.654"
    assert first[9] == f"{float(first[8]) / float(first[7]):.0%}"
    assert "roofline/latency: the compute-only bound" in " ".join(usage_help(capsys, "dse").split())


def usage_help(capsys: pytest.CaptureFixture, command: str) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return capsys.readouterr().out


# ---------------------------------------------------------------- calibrate's columns
def test_calibrate_columns_align_with_long_names(capsys, tmp_path: Path) -> None:
    long_name = "a_network_file_whose_name_is_far_longer_than_any_column.seg"
    text = TINY.read_text(encoding="utf-8").replace('"targets/', f'"{EXAMPLES}/targets/')
    for name in (long_name, "t.seg"):
        write(tmp_path / name, text)
    measured = {long_name: 0.5, "t.seg": 0.25}
    write(tmp_path / "m.csv", "network,pif,pof,pkx,latency_s\n"
          + "".join(f"{name},2,2,1,{seconds}\n" for name, seconds in measured.items()))
    code, out, _ = run(capsys, "calibrate", tmp_path / "m.csv")
    assert code == 0
    lines = out.splitlines()
    header, rule, rows = lines[1], lines[2], lines[3:5]
    spans = [m.span() for m in re.finditer("-+", rule)]
    assert len(spans) == 8 and spans[0] == (0, len(long_name))
    for line in (header, *rows):  # every cell inside its column, blanks between columns
        assert all(line[end:start].strip() == "" for (_, end), (start, _) in itertools.pairwise(spans))
    cells = [[row[a:b].strip() for a, b in spans] for row in rows]
    assert [c[:4] for c in cells] == [[name, "2,2,1", "train", f"{seconds:.4f}"] for name, seconds in measured.items()]
    assert [header[a:b].strip() for a, b in spans] == ["network", "unroll", "split", "measured", "model", "error",
                                                      "calibrated", "error"]


# ---------------------------------------------------------------- offsets without --weights
def test_offsets_default_to_seeded_weights_and_say_so(capsys) -> None:
    pytest.importorskip("torch")
    argv = ("offsets", EXAMPLES / "codenet_layer.seg", "--network", "full_deform", "--inputs", "1")
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert out.splitlines()[-1] == ("weights initialised from seed 0, not trained: these are the offsets of an "
                                    "untrained offset branch, not a trained model's (give --weights)")
    code, out, _ = run(capsys, *argv, "--seed", "3", "--json")
    data = json.loads(out)
    assert code == 0 and (data["weights"], data["seed"]) == (None, 3)
    # an untrained offset branch (zero weights and bias, as deformable convolutions start) predicts no offset
    assert [(layer["max"], layer["suggested_bound"]) for layer in data["layers"]] == [(0, 0)]
