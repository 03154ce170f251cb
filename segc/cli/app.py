"""The ``segc`` command line.

Exit status: 0 done, 1 the input has a mistake (reported as
``file:line:col: error: message`` with the line and a caret), 2 the command
line itself is wrong.  ``--debug`` shows Python tracebacks.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import re
import sys

from .. import __version__, api, outputs
from ..ir import Diagnostic, SegError
from . import deform, hardware, hls, prune, search, tiling, train
from .common import force_option, input_shape, json_text, load_graph, protected, say_written, seed

__all__ = ["main"]

EXPORT_FORMATS = ("seg", "json", "torch", "onnx", "hls")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segc", description="Compile accelerator-aware CNNs described in .seg files.",
    )
    parser.add_argument("--version", action="version", version=f"segc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check = commands.add_parser("check", help="parse, elaborate and verify; print layers, MACs, parameters")
    _input(check)
    check.add_argument("--json", action="store_true", help="print a machine-readable summary")

    fmt = commands.add_parser("fmt", help="print a .seg file in canonical layout")
    fmt.add_argument("file", nargs="+", help="a .seg file (several with -i or --check)")
    mode = fmt.add_mutually_exclusive_group()
    mode.add_argument("-i", "--in-place", action="store_true",
                      help="rewrite each file in canonical layout; name those that changed on standard error")
    mode.add_argument("--check", action="store_true", help="only report whether the files are already formatted")
    mode.add_argument("-o", "--output", help="write here instead of standard output (never the input)")
    fmt.set_defaults(usage_error=fmt.error)

    graph = commands.add_parser("graph", help="draw the network (.dot, .svg or .png)")
    _input(graph)
    graph.add_argument("-o", "--output", required=True, help="OUT.dot, OUT.svg or OUT.png")
    graph.add_argument("--engine", choices=("auto", "graphviz", "matplotlib"), default="auto",
                       help="how to lay out a picture (auto: graphviz's dot if installed)")

    export = commands.add_parser("export", help="write the network as flat .seg, JSON, PyTorch source, ONNX or "
                                                "an HLS project")
    _input(export)
    export.add_argument("--to", choices=EXPORT_FORMATS, required=True, help="output format")
    export.add_argument("-o", "--output", required=True, help="output file (for hls a folder, replaced whole)")
    force_option(export, " (--to hls)")
    export.add_argument("--weights", metavar="W", help="a state_dict (.pt or .safetensors) to check (torch) or "
                                                        "embed (onnx); default: initialised from --seed")
    export.add_argument("--seed", type=seed, default=0, help="seed of the initial weights (default 0)")
    hls.hls_options(export)
    imp = commands.add_parser("import", help="read an ONNX model into .seg (weights as .safetensors beside it)")
    imp.add_argument("file", help="an .onnx file")
    imp.add_argument("-o", "--output", required=True, help="OUT.seg (the weights go to OUT.safetensors)")
    imp.add_argument("--input-shape", metavar="C,H,W", type=input_shape,
                     help="the input size to import at, for a model whose H and W are dynamic (or N,C,H,W)")
    for module in _EXTENSIONS:
        module.add_commands(commands)
    return parser


def _input(command: argparse.ArgumentParser) -> None:
    command.add_argument("file", help="a .seg file (or a segc .json graph)")
    command.add_argument("--network", metavar="NAME", help="the network to use when the file defines several")


# ---------------------------------------------------------------- commands
def _check(args: argparse.Namespace) -> int:
    from ..ir import summarize

    graph = load_graph(args)
    rows = summarize(graph)
    if args.json:
        summary = {
            "network": graph.name, "target": graph.target.name if graph.target else None,
            "layers": [row.to_json() for row in rows],
            "totals": {"macs": sum(r.macs for r in rows), "params": sum(r.params for r in rows)},
        }
        print(json_text(summary, indent=2))
        return 0
    from .table import print_summary

    print_summary(graph, rows)
    return 0


def _fmt(args: argparse.Namespace) -> int:
    if len(args.file) > 1 and not (args.in_place or args.check):
        args.usage_error("give one FILE, or several with -i or --check")
    if not (args.in_place or args.check):
        formatted = _formatted(args.file[0])[1]
        if args.output:
            api.write_atomic(args.output, formatted, tuple(args.file))
            say_written([args.output])
        else:
            sys.stdout.write(formatted)
        return 0
    status = 0
    for path in args.file:  # a file with a mistake is reported and left as it is; the others go on
        try:
            status = max(status, _fmt_in_place(path) if args.in_place else _fmt_check(path))
        except SegError as err:
            if args.debug:
                raise
            print(err.render(), file=sys.stderr)
            status = 1
    return status


def _formatted(path: str) -> tuple[str, str]:
    """A .seg file's text and its canonical layout."""
    from ..dsl.loader import read_source

    text = read_source(path)
    return text, api.format_source(text, path)


def _fmt_check(path: str) -> int:
    text, formatted = _formatted(path)
    if formatted == text:
        return 0
    sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), formatted.splitlines(True), path,
                                               f"{path} (formatted)"))
    print(f"{path}: not in canonical layout", file=sys.stderr)
    return 1


def _fmt_in_place(path: str) -> int:
    text, formatted = _formatted(path)
    if formatted != text:
        api.write_atomic(path, formatted, inputs=())  # -i alone may replace its input (mode kept)
        print(f"reformatted {path}", file=sys.stderr)
    return 0


def _graph(args: argparse.Namespace) -> int:
    extension = os.path.splitext(args.output)[1].lower().lstrip(".")
    if extension not in ("dot", "gv", "svg", "png"):
        raise SegError(Diagnostic(f"cannot tell the picture format of '{args.output}'; use .dot, .svg or .png"))
    graph = load_graph(args)
    if extension in ("dot", "gv"):
        from ..backends.report.dot import to_dot

        api.write_atomic(args.output, to_dot(graph), protected(args))
    else:
        from ..backends.report.picture import render_picture

        api.write_atomic(args.output, render_picture(graph, extension, args.engine), protected(args))
    say_written([args.output])
    return 0


def _export(args: argparse.Namespace) -> int:
    if args.to == "hls":
        return hls.export_hls(args)
    graph = load_graph(args)
    if args.to == "torch":
        if args.weights:
            api.to_torch(graph, args.weights)  # the weights must fit the module written
        data: str | bytes = api.to_torch_source(graph)
    elif args.to == "onnx":
        data = api.to_onnx(graph, args.weights, args.seed)
    else:
        data = api.to_seg(graph) if args.to == "seg" else api.to_json(graph)
    api.write_atomic(args.output, data, (*protected(args), *([args.weights] if args.weights else [])))
    say_written([args.output])
    return 0


def _import(args: argparse.Namespace) -> int:
    if not args.output.endswith(".seg"):
        raise SegError(Diagnostic(f"the output must be a .seg file, got '{args.output}'"))
    folded: dict[str, int] = {}
    graph, weights = api.import_onnx(args.file, args.input_shape, folded)
    weights_path = args.output[: -len(".seg")] + ".safetensors"
    for path in (weights_path, args.output):  # refuse before writing either
        outputs.check_file(path, (args.file,))
    from safetensors.numpy import save

    from ..backends.literals import printable

    payload = save({k: v.copy() for k, v in sorted(weights.items())})
    text = (f"# imported by segc from {printable(os.path.basename(args.file))}; "
            f"weights in {printable(os.path.basename(weights_path))}\n\n")
    api.write_atomic(weights_path, payload, (args.file,))
    api.write_atomic(args.output, text + api.to_seg(graph), (args.file,))
    _print_imported(graph, folded, [args.output, weights_path])
    return 0


def _print_imported(graph, folded: dict[str, int], written: list[str]) -> None:
    """What ``import`` read (standard output) and wrote (standard error)."""
    from ..ir import summarize
    from .table import si

    rows = summarize(graph)
    inputs = ", ".join(f"{n.name} {list(n.shape)}" for n in graph.inputs)
    print(f"imported network {graph.name}: input {inputs}")
    print(f"{len(rows)} layers, {si(sum(r.macs for r in rows))} MACs, {si(sum(r.params for r in rows))} parameters")
    listed = ", ".join(f"{op} ×{count}" for op, count in sorted(folded.items()))
    print(f"folded away: {sum(folded.values())} ONNX nodes ({listed})" if folded else "folded away: none")
    say_written(written)


# Command groups kept in their own modules, each with add_commands() and COMMANDS.
_EXTENSIONS = (hardware, tiling, train, prune, search, hls, deform)

_COMMANDS = {"check": _check, "fmt": _fmt, "graph": _graph, "export": _export, "import": _import,
             **{name: run for module in _EXTENSIONS for name, run in module.COMMANDS.items()}}


def _naming_json_graph(err: SegError, file: str | None) -> SegError:
    """A JSON graph has no source positions: an error without a place, raised
    while working on one (by a pass, say), names the file unless it says it."""
    if not (isinstance(file, str) and file.endswith(".json")):
        return err
    return SegError([d if d.span or d.path or file in d.message else dataclasses.replace(d, path=file)
                     for d in err.diagnostics])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except SegError as err:
        if args.debug:
            raise
        print(_naming_json_graph(err, getattr(args, "file", None)).render(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("segc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:  # a bug in segc, not the user's mistake (unless memory ran out)
        if args.debug:
            raise
        print(_out_of_memory(err) or f"segc: internal error: {type(err).__name__}: {err} "
                                     "(run with --debug for a traceback)", file=sys.stderr)
        return 1


# torch's allocators fail with a RuntimeError (torch.OutOfMemoryError on a GPU) saying so
_TORCH_ALLOCATION = re.compile(r"DefaultCPUAllocator: (?:can't allocate memory|not enough memory)"
                               r"|\b(?:CUDA|MPS backend|XPU) out of memory")
_TRIED_BYTES = re.compile(r"tried to allocate (\d+) bytes")


def _out_of_memory(err: Exception) -> str | None:
    """The error to show when ``err`` is an allocation that failed (Python's
    or numpy's MemoryError, torch's allocators), else None."""
    allocation = _TORCH_ALLOCATION.search(str(err)) if isinstance(err, RuntimeError) else None
    if isinstance(err, MemoryError):
        detail = f" ({err})" if str(err) else ""
    elif allocation:
        tried = _TRIED_BYTES.search(str(err))
        detail = f" (torch could not allocate {int(tried.group(1)):,} bytes)" if tried else f" ({allocation[0]})"
    else:
        return None
    return (f"error: out of memory{detail}: the network's tensors do not fit in this machine's memory; "
            "use a smaller input, or lower SEGC_MAX_TENSOR_ELEMENTS and SEGC_MAX_NETWORK_ELEMENTS so that "
            "segc refuses such networks before it starts")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
