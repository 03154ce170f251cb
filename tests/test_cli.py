"""The ``segc`` command line, run in-process through ``segc.cli.main``:
``check`` (table and JSON), ``--network``, ``--help`` of every command,
``fmt`` (stdout, ``--check``, ``-o``), ``graph`` (DOT, SVG, PNG; the
pictures are deterministic), ``export`` (seg and JSON read back to an equal
graph), atomic writes, warnings and errors on stderr.  One subprocess test
runs the installed console script and ``python -m segc``."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, NETWORK_EXAMPLES

import segc
from segc.cli import main

TINY = EXAMPLES / "tiny.seg"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COMMANDS = ("check", "fmt", "graph", "export")

# examples/tiny.seg, by hand (input 3×32×32; each conv is H·W·C_out·C_in·k·k):
TINY_MACS = (
    32 * 32 * 8 * 3 * 3 * 3  # stem: 3 -> 8, 3×3 at 32×32
    + 16 * 16 * 16 * 8 * 3 * 3  # down: 8 -> 16, 3×3 stride 2 -> 16×16
    + 2 * (16 * 16 * 16 * 16 * 3 * 3)  # body: two 16 -> 16, 3×3
    + 16 * 16 * 16 * 32 * 1 * 1  # fused: concat(16 + 16) -> 16, 1×1
    + 16 * 10  # head: linear 16 -> 10
)
TINY_PARAMS = (
    8 * 3 * 3 * 3 + 2 * 8  # stem conv + bn
    + 16 * 8 * 3 * 3 + 2 * 16  # down
    + 2 * (16 * 16 * 3 * 3 + 2 * 16)  # body
    + 16 * 32 + 2 * 16  # fused
    + 16 * 10 + 10  # linear with bias
)
TINY_LAYERS = 24  # input, 6 cbr × 3, add, maxpool, upsample, concat, avgpool, flatten, linear, output

TWO_NETWORKS = """network first {
    input x: [1, 2, 2]
    output y = x -> relu
}

network second {
    input x: [1, 2, 2]
    output y = x -> sigmoid
}
"""

UNUSED = """network n {
    input x: [1, 2, 2]
    dead = x -> relu
    output y = x
}
"""

MESSY = "network  n{\ninput x:[1,2,2]\noutput y=x->relu\n}\n"


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- check
def test_check_prints_a_table_with_totals(capsys) -> None:
    code, out, err = run(capsys, "check", TINY)
    assert code == 0
    assert TINY_MACS == 1_826_976 and TINY_PARAMS == 6_802
    assert "network tiny on ultra96_codenet" in out
    assert f"{TINY_LAYERS} layers" in out
    footer = next(line for line in out.splitlines() if f"{TINY_LAYERS} layers" in line)
    assert "total" in footer and f"{TINY_MACS:,}" in footer and f"{TINY_PARAMS:,}" in footer
    for name in ("stem.conv", "body.1.bn", "head.linear", "output.logits"):
        assert name in out
    assert "1.83 M MACs, 6.8 k parameters" in out
    assert err == ""


def test_check_json(capsys) -> None:
    code, out, _ = run(capsys, "check", "--json", TINY)
    assert code == 0
    summary = json.loads(out)
    assert summary["network"] == "tiny"
    assert summary["target"] == "ultra96_codenet"
    layers = summary["layers"]
    assert len(layers) == TINY_LAYERS
    assert all(set(layer) == {"name", "op", "shape", "macs", "params"} for layer in layers)
    assert summary["totals"] == {"macs": sum(x["macs"] for x in layers), "params": sum(x["params"] for x in layers)}
    assert summary["totals"] == {"macs": TINY_MACS, "params": TINY_PARAMS}
    stem = next(x for x in layers if x["name"] == "stem.conv")
    assert stem == {"name": "stem.conv", "op": "conv", "shape": [8, 32, 32], "macs": 32 * 32 * 8 * 3 * 9,
                    "params": 8 * 3 * 9}


@pytest.mark.parametrize("path", NETWORK_EXAMPLES, ids=lambda p: p.name)
def test_check_json_totals_are_sums(capsys, path: Path) -> None:
    code, out, _ = run(capsys, "check", "--json", path)
    assert code == 0
    summary = json.loads(out)
    layers = summary["layers"]
    assert summary["totals"]["macs"] == sum(x["macs"] for x in layers)
    assert summary["totals"]["params"] == sum(x["params"] for x in layers)


def test_network_selection(capsys, tmp_path: Path) -> None:
    path = write(tmp_path / "two.seg", TWO_NETWORKS)
    code, out, _ = run(capsys, "check", "--json", "--network", "second", path)
    assert code == 0
    summary = json.loads(out)
    assert summary["network"] == "second"
    assert [x["op"] for x in summary["layers"]] == ["input", "sigmoid", "output"]


def test_several_networks_without_a_choice_is_an_error(capsys, tmp_path: Path) -> None:
    path = write(tmp_path / "two.seg", TWO_NETWORKS)
    code, out, err = run(capsys, "check", path)
    assert code == 1
    assert out == ""
    assert "several networks (first, second)" in err and "--network" in err
    assert "Traceback" not in err


def test_unknown_network_is_an_error(capsys) -> None:
    code, _, err = run(capsys, "check", "--network", "nope", TINY)
    assert code == 1
    assert "no network 'nope'" in err


def test_source_error_is_reported_with_a_location(capsys, tmp_path: Path) -> None:
    path = write(tmp_path / "bad.seg", "network n {\n    input x: [1, 2, 2]\n    output y = x -> nosuchop\n}\n")
    code, out, err = run(capsys, "check", path)
    assert code == 1
    assert out == ""
    assert f"{path}:3:21: error: unknown op or block 'nosuchop'" in err
    assert "    output y = x -> nosuchop" in err
    assert "^" in err
    assert "Traceback" not in err


def test_warnings_go_to_stderr(capsys, tmp_path: Path) -> None:
    path = write(tmp_path / "unused.seg", UNUSED)
    code, out, err = run(capsys, "check", "--json", path)
    assert code == 0
    json.loads(out)  # stdout is only the summary
    assert f"{path}:3:5: warning: 'dead' is not used by any output; it is left out" in err


# ---------------------------------------------------------------- help and usage
@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command(capsys, command: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: segc {command}" in capsys.readouterr().out


def test_top_level_help(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(command in out for command in COMMANDS)


def test_bad_command_line_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(TINY), "--to", "onnx9", "-o", "x"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    capsys.readouterr()


# ---------------------------------------------------------------- fmt
def test_fmt_prints_canonical_text(capsys, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "fmt", TINY)
    assert code == 0
    assert out == TINY.read_text(encoding="utf-8")
    code, out, _ = run(capsys, "fmt", write(tmp_path / "messy.seg", MESSY))
    assert code == 0
    assert out == "network n {\n    input x: [1, 2, 2]\n    output y = x -> relu\n}\n"


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.seg")), ids=lambda p: p.name)
def test_fmt_check_accepts_canonical_files(capsys, path: Path) -> None:
    assert run(capsys, "fmt", "--check", path) == (0, "", "")


def test_fmt_check_rejects_other_files_with_a_diff(capsys, tmp_path: Path) -> None:
    path = write(tmp_path / "messy.seg", MESSY)
    code, out, err = run(capsys, "fmt", "--check", path)
    assert code == 1
    assert f"--- {path}" in out and f"+++ {path} (formatted)" in out
    assert "-output y=x->relu" in out
    assert "+    output y = x -> relu" in out
    assert "not in canonical layout" in err
    assert path.read_text(encoding="utf-8") == MESSY


def test_fmt_output_file(capsys, tmp_path: Path) -> None:
    source = write(tmp_path / "messy.seg", MESSY)
    target = tmp_path / "clean.seg"
    assert run(capsys, "fmt", source, "-o", target) == (0, "", f"wrote {target}\n")
    assert target.read_text(encoding="utf-8") == "network n {\n    input x: [1, 2, 2]\n    output y = x -> relu\n}\n"
    assert sorted(os.listdir(tmp_path)) == ["clean.seg", "messy.seg"]


def test_fmt_refuses_to_overwrite_its_input(capsys, tmp_path: Path) -> None:
    source = write(tmp_path / "messy.seg", MESSY)
    code, _, err = run(capsys, "fmt", source, "-o", source)
    assert code == 1
    assert "refusing to overwrite" in err
    assert source.read_text(encoding="utf-8") == MESSY


def test_fmt_of_a_missing_file(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "fmt", tmp_path / "absent.seg")
    assert code == 1
    assert "cannot read" in err and "Traceback" not in err


# ---------------------------------------------------------------- graph
def test_graph_dot_mentions_every_layer(capsys, tmp_path: Path) -> None:
    out = tmp_path / "tiny.dot"
    assert run(capsys, "graph", TINY, "-o", out)[0] == 0
    dot = out.read_text(encoding="utf-8")
    assert dot.startswith('digraph "tiny" {')
    graph = segc.load(str(TINY))
    for node in graph.nodes():
        assert f'"{node.name}" [label=' in dot
        for source in node.inputs:
            assert f'"{source}" -> "{node.name}";' in dot


@pytest.mark.parametrize("extension", ["svg", "png"])
def test_graph_pictures_are_valid_and_deterministic(capsys, tmp_path: Path, extension: str) -> None:
    first, second = tmp_path / f"a.{extension}", tmp_path / f"b.{extension}"
    for path in (first, second):
        assert run(capsys, "graph", TINY, "-o", path, "--engine", "matplotlib") == (0, "", f"wrote {path}\n")
    data = first.read_bytes()
    if extension == "svg":
        assert data.lstrip().startswith((b"<?xml", b"<svg"))
        assert b"</svg>" in data
        assert b"stem.conv" in data
    else:
        assert data.startswith(PNG_SIGNATURE)
    assert data == second.read_bytes()
    assert sorted(os.listdir(tmp_path)) == sorted([first.name, second.name])


def test_graph_unknown_picture_format(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "graph", TINY, "-o", tmp_path / "x.gif")
    assert code == 1
    assert "picture format" in err
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- export
@pytest.mark.parametrize("fmt", ["seg", "json"])
@pytest.mark.parametrize("path", NETWORK_EXAMPLES, ids=lambda p: p.name)
def test_export_reads_back_to_an_equal_graph(capsys, tmp_path: Path, path: Path, fmt: str) -> None:
    out = tmp_path / f"exported.{fmt}"
    assert run(capsys, "export", path, "--to", fmt, "-o", out) == (0, "", f"wrote {out}\n")
    assert segc.load(str(out)).structure() == segc.load(str(path)).structure()
    assert os.listdir(tmp_path) == [out.name]


def test_exported_files_check_again(capsys, tmp_path: Path) -> None:
    for fmt in ("seg", "json"):
        out = tmp_path / f"tiny.{fmt}"
        run(capsys, "export", TINY, "--to", fmt, "-o", out)
        code, text, _ = run(capsys, "check", "--json", out)
        assert code == 0
        assert json.loads(text)["totals"] == {"macs": TINY_MACS, "params": TINY_PARAMS}


def test_export_overwrites_an_existing_output(capsys, tmp_path: Path) -> None:
    out = write(tmp_path / "old.json", "stale")
    assert run(capsys, "export", TINY, "--to", "json", "-o", out)[0] == 0
    assert json.loads(out.read_text(encoding="utf-8"))
    assert os.listdir(tmp_path) == ["old.json"]


def test_export_into_a_missing_folder(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "export", TINY, "--to", "seg", "-o", tmp_path / "nowhere" / "x.seg")
    assert code == 1
    assert "does not exist" in err
    assert os.listdir(tmp_path) == []


def test_failed_export_leaves_no_file(capsys, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.seg", "network n {\n    input x: [1, 2, 2]\n    output y = x -> conv(0, k=1)\n}\n")
    code, _, err = run(capsys, "export", bad, "--to", "json", "-o", tmp_path / "out.json")
    assert code == 1
    assert "error" in err
    assert os.listdir(tmp_path) == ["bad.seg"]


def test_written_files_honour_the_umask(capsys, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert run(capsys, "export", TINY, "--to", "seg", "-o", tmp_path / "t.seg")[0] == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t.seg").stat().st_mode) == 0o644


# ---------------------------------------------------------------- the installed command
def test_console_script_and_module() -> None:
    script = shutil.which("segc", path=str(Path(sys.executable).parent)) or shutil.which("segc")
    assert script is not None, "the segc console script is not installed"
    version = f"segc {segc.__version__}\n"
    runs = [([sys.executable, "-m", "segc", "--version"], version), ([script, "--version"], version),
            ([script, "--help"], "usage: segc [-h] [--version]")]
    for argv, start in runs:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(start)
        assert done.stderr == ""
