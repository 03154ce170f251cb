"""The HLS backend from the API: build the project of ``segc export --to
hls`` (tiling, torch reference and calibration, generation) and run its C
simulation against torch (``segc hls-sim``).

Inputs: a ``.npy`` array [C, H, W] or [N, C, H, W] for a network with one
input, a ``.npz`` archive with one array per input name otherwise; without
a file, a standard normal sample from the seed.  The calibration input (for
the fixed-point formats) defaults to the test input; a layer's range
calibrated after training (``<layer>.act_range`` among the weights) takes
the place of the calibration input's.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import api, outputs
from .ir import Diagnostic, Graph, SegError
from .ir.files import check_size, library_reason, open_input
from .passes.base import run_pipeline
from .passes.cost import CostPass
from .passes.tile import TilePass

__all__ = ["BUILD_PRODUCTS", "HlsOptions", "build_project", "load_inputs", "simulate", "write_files"]

BUILD_PRODUCTS = ("csim", "network.o", "tb.o", "output.bin", "trace.bin")  # what building and running a project makes


@dataclass(frozen=True)
class HlsOptions:
    weights: str | None = None  # a state_dict file; default: initialised from seed
    seed: int = 0
    input: str | None = None  # the test input (.npy/.npz); default: random normal from seed
    calibrate: str | None = None  # the calibration input; default: the test input
    headroom: int = 1  # spare integer bits above the calibrated range
    fixed: dict[str, int] = field(default_factory=dict)  # layer -> fraction bits
    tiling: str = "paper"


def _random_inputs(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n.name: rng.standard_normal((1, *n.shape)).astype(np.float32) for n in graph.inputs}


def _load_arrays(path: str) -> np.ndarray | dict[str, np.ndarray]:
    """The array of a ``.npy`` or the arrays of a ``.npz`` (their total size
    within the data limit of :mod:`segc.ir.files`), no pickles."""
    with open_input(path, "data") as handle:
        try:
            data = np.load(handle, allow_pickle=False)
            if isinstance(data, np.ndarray):
                return data
            with data:
                check_size(path, sum(i.file_size for i in data.zip.infolist()), "data", what="its arrays unpack to ")
                return {key: data[key] for key in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise SegError(Diagnostic(f"cannot read the input: {library_reason(err)}", path=path)) from None


def _read_arrays(graph: Graph, path: str) -> dict[str, np.ndarray]:
    data = _load_arrays(path)
    if isinstance(data, np.ndarray):
        if len(graph.inputs) != 1:
            names = ", ".join(n.name for n in graph.inputs)
            raise SegError(Diagnostic(f"network '{graph.name}' has inputs {names}: give an .npz with one array "
                                      "per input name", path=path))
        return {graph.inputs[0].name: data}
    missing = [n.name for n in graph.inputs if n.name not in data]
    if missing:
        raise SegError(Diagnostic(f"no array for input(s) {', '.join(missing)} (the file holds: "
                                  f"{', '.join(data) or 'nothing'})", path=path))
    return data


def load_inputs(graph: Graph, path: str | None, seed: int, single: bool) -> dict[str, np.ndarray]:
    """Inputs as float32 [N, C, H, W] (``single``: N must be 1)."""
    if path is None:
        return _random_inputs(graph, seed)
    arrays = _read_arrays(graph, path)
    result = {}
    for node in graph.inputs:
        array = np.asarray(arrays[node.name])
        array = array[None] if array.ndim == 3 else array
        if array.ndim != 4 or tuple(array.shape[1:]) != tuple(node.shape) or (single and array.shape[0] != 1):
            want = f"[{', '.join(map(str, node.shape))}]" + ("" if single else " or [N, ...]")
            raise SegError(Diagnostic(f"input '{node.name}' must be {want}, got {list(np.shape(arrays[node.name]))}",
                                      path=path))
        if not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array)):
            raise SegError(Diagnostic(f"input '{node.name}' must hold finite numbers", path=path))
        result[node.name] = array.astype(np.float32)
    return result


def _describe(path: str | None, seed: int) -> str:
    return os.path.basename(path) if path else f"standard normal, seed {seed}"


def build_project(graph: Graph, options: HlsOptions) -> tuple[dict[str, bytes], list[np.ndarray]]:
    """The project's files and torch's outputs ([C, H, W] each) on its test input.
    Deformable layers take the variants of the network's ``deform`` section."""
    from .backends.hls import reference
    from .backends.hls.project import generate

    graph = api.with_deform_decisions(graph)
    tiled, _ = run_pipeline(graph, [TilePass(options.tiling), CostPass()])
    test = load_inputs(graph, options.input, options.seed, single=True)
    calibration = load_inputs(graph, options.calibrate, options.seed, single=False) if options.calibrate else test
    module = reference.build_reference(graph, options.weights, options.seed)
    maxima, offsets, outputs = reference.calibrate(graph, module, calibration)
    maxima.update(reference.calibrated_ranges(options.weights))
    note = {"input": _describe(options.calibrate or options.input, options.seed),
            "samples": int(next(iter(calibration.values())).shape[0])}
    files = generate(tiled, reference.parameters(module), maxima, offsets, options.headroom, options.fixed, note)
    if options.calibrate:  # else the calibration ran on the test input
        outputs = reference.run(graph, module, test)
    expected = [out[0] for out in outputs]
    files["tb_data/input.bin"] = b"".join(test[n.name].astype("<f4").tobytes() for n in graph.inputs)
    files["tb_data/expected.bin"] = b"".join(out.astype("<f4").tobytes() for out in expected)
    return files, expected


def simulate(graph: Graph, options: HlsOptions, folder: str | None = None, opt: str = "-O2",
             layers: bool = False, inputs: tuple[str, ...] = (), force: bool = False,
             threads: int | None = None) -> dict:
    """Build, compile and run the C simulation in a scratch folder, on
    ``threads`` threads (default: OMP_NUM_THREADS, else every core); figures
    per output against torch, and per layer with ``layers``.  With
    ``folder``, the project and what the build made are then written there
    as :func:`write_files` does (the paths under ``"written"``).  The result
    records the compiler commands, whether OpenMP was used and the threads."""
    import json

    from .backends.hls.sim import compile_project, run_testbench, write_project

    if folder is not None:
        outputs.check_folder(folder, inputs, force)  # before the work
    graph = api.with_deform_decisions(graph)
    files, expected = build_project(graph, options)
    config = json.loads(files["config.json"])
    with tempfile.TemporaryDirectory(prefix="segc-hls-") as scratch:
        write_project(files, scratch)
        build = compile_project(scratch, opt)
        with ThreadPoolExecutor(1) as pool:  # the test bench runs while the reference is computed
            running = pool.submit(run_testbench, scratch, config, layers, threads)
            words = _integer_words(graph, files, config)
            simulated, counts, run_s, traced = running.result()
        written = None
        if folder is not None:
            built, executable = _folder_files(scratch)
            written = write_files(built, folder, inputs, force, ("build.sh", *executable))
    result = {"network": graph.name, "target": graph.target.name, "input": _describe(options.input, options.seed),
              **build.describe(), **counts,
              "compile_s": build.seconds, "run_s": run_s,
              "outputs": [_figures(spec, ref, sim) for spec, ref, sim in zip(config["outputs"], expected, simulated)]}
    _integer_figures(graph, words, config, simulated, result)
    if layers:
        result["layers"] = _layer_figures(graph, options, config, traced)
    result["config"] = config
    if written is not None:
        result["written"] = written
    return result


def _integer_words(graph: Graph, files: dict[str, bytes], config: dict) -> dict | str:
    """The integer reference's words of the test input, or why it does not cover the network."""
    from .backends.hls.intref import IntReferenceError, integer_reference

    params = np.frombuffer(files["params.bin"], dtype="<i2")
    try:
        return integer_reference(graph, config, params, _test_input(graph, files))
    except IntReferenceError as err:
        return str(err)


def _test_input(graph: Graph, files: dict[str, bytes]) -> dict[str, np.ndarray]:
    """The test input ([C, H, W] per network input) as the project's tb_data/input.bin holds it."""
    flat = np.frombuffer(files["tb_data/input.bin"], dtype="<f4")
    sizes = [int(np.prod(node.shape)) for node in graph.inputs]
    starts = np.cumsum([0, *sizes])
    return {node.name: flat[start:start + size].reshape(node.shape)
            for node, start, size in zip(graph.inputs, starts, sizes)}


def _integer_figures(graph: Graph, words: dict | str, config: dict, simulated: list[np.ndarray],
                     result: dict) -> None:
    """Add each output's ``int_ref_max_abs_error`` against the integer
    reference (None, with ``int_ref`` saying why, where it does not cover
    a layer)."""
    from .backends.hls.intref import tensor_values

    if isinstance(words, str):
        result["int_ref"] = words
        for figures in result["outputs"]:
            figures["int_ref_max_abs_error"] = None
        return
    result["int_ref"] = "computed"
    for figures, spec, node, sim in zip(result["outputs"], config["outputs"], graph.outputs, simulated):
        ref = tensor_values(words[node.name], spec).astype(np.float64)
        figures["int_ref_max_abs_error"] = float(np.max(np.abs(ref - sim), initial=0.0))


def _folder_files(folder: str) -> tuple[dict[str, bytes], tuple[str, ...]]:
    """Every file under ``folder`` by relative path, and the executable ones."""
    files, executable = {}, []
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder).replace(os.sep, "/")
            with open(path, "rb") as handle:
                files[relative] = handle.read()
            if os.access(path, os.X_OK):
                executable.append(relative)
    return files, tuple(executable)


def _figures(spec: dict, reference: np.ndarray, simulated: np.ndarray) -> dict:
    from .backends.hls.sim import compare

    return {"name": spec["name"], "shape": spec["shape"], "frac": spec["frac"], "bits": spec["bits"],
            "lsb": spec.get("scale", 2.0 ** -spec["frac"]),
            **compare(reference, simulated)}


def _layer_figures(graph: Graph, options: HlsOptions, config: dict, traced: dict[str, np.ndarray]) -> list[dict]:
    """Per layer: the C simulation's output against torch's on the test input."""
    from .backends.hls import reference

    module = reference.build_reference(graph, options.weights, options.seed)
    floats = reference.layer_outputs(graph, module, load_inputs(graph, options.input, options.seed, single=True))
    layers = {entry["name"]: entry for entry in config["layers"]}
    keys = ("name", "shape", "frac", "bits", "scale")
    return [_figures({key: layers[name][key] for key in keys if key in layers[name]},
                     floats[name], traced[name]) | {"op": layers[name]["op"]} for name in config["trace"]]


def write_files(files: dict[str, bytes], folder: str, inputs: tuple[str, ...] = (), force: bool = False,
                executable: tuple[str, ...] = ("build.sh",)) -> list[str]:
    """Write a project as the folder ``folder``, whole or not at all (see
    :mod:`segc.outputs`: never over one of ``inputs``; a folder holding files
    segc did not write needs ``force``, and what ``build.sh`` and the test
    bench make there count as segc's); ``executable`` files executable
    wherever readable.  The paths written."""
    return outputs.write_folder(folder, files, inputs, force, executable, BUILD_PRODUCTS)
