"""Arbitrary Unicode as network, target and layer names (newlines, quotes,
backslashes, ``$()``, ``;``, ``}``, ``*/``, NUL, non-ASCII): a JSON graph
either refuses the name with an error that quotes it escaped, or the name
is a plain dotted ASCII identifier; and code generated from a graph built
by hand with such names (validation bypassed) has the syntax of the same
code for plain names: C and C++ once comments and string literals are
set aside, the scripts once comment lines are; the torch source compiles
and uses no name but its own and the layers'; the ONNX exporter refuses
such names; ONNX import maps any name to a plain one.  Compiling and running what comes out: test_names_hostile.py."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import EXAMPLES
from fuzz_checks import fuzz_settings
from hostile_names import HOSTILE, c_shape, hls_files, layer_map, python_names, renamed, script_shape, tiled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segc.backends.onnx.export import to_onnx as onnx_export
from segc.backends.onnx.importer import _name as onnx_name
from segc.backends.torch.source import _variables, to_torch_source
from segc.cli import main
from segc.ir import SegError
from segc.ir.serialize import graph_from_json

NASTY = " \n\r\t\"'\\$();}{*/#`[]\x00\x1b\u00e9\u2028\U0001f600.-_a1"
names = st.one_of(st.text(max_size=16), st.text(alphabet=NASTY, max_size=16), st.sampled_from(HOSTILE))
FEW = settings(fuzz_settings(40), deadline=None,  # SEGC_FUZZ_EXAMPLES raises it, as for the fuzz tests
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def plain(name: str) -> bool:
    """A dotted ASCII identifier, by an independent reading of the rule."""
    parts = name.split(".")
    return (name.isascii() and all(p and p.replace("_", "a").isalnum() for p in parts)
            and not parts[0][0].isdigit())


@pytest.fixture(scope="module")
def graph_json(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("json") / "tiny.json"
    assert main(["export", str(EXAMPLES / "tiny.seg"), "--to", "json", "-o", str(path)]) == 0
    return json.loads(path.read_text())


@FEW
@given(name=names, where=st.sampled_from(["network", "target", "layer"]))
def test_a_json_graph_accepts_plain_names_only(graph_json, name, where):
    data = json.loads(json.dumps(graph_json))
    if where == "network":
        data["name"] = name
    elif where == "target":
        data["target"]["name"] = name
    else:
        data["nodes"][1]["name"] = name
        data["nodes"][2]["inputs"] = [name]
    try:
        graph = graph_from_json(data, "g.json")
    except SegError as err:
        text = err.render()
        assert ("is not a valid" in text) == (not plain(name))  # a plain name may clash with another layer's
        assert text.isascii() and "\n" not in text
        return
    assert plain(name)
    assert {"network": graph.name, "target": graph.target.name, "layer": graph.nodes()[1].name}[where] == name


@pytest.fixture(scope="module")
def benign():
    graph = tiled()
    return graph, hls_files(graph), python_names(to_torch_source(graph))


@FEW
@given(layers=st.lists(names, min_size=7, max_size=7), network=names, target=names)
def test_generated_code_keeps_any_name_inert(benign, layers, network, target):
    graph, files, torch_names = benign
    hostile = renamed(graph, layer_map(graph, layers), network, target)
    generated = hls_files(hostile)
    assert all(text.isascii() for text in generated.values())
    for name in ("network.h", "network.cpp", "layer_config.h"):
        assert c_shape(generated[name]) == c_shape(files[name]), name
    for name in ("build.sh", "vitis_hls.tcl"):
        assert script_shape(generated[name]) == script_shape(files[name]), name
    if shutil.which("bash"):
        subprocess.run(["bash", "-n"], input=generated["build.sh"].encode(), check=True)
    if not all(plain(n) for n in (network, target, *(n.name for n in hostile.nodes()))):
        with pytest.raises(SegError, match="is not a valid"):  # ONNX gives "" and "a/b" meanings: no escaping
            onnx_export(hostile, {})
    try:
        source = to_torch_source(hostile)
    except SegError as err:  # names torch cannot hold apart ('a' and 'a.b'): refused
        assert "cannot" in err.message
        return
    compile(source, "<generated>", "exec")
    own = {*_variables(hostile).values(), *(n.name.split(".")[0] for n in hostile.nodes())}
    assert python_names(source) <= torch_names | own | {"_modules", "RuntimeError"}


@FEW
@given(text=names)
def test_onnx_import_maps_any_name_to_a_plain_one(text):
    assert plain(onnx_name(text))
    assert onnx_name(text) == onnx_name(text)
    if plain(text) and "/" not in text:
        assert onnx_name(text) == text  # names segc wrote come back unchanged
