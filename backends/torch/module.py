"""The live PyTorch model of a graph: the generated source of
``source.py`` executed in-process, its parameters initialised from a
seed (``backends/seeded.py``: PyTorch's default distributions, drawn with
numpy) or loaded by
name from a ``state_dict`` (``.pt``, read with ``weights_only=True``, or
``.safetensors``).  A weights file that does not fit the network is an
error naming the layer; so is a runtime input of the wrong shape.
"""

from __future__ import annotations

import copy
import hashlib
import linecache
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from ...ir import Diagnostic, Graph, SegError
from ...ir.files import library_reason, open_input
from ..quant import RANGE_SUFFIX
from ..seeded import seeded_weights
from .source import class_name, to_torch_source

__all__ = ["build_module", "load_state_dict", "read_tensors", "read_weights", "submodule"]


class _ShapeCheck:
    """Forward pre-hook: the inputs must have the shapes the IR declares."""

    def __init__(self, expected: dict[str, tuple[int, int, int]]):
        self.expected = expected

    def __call__(self, module: nn.Module, args: tuple) -> None:
        for (name, shape), tensor in zip(self.expected.items(), args):
            if not isinstance(tensor, torch.Tensor) or tensor.dim() != 4 or tuple(tensor.shape[1:]) != shape:
                got = list(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
                raise ValueError(f"input '{name}' must be [N, {shape[0]}, {shape[1]}, {shape[2]}], got {got}")


def build_module(graph: Graph, weights: Mapping[str, torch.Tensor] | None = None, seed: int = 0,
                 source_name: str = "<segc>", ranges_optional: bool = False) -> nn.Module:
    """The network as an ``nn.Module`` in eval mode; with ``ranges_optional``
    activation ranges the weights lack stay uncalibrated instead of being an
    error (as with seeded weights)."""
    source = to_torch_source(graph)
    namespace: dict = {"__name__": f"segc_generated_{class_name(graph).lower()}"}
    exec(compile(source, _remember(source, graph.name), "exec"), namespace)
    with torch.random.fork_rng(devices=[]):  # the constructors' own draws, replaced below, leave torch's RNG alone
        module = namespace[class_name(graph)]()
    if weights is None:  # seeded weights; activation ranges stay uncalibrated (segc quantize measures them)
        weights, ranges_optional = {k: torch.from_numpy(v) for k, v in seeded_weights(graph, seed).items()}, True
    if ranges_optional:
        defaults = {k: v for k, v in module.state_dict().items() if k.endswith(RANGE_SUFFIX)}
        weights = {**defaults, **weights}
    load_state_dict(module, weights, source_name)
    module.register_forward_pre_hook(_ShapeCheck({n.name: tuple(n.shape) for n in graph.inputs}))
    module.__prepare_scriptable__ = _WithoutShapeCheck(module)
    return module.eval()


def submodule(module: nn.Module, name: str) -> nn.Module:
    """The layer ``name`` (dotted) of a built module.  Not ``get_submodule``,
    which reads attributes and so finds the method of a layer named ``to``,
    ``forward`` or ``__init__``."""
    for part in name.split("."):
        module = module._modules[part]
    return module


class _WithoutShapeCheck:
    """``torch.jit.script`` compiles hooks, and the input shape check is
    Python only: it scripts what this returns, the module without that hook
    (sharing its parameters).  An object, not a closure, so that a deep copy
    of the module prepares the copy."""

    def __init__(self, module: nn.Module):
        self.module = module

    def __call__(self) -> nn.Module:
        clone = copy.copy(self.module)
        clone.__dict__.pop("__prepare_scriptable__", None)
        hooks = self.module._forward_pre_hooks
        clone._forward_pre_hooks = type(hooks)((k, h) for k, h in hooks.items() if not isinstance(h, _ShapeCheck))
        return clone


def _remember(source: str, name: str) -> str:
    """A file name for the generated source, registered with ``linecache`` so
    that ``inspect`` (and ``torch.jit.script``, tracebacks) can read it."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    filename = f"<segc generated {name} {digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return filename


def _layer(key: str) -> str:
    return key.rsplit(".", 1)[0] if "." in key else key


def load_state_dict(module: nn.Module, weights: Mapping[str, torch.Tensor], source: str) -> None:
    """Load by name, strictly: a missing, unexpected or mis-shaped entry is a
    SegError naming the layer."""
    expected = module.state_dict()
    problems = []
    for key, value in expected.items():
        if key not in weights:
            if not key.endswith("num_batches_tracked"):
                hint = " (its calibrated output range: segc quantize writes it)" if key.endswith(".act_range") else ""
                problems.append(f"layer '{_layer(key)}': '{key}' is missing{hint}")
        elif tuple(weights[key].shape) != tuple(value.shape):
            problems.append(f"layer '{_layer(key)}': '{key}' has shape {list(weights[key].shape)} in the file, "
                            f"the network needs {list(value.shape)}")
    problems += [f"'{key}' belongs to no layer of the network" for key in weights if key not in expected]
    if problems:
        shown = problems[:12] + ([f"… and {len(problems) - 12} more"] if len(problems) > 12 else [])
        raise SegError([Diagnostic(p, path=source) for p in shown])
    complete = {k: weights.get(k, v) for k, v in expected.items()}
    module.load_state_dict({k: _tensor(v).to(expected[k].dtype) for k, v in complete.items()})


def _tensor(value) -> torch.Tensor:
    """A tensor of its own (numpy arrays from safetensors may be read-only)."""
    return value.detach().clone() if isinstance(value, torch.Tensor) else torch.from_numpy(np.array(value))


def read_tensors(path: str, what: str):
    """The tensor or tensors of a ``.safetensors``, ``.npy`` or ``.pt`` file
    (``weights_only``: no code runs), the file checked first (see
    :mod:`segc.ir.files`); SegError naming the file and the reason otherwise."""
    with open_input(path, "data") as handle:
        try:
            if path.endswith(".safetensors"):
                from safetensors.torch import load

                return load(handle.read())
            if path.endswith(".npy"):
                return torch.from_numpy(np.load(handle, allow_pickle=False))
            return torch.load(handle, map_location="cpu", weights_only=True)
        except Exception as err:  # any library's reason for rejecting the file
            raise SegError(Diagnostic(f"cannot read the {what}: {library_reason(err)}", path=path)) from None


def read_weights(path: str) -> dict[str, torch.Tensor]:
    """A state_dict from a ``.pt`` (tensors only) or ``.safetensors`` file."""
    data = read_tensors(path, "weights")
    if isinstance(data, Mapping) and "state_dict" in data and isinstance(data["state_dict"], Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise SegError(Diagnostic("not a state_dict (a mapping of names to tensors)", path=path))
    return dict(data)
