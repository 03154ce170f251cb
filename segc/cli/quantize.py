"""``segc quantize``: post-training calibration of a quantized network's
activation ranges on data (synthetic or a dataset folder, as ``finetune``
takes it), written with the weights as ``.safetensors``; and the range
options ``finetune`` shares.  torch is imported only when it runs."""

from __future__ import annotations

import argparse

from .. import outputs
from ..ir import Diagnostic, SegError
from .common import int_in, protected, seed

__all__ = ["COMMANDS", "add_commands", "range_options", "range_rule"]


def range_rule(text: str) -> str:
    """``max`` or ``percentile:P`` (0 < P ≤ 100)."""
    from ..backends.quant import parse_range_rule

    try:
        parse_range_rule(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def range_options(command: argparse.ArgumentParser, samples_flag: str = "--samples") -> None:
    command.add_argument("--range", type=range_rule, default="max", metavar="RULE",
                         help="the range of a layer's output: max (max |x|) or percentile:P (the P-th percentile "
                              "of |x|, e.g. percentile:99.99); default max")
    command.add_argument(samples_flag, type=int_in(1), metavar="N", dest="samples",
                         help="calibrate on the first N samples of the split (default: all)")


def add_commands(commands) -> None:
    from .train import data_options

    calibrate = commands.add_parser("quantize", help="calibrate a quantized network's activation ranges on data")
    data_options(calibrate, "train")
    calibrate.add_argument("--weights", metavar="W", help="the float weights (.pt or .safetensors); default: "
                                                          "initialised from --seed")
    calibrate.add_argument("--seed", type=seed, default=0, help="seed of the initial weights without --weights")
    range_options(calibrate)
    calibrate.add_argument("-o", "--output", required=True, metavar="OUT.safetensors",
                           help="the weights with each quantized layer's range (<layer>.act_range)")


def _quantize(args: argparse.Namespace) -> int:
    from ..quantization import is_quantized, quantized_module
    from .train import check_output_file, dataset_of, write_weights

    check_output_file(args.output)
    graph, _, _, dataset = dataset_of(args)
    if not is_quantized(graph):
        raise SegError(Diagnostic(f"network '{graph.name}' quantizes no layer: give it a quantize section "
                                  "(docs/quantization.md)", path=args.file))
    inputs = (*protected(args), *([args.weights] if args.weights else []))
    outputs.check_file(args.output, inputs)
    module = quantized_module(graph, args.weights, dataset, args.range, args.samples, args.batch_size, args.seed,
                              recalibrate=True)
    write_weights(module, args.output, inputs)
    count = min(args.samples or len(dataset), len(dataset))
    layers = sum(1 for key in module.state_dict() if key.endswith(".act_range"))
    print(f"calibrated the output ranges of {layers} layer(s) of {graph.name} ({args.range}) on {count} samples of "
          f"{args.data} ({args.split}); weights in {args.output}")
    return 0


COMMANDS = {"quantize": _quantize}
