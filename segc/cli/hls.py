"""The HLS commands of the CLI: the options of ``segc export --to hls`` and
``segc hls-sim`` (C simulation against torch)."""

from __future__ import annotations

import argparse

from ..ir import Diagnostic, SegError
from ..passes.modes import TILING_MODES
from .common import (
    check_output_folder,
    force_option,
    int_in,
    json_text,
    load_for_hardware,
    protected,
    say_written,
    seed,
)

__all__ = ["COMMANDS", "add_commands", "export_hls", "hls_options"]



def hls_options(command: argparse.ArgumentParser) -> None:
    group = command.add_argument_group("HLS C++ (export --to hls, hls-sim)")
    group.add_argument("--target", metavar="T", help="a target NAME, FILE.seg or FILE.seg:NAME (default: the "
                                                     "network's 'on' target)")
    group.add_argument("--unroll", metavar="PIF,POF,PKX", help="override the target's unroll factors")
    group.add_argument("--tiling", choices=TILING_MODES, default="paper", help="tiling mode (default: paper)")
    group.add_argument("--input", metavar="X", help="test input: .npy [C, H, W] (one network input) or .npz by "
                                                    "input name (default: standard normal from --seed)")
    group.add_argument("--calibrate", metavar="X", help="calibration input(s) for the fixed-point formats, .npy "
                                                        "[N, C, H, W] or .npz (default: the test input)")
    group.add_argument("--headroom", type=int_in(0, 15), default=1, metavar="BITS",
                       help="spare integer bits above the calibrated range (default 1)")
    group.add_argument("--frac", action="append", default=[], metavar="LAYER=BITS",
                       help="fix a layer's fraction bits (repeatable); checked against the calibration input")


def add_commands(commands) -> None:
    sim = commands.add_parser("hls-sim", help="build the HLS C++ with g++, run its C simulation and compare it with "
                                              "torch (max abs/rel error, argmax agreement)")
    sim.add_argument("file", help="a .seg file (or a segc .json graph)")
    sim.add_argument("--network", metavar="NAME", help="the network to use when the file defines several")
    sim.add_argument("--weights", metavar="W", help="a state_dict (.pt or .safetensors); default: from --seed")
    sim.add_argument("--seed", type=seed, default=0, help="seed of the initial weights and random input (default 0)")
    hls_options(sim)
    sim.add_argument("--opt", choices=("0", "1", "2", "3"), default="2", help="g++ optimisation level (default 2)")
    sim.add_argument("--threads", type=int_in(1, 1024), metavar="N",
                     help="threads of the C simulation (built with OpenMP where g++ has it; default: OMP_NUM_THREADS, "
                          "else every core)")
    sim.add_argument("--layers", action="store_true", help="also compare every layer's output (a layer trace)")
    sim.add_argument("--json", action="store_true", help="print the figures as JSON")
    sim.add_argument("-o", "--output", metavar="DIR", help="keep the project and its build as the folder DIR "
                                                          "(replaced whole)")
    force_option(sim)


def _fixed(entries: list[str]) -> dict[str, int]:
    fixed = {}
    for entry in entries:
        layer, sep, bits = entry.rpartition("=")
        try:
            fixed[layer.strip()] = int(bits)
        except ValueError:
            layer = ""
        if not sep or not layer.strip():
            raise SegError(Diagnostic(f"--frac takes LAYER=BITS (an integer), got '{entry}'"))
    return fixed


def _options(args: argparse.Namespace):
    from ..hls import HlsOptions

    if not 0 <= args.headroom <= 15:
        raise SegError(Diagnostic(f"--headroom must be between 0 and 15 bits, got {args.headroom}"))
    return HlsOptions(weights=args.weights, seed=args.seed, input=args.input, calibrate=args.calibrate,
                      headroom=args.headroom, fixed=_fixed(args.frac), tiling=args.tiling)


def _extra_inputs(args: argparse.Namespace) -> tuple[str, ...]:
    """The files read beyond the network's sources."""
    return tuple(p for p in (args.weights, args.input, args.calibrate) if p)


def export_hls(args: argparse.Namespace) -> int:
    """``segc export FILE --to hls -o DIR``."""
    from ..hls import build_project, write_files

    options = _options(args)
    graph = load_for_hardware(args)
    check_output_folder(args, _extra_inputs(args))
    files, _ = build_project(graph, options)
    say_written(write_files(files, args.output, (*protected(args), *_extra_inputs(args)), args.force), args.output)
    return 0


def _rows(figures: list[dict]) -> list[list[str]]:
    rows = []
    for out in figures:
        agree = out["argmax_agreement"]
        share = "n/a (1 channel)" if agree is None else f"{agree:.2%} of {out['pixels']:,}"
        rows.append([out["name"], str(out["shape"]), str(out["bits"]), str(out["frac"]), f"{out['max_abs_error']:.3g}",
                     f"{out['max_abs_error'] / out['lsb']:.3g}", f"{out['max_rel_error']:.3g}", share])
    return rows


def _print_figures(result: dict) -> None:
    from .table import print_table

    headers = ["output", "shape", "bits", "frac", "max_abs_error", "in_lsb", "max_rel_error", "argmax_agreement"]
    if "layers" in result:
        print_table(f"{result['network']}: every layer against torch", ["layer", *headers[1:]],
                    _rows(result["layers"]))
    threads = f"{result['threads']} thread{'s' if result['threads'] > 1 else ''}"
    title = (f"{result['network']} on {result['target']}: C simulation (g++ {result['compiler_flags']}, {threads}) "
             f"against torch, input {result['input']}")
    print_table(title, headers, _rows(result["outputs"]))
    print(_integer_line(result))
    print(f"saturated results: {result['saturated']}; line-buffer misses: {result['line_buffer_misses']}; "
          f"compile {result['compile_s']:.2f} s, run {result['run_s']:.2f} s")


def _integer_line(result: dict) -> str:
    """The outputs against the integer reference (0: bit-exact)."""
    if result["int_ref"] != "computed":
        return f"integer reference: not computed ({result['int_ref']})"
    errors = ", ".join(f"{out['name']} {out['int_ref_max_abs_error']:.3g}" for out in result["outputs"])
    exact = all(out["int_ref_max_abs_error"] == 0 for out in result["outputs"])
    return f"against the integer reference (max abs error): {errors}" + ("; bit-exact" if exact else "")


def _hls_sim(args: argparse.Namespace) -> int:
    from ..hls import simulate

    options = _options(args)
    graph = load_for_hardware(args)
    inputs = (*protected(args), *_extra_inputs(args))
    result = simulate(graph, options, args.output, f"-O{args.opt}", args.layers, inputs, args.force, args.threads)
    result.pop("config")
    if args.output:
        say_written(result.pop("written"), args.output)
    if args.json:
        print(json_text(result))
    else:
        _print_figures(result)
    return 0


COMMANDS = {"hls-sim": _hls_sim}
