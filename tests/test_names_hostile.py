"""Names as an attacker or a careless user writes them: rejected with a
precise error on every route (JSON graph, ONNX import, the API), and inert
in every generated file even when validation is bypassed (a ``Graph`` built
by hand): the C++ compiles and its static initializers run nothing, the
scripts run nothing, the torch source compiles and keeps ``state_dict``
keys equal to the layer names, the ONNX model passes the checker.
Property-based variants: test_names_property.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from conftest import EXAMPLES  # noqa: E402
from hostile_names import HOSTILE, c_shape, hls_files, layer_map, renamed, script_shape, tiled  # noqa: E402

import segc  # noqa: E402
from segc import api  # noqa: E402
from segc.backends.hls.project import CXX_FLAGS, library_files  # noqa: E402
from segc.backends.torch.source import to_torch_source  # noqa: E402
from segc.cli import main  # noqa: E402
from segc.ir import Graph, SegError  # noqa: E402
from segc.network import Network  # noqa: E402

PAYLOAD = 'x */ extern "C" int system(const char*); static int segc_pwn = system("touch {marker}"); /*'
RULE = "letters, digits and underscores (ASCII), in parts joined by dots, not starting with a digit"


def _run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def _json_graph(tmp_path, edit) -> str:
    path = tmp_path / "g.json"
    main(["export", str(EXAMPLES / "tiny.seg"), "--to", "json", "-o", str(path)])
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return str(path)


# ------------------------------------------------------------------ the reported attacks
def test_a_crafted_target_name_runs_nothing_in_hls_sim(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    graph = _json_graph(tmp_path, lambda d: d["target"].update(name=PAYLOAD.format(marker=marker)))
    capsys.readouterr()
    code, err = _run(["hls-sim", graph, "-o", str(tmp_path / "sim")], capsys)
    assert code == 1 and not marker.exists()
    assert err.startswith(f"{graph}: error: target.name: 'x */ extern ")
    assert err.rstrip().endswith(f"is not a valid target name ({RULE})")


@pytest.mark.parametrize("to", ["hls", "torch", "onnx", "seg"])
def test_a_network_name_with_a_newline_is_refused_by_every_export(tmp_path, capsys, to):
    graph = _json_graph(tmp_path, lambda d: d.update(name="tiny\ntouch PWNED\n"))
    capsys.readouterr()
    code, err = _run(["export", graph, "--to", to, "-o", str(tmp_path / "out")], capsys)
    assert code == 1 and not (tmp_path / "out").exists()
    assert err == (f"{graph}: error: file.name: 'tiny\\ntouch PWNED\\n' is not a valid network name ({RULE})\n")


def test_a_layer_name_in_json_is_checked_where_it_is(tmp_path, capsys):
    graph = _json_graph(tmp_path, lambda d: d["nodes"][1].update(name="stem conv"))
    capsys.readouterr()
    code, err = _run(["check", graph], capsys)
    assert code == 1
    assert err == f"{graph}: error: nodes[1].name: 'stem conv' is not a valid layer name ({RULE})\n"


def test_the_api_refuses_invalid_names_and_verify_lists_them():
    net = segc.load(str(EXAMPLES / "tiny.seg"))
    bad = renamed(net, {}, "tiny net", "ultra96 board")
    problems = [d.message for d in bad.problems()]
    assert problems == [f"'tiny net' is not a valid network name ({RULE})",
                        f"'ultra96 board' is not a valid target name ({RULE})"]
    with pytest.raises(SegError, match="'tiny net' is not a valid network name"):
        Network.of(bad)


# ------------------------------------------------------------------ bypassed validation: the HLS project
@pytest.fixture(scope="module")
def benign() -> tuple[Graph, dict[str, str]]:
    graph = tiled()
    return graph, hls_files(graph)


def _hostile(graph: Graph, shift: int) -> Graph:
    names = list(HOSTILE[shift:] + HOSTILE[:shift])
    return renamed(graph, layer_map(graph, names), names[-1], names[-2])


@pytest.mark.parametrize("shift", range(len(HOSTILE)))
def test_hostile_names_leave_the_hls_files_shape_alone(benign, shift):
    graph, expected = benign
    files = hls_files(_hostile(graph, shift))
    assert all(text.isascii() for text in files.values())
    for name in ("network.h", "network.cpp", "layer_config.h"):
        assert c_shape(files[name]) == c_shape(expected[name]), name
    for name in ("build.sh", "vitis_hls.tcl"):
        assert script_shape(files[name]) == script_shape(expected[name]), name
    assert json.loads(files["config.json"])["network"] == graph_name(shift)


def graph_name(shift: int) -> str:
    return (HOSTILE[shift:] + HOSTILE[:shift])[-1]


def _write(files: dict[str, str | bytes], folder) -> None:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
@pytest.mark.parametrize("shift", [2, 3])
def test_hostile_names_compile_and_run_nothing(benign, tmp_path, shift):
    """The C++ builds; the test bench's static initializers, build.sh (with a
    do-nothing compiler) and the Tcl script (every Vitis command a no-op)
    run, and no ``touch PWNED`` in any name gets executed."""
    _write({**hls_files(_hostile(benign[0], shift)), **library_files()}, tmp_path)
    flags = [f for f in CXX_FLAGS if f != "-Wall"]
    subprocess.run(["g++", *flags, "-fsyntax-only", "-x", "c++", "layer_config.h"], cwd=tmp_path, check=True)
    subprocess.run(["g++", *flags, "-O0", "network.cpp", "tb.cpp", "-o", "csim"], cwd=tmp_path, check=True)
    subprocess.run(["./csim"], cwd=tmp_path, capture_output=True)
    subprocess.run(["bash", "-n", "build.sh"], cwd=tmp_path, check=True)
    subprocess.run(["sh", "build.sh"], cwd=tmp_path, check=True, env={**os.environ, "CXX": "true"})
    if shutil.which("tclsh"):
        subprocess.run(["tclsh"], input=b"proc unknown {args} {}\nsource vitis_hls.tcl\n", cwd=tmp_path, check=True)
    assert not (tmp_path / "PWNED").exists()


# ------------------------------------------------------------------ bypassed validation: torch and ONNX
def test_hostile_layer_names_are_state_dict_keys_of_the_torch_module(benign):
    graph = _hostile(benign[0], 0)
    module = api.to_torch(graph)
    conv, bn = HOSTILE[1], HOSTILE[2]  # the conv and bn layers' names (layer_map: in order, after the input)
    assert list(module.state_dict()) == [f"{conv}.weight", *(f"{bn}.{key}" for key in (
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"))]
    assert module(torch.zeros(1, 3, 8, 8)).shape == (1, 4, 8, 8)
    compile(to_torch_source(graph), "<hostile>", "exec")


def test_onnx_export_refuses_hostile_names(benign):
    """ONNX gives names meaning ("" is an absent input), so no escaping
    would do: the exporter checks them."""
    with pytest.raises(SegError, match="is not a valid network name"):
        api.to_onnx(_hostile(benign[0], 2))


@pytest.mark.parametrize("name", ["__x", "to", "_2"])
def test_names_python_treats_specially_give_a_checked_onnx_model(name):
    model = onnx.load_from_string(_one_layer(name).to_onnx())
    onnx.checker.check_model(model, full_check=True)
    assert [n.name for n in model.graph.node] == [name, "output.logits"]


# ------------------------------------------------------------------ names Python would mangle or shadow
def _one_layer(name: str, network: str = "m") -> Network:
    return segc.loads(f'import "{EXAMPLES / "targets/ultra96.seg"}"\n'
                      f"network {network} on ultra96_codenet {{\n    input image: [3, 8, 8]\n"
                      f"    {name} = image -> conv(4, k=3)\n    output logits = {name}\n}}\n")


@pytest.mark.parametrize("name", ["__x", "__x__", "_x", "to"])
def test_layer_names_python_would_mangle_or_shadow_are_state_dict_keys(name, tmp_path):
    net = _one_layer(name)
    assert list(net.to_torch().state_dict()) == [f"{name}.weight"]
    path = tmp_path / "m.py"
    path.write_text(net.to_torch_source())
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    module = namespace["M"]()
    assert list(module.state_dict()) == [f"{name}.weight"]
    assert module(torch.zeros(1, 3, 8, 8)).shape == (1, 4, 8, 8)


@pytest.mark.parametrize("name", ["training", "_modules", "_parameters"])
def test_layer_names_nn_module_keeps_for_itself_are_refused(name):
    with pytest.raises(SegError, match=f"layer '{name}' cannot be a torch module: nn.Module keeps its own"):
        _one_layer(name).to_torch_source()


@pytest.mark.parametrize(("network", "cls"), [("add", "NetAdd"), ("none", "NetNone"), ("linear", "NetLinear"),
                                              ("torch", "Torch"), ("tiny_seg", "TinySeg")])
def test_network_names_never_shadow_the_helpers_or_keywords(network, cls):
    namespace: dict = {}
    exec(compile(_one_layer("conv1", network).to_torch_source(), "<m>", "exec"), namespace)
    assert namespace[cls]()(torch.zeros(1, 3, 8, 8)).shape == (1, 4, 8, 8)


@pytest.mark.parametrize(("option", "suffix", "expected"), [
    ("--network", ".seg", "error: no network 'ab\\ncd\\x1b[31m' in {tiny} (it defines: tiny)\n"),
    ("--network", ".json", "error: no network 'ab\\ncd\\x1b[31m' in {tiny} (it defines: tiny)\n"),
    ("--target", ".seg",
     "error: unknown target 'ab\\ncd\\x1b[31m' in {tiny} (it defines or imports: 'ultra96_codenet')\n"),
])
def test_names_given_on_the_command_line_are_quoted_escaped(option, suffix, expected, capsys, tmp_path):
    tiny = str(EXAMPLES / "tiny.seg")
    if suffix == ".json":
        tiny = str(tmp_path / "tiny.json")
        assert main(["export", str(EXAMPLES / "tiny.seg"), "--to", "json", "-o", tiny]) == 0
        capsys.readouterr()
    command = "check" if option == "--network" else "report"
    assert _run([command, tiny, option, "ab\ncd\x1b[31m"], capsys) == (1, expected.format(tiny=tiny))
