"""The torch backend: readable Python source of one ``nn.Module`` class for a
network.  Every layer is a submodule registered under its IR name (nested
``nn.ModuleDict`` s for dotted names), so ``state_dict`` keys are the IR's
names (``layer1.0.conv1.weight``) and so are the scopes of exported ONNX
nodes; ``forward`` runs the layers in topological order.  Tensors stay
4-D ``[N, C, H, W]`` as in the IR (a linear layer's output is
``[N, F, 1, 1]``); a network output that is a matrix (``is_flat``: after
flatten, linear or mean(keepdims=false)) is returned as ``[N, F]``.

The file needs only torch: the few helper modules it uses are written into
it (a deformable network also gets the source of ``backends/torch/deform.py``).
This module imports nothing from torch itself.
"""

from __future__ import annotations

import functools
import keyword
import re

from ...ir import Diagnostic, Graph, Node, SegError, conv_pads, shown
from ...ir.dconv_plan import dconv_variant
from ...ir.ops_pointwise import is_flat, output_shape
from ..identifiers import ascii_identifier, distinct_identifiers
from ..literals import py_docstring, py_string
from .inline import defined_names, file_text, inlined_source
from .pointwise import LIST_OPERAND_OPS, POINTWISE_HELPERS, POINTWISE_LOWERING, flat_return, helpers_used
from .quant_lowering import (
    QUANT_DEFORM_FILES,
    QUANT_FILES,
    QUANT_NAMES,
    input_scale_argument,
    quant_call,
    quant_constructor,
    quant_files,
    quantized_input,
)

__all__ = ["TORCH_LOWERING", "class_name", "to_torch_source"]

# inlined, in this order, into deformable networks' source
DEFORM_FILES = ("deform_kernels.py", "deform_fused.py", "deform_traced.py", "deform.py")

_HELPERS = '''

class Add(nn.Module):
    """Element-wise sum of a list of tensors."""

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    """Concatenation of a list of tensors along channels."""

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class Flatten(nn.Module):
    """[N, C, H, W] to [N, C·H·W, 1, 1]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :, None, None]


class Linear(nn.Linear):
    """A fully connected layer on [N, F, 1, 1] tensors."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x.flatten(1), self.weight, self.bias)[:, :, None, None]
'''

# Helpers written only into networks that use them (slice, shuffle).
_CHANNEL_HELPERS = '''

class Slice(nn.Module):
    """Channels [start, end)."""

    def __init__(self, start: int, end: int):
        super().__init__()
        self.start, self.end = start, end

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.start:self.end]


class Shuffle(nn.Module):
    """ShuffleNet's channel shuffle: [N, G·K, H, W] seen as [N, G, K, H, W], G and K swapped."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.reshape(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)
'''
_CHANNEL_OPS = ("slice", "shuffle")


def _pair(value) -> str:
    return f"({value[0]}, {value[1]})"


def _conv(graph: Graph, node: Node) -> str:
    a, ci = node.attrs, graph.input_shapes(node)[0].c
    pads = conv_pads(a)
    args = (f"{ci}, {a['out']}, kernel_size={_pair(a['k'])}, stride={_pair(a['stride'])}, padding={_pair(pads)}, "
            f"dilation={_pair(a['dilation'])}, groups={a['groups']}, bias={a['bias']}")
    if node.op == "conv":
        return f"nn.Conv2d({args})"
    variant = dconv_variant(node)  # the deform pass's decision, if it ran
    return (f"DeformConv2d({args}, offset_groups={a['offset_groups']}, shape={variant['shape']!r}, "
            f"bound={variant['bound']!r}, round={variant['round']})")


def _deconv(graph: Graph, node: Node) -> str:
    a, ci = node.attrs, graph.input_shapes(node)[0].c
    return (f"nn.ConvTranspose2d({ci}, {a['out']}, kernel_size={_pair(a['k'])}, stride={_pair(a['stride'])}, "
            f"padding={_pair(a['padding'])}, output_padding={_pair(a['output_padding'])}, groups={a['groups']}, "
            f"bias={a['bias']}, dilation={_pair(a['dilation'])})")


def _pool(graph: Graph, node: Node) -> str:
    a = node.attrs
    if a.get("global"):
        return "nn.AdaptiveAvgPool2d(1)"
    pads = conv_pads({**a, "dilation": (1, 1)})
    window = f"{_pair(a['k'])}, stride={_pair(a['stride'])}, padding={_pair(pads)}, ceil_mode={a['ceil']}"
    if node.op == "maxpool":
        return f"nn.MaxPool2d({window})"
    return f"nn.AvgPool2d({window}, count_include_pad=True)"


def _upsample(graph: Graph, node: Node) -> str:
    a = node.attrs
    corners = a["align_corners"] if a["mode"] == "bilinear" else None
    size = f"scale_factor={_pair(a['scale'])}" if a["scale"] else f"size={_pair(node.shape[1:])}"
    return f"nn.Upsample({size}, mode={a['mode']!r}, align_corners={corners})"


TORCH_LOWERING = {
    "input": None,
    "output": None,
    "conv": _conv,
    "dconv": _conv,
    "bn": lambda g, n: f"nn.BatchNorm2d({n.shape.c}, eps={n.attrs['eps']!r})",
    "relu": lambda g, n: "nn.ReLU()",
    "relu6": lambda g, n: "nn.ReLU6()",
    "sigmoid": lambda g, n: "nn.Sigmoid()",
    "identity": lambda g, n: "nn.Identity()",
    "maxpool": _pool,
    "avgpool": _pool,
    "upsample": _upsample,
    "add": lambda g, n: "Add()",
    "concat": lambda g, n: "Concat()",
    "flatten": lambda g, n: "Flatten()",
    "deconv": _deconv,
    "slice": lambda g, n: f"Slice({n.attrs['start']}, {n.attrs['end']})",
    "shuffle": lambda g, n: f"Shuffle({n.attrs['groups']})",
    "linear": lambda g, n: f"Linear({g.input_shapes(n)[0].c}, {n.shape.c}, bias={n.attrs['bias']})",
    **POINTWISE_LOWERING,
}


def class_name(graph: Graph) -> str:
    """``tiny_seg`` → ``TinySeg``; ``Net`` in front where that would not be a
    fresh identifier (``add`` → ``NetAdd``: ``Add`` is a helper class)."""
    words = re.split(r"[^A-Za-z0-9]+", graph.name)
    name = "".join(w[:1].upper() + w[1:] for w in words if w) or "Network"
    return name if name[0].isalpha() and name not in _module_names() else f"Net{name}"


@functools.cache
def _module_names() -> frozenset[str]:
    """The names the generated module defines or imports besides its class."""
    files = [file_text(name) for name in DEFORM_FILES + QUANT_FILES + QUANT_DEFORM_FILES]
    names = defined_names([_HELPERS, _CHANNEL_HELPERS, POINTWISE_HELPERS, *files])
    return frozenset(names | {"torch", "nn", "annotations", *keyword.kwlist})


def _attribute_safe(name: str) -> bool:
    """Whether ``self.NAME`` reaches a submodule called NAME: an ASCII
    identifier that Python does not mangle (``__x``) and no ``nn.Module``
    attribute (``to``, ``eval``, ``half``, ``_modules``…) shadows."""
    from torch import nn

    return (name.isascii() and name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__")
            and not hasattr(nn.Module, name) and name not in _instance_attributes())


@functools.cache
def _instance_attributes() -> frozenset[str]:
    """What ``nn.Module.__init__`` sets on every module (``training``, ``_modules``…)."""
    from torch import nn

    return frozenset(vars(nn.Module()))


def _access(name: str) -> str:
    """``self.layer1["0"]["conv1"]`` for layer ``layer1.0.conv1``
    (``self._modules["to"]`` where an attribute would shadow the layer)."""
    first, *rest = name.split(".")
    root = f"self.{first}" if _attribute_safe(first) else f"self._modules[{py_string(first)}]"
    return root + "".join(f"[{py_string(part)}]" for part in rest)


_RESERVED = frozenset({"self", "torch", "nn", "F", *QUANT_NAMES})


def _python_stem(name: str) -> str:
    base = ascii_identifier(name, "v", underscore=True)
    return base + "_" if keyword.iskeyword(base) or base in _RESERVED else base


def _variables(graph: Graph) -> dict[str, str]:
    """A distinct Python variable per layer (``layer1.0.conv1`` → ``layer1_0_conv1``)."""
    return distinct_identifiers(graph, _python_stem)


def _check_names(modules: list[Node]) -> None:
    paths = {n.name for n in modules}
    for node in modules:
        parts = node.name.split(".")
        kept = next((part for part in parts if part in _instance_attributes()), None)
        if kept is not None:
            raise SegError(Diagnostic(
                f"layer {shown(node.name)} cannot be a torch module: nn.Module keeps its own "
                f"'{kept}' on every module; rename it with 'as'", node.span,
            ))
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in paths:
                raise SegError(Diagnostic(
                    f"layer {shown(prefix)} and layer {shown(node.name)} cannot both be torch modules "
                    f"({shown(prefix)} would have to be a layer and a container); rename one with 'as'", node.span,
                ))


def _stored_at(name: str) -> str:
    """Where ``__init__`` stores layer (or container) ``name``: at
    :func:`_access`, but in the parent's ``_modules`` when the last part is
    an attribute of ``nn.ModuleDict`` (``x.to``), which its ``__setitem__``
    refuses."""
    from torch import nn

    parent, _, last = name.rpartition(".")
    if parent and hasattr(nn.ModuleDict, last):
        return f"{_access(parent)}._modules[{py_string(last)}]"
    return _access(name)


def _init_lines(graph: Graph, modules: list[Node]) -> list[str]:
    lines, containers = [], set()
    for node in modules:
        parts = node.name.split(".")
        for i in range(1, len(parts)):
            path = ".".join(parts[:i])
            if path not in containers:
                containers.add(path)
                lines.append(f"{_stored_at(path)} = nn.ModuleDict()")
        plain = "nn.Identity()" if quantized_input(node) else TORCH_LOWERING[node.op](graph, node)
        lines.append(f"{_stored_at(node.name)} = {quant_constructor(node, plain)}")
    return lines


def _operands(node: Node, names: dict[str, str]) -> str:
    """The call's arguments: one tensor, or a list for the n-ary add and concat."""
    if node.op in ("add", "concat", *LIST_OPERAND_OPS):
        return f"[{', '.join(names[i] for i in node.inputs)}]"
    return names[node.inputs[0]]


def _forward_lines(graph: Graph, names: dict[str, str]) -> list[str]:
    """One line per layer; an intermediate tensor is released (``del``) right
    after its last use, so memory is reused as in hand-written modules."""
    steps = [n for n in graph.nodes() if n.op not in ("input", "output")]
    returned = [names[n.inputs[0]] for n in graph.outputs]
    keep = set(returned) | {names[n.name] for n in graph.inputs}
    last_use = {names[i]: step for step, node in enumerate(steps) for i in node.inputs}
    lines = [f"{names[n.name]} = {quant_call(n, _access(n.name), names[n.name])}" for n in graph.inputs
             if quantized_input(n)]
    for step, node in enumerate(steps):
        call = f"{_access(node.name)}({_operands(node, names)}{input_scale_argument(graph, node, _access)})"
        lines.append(f"{names[node.name]} = {quant_call(node, _access(node.name), call)}")
        dead = sorted({names[i] for i in node.inputs if last_use[names[i]] == step and names[i] not in keep})
        if dead:
            lines.append(f"del {', '.join(dead)}")
    values = [flat_return(names[n.inputs[0]], is_flat(graph, n.inputs[0])) for n in graph.outputs]
    lines.append(f"return {values[0]}" if len(values) == 1 else f"return ({', '.join(values)})")
    return lines


def _unscriptable_lines(graph: Graph, modules: list[Node]) -> list[str]:
    """A ``__prepare_scriptable__`` that explains why ``torch.jit.script`` cannot
    compile the module, when a top-level layer is reachable only through
    ``self._modules`` (its name is an ``nn.Module`` attribute); else nothing."""
    hidden = sorted({n.name.split(".")[0] for n in modules if not _attribute_safe(n.name.split(".")[0])})
    if not hidden:
        return []
    listed = ("layers " if len(hidden) > 1 else "layer ") + ", ".join(repr(name) for name in hidden)
    reason = f"torch.jit.script cannot compile {class_name(graph)}: {listed} named like an nn.Module "
    return [
        "",
        "    def __prepare_scriptable__(self):",
        "        raise RuntimeError(",
        f"            {py_string(reason)}",
        '            "attribute, which TorchScript takes for the attribute; rename it with \'as\'"',
        "        )",
    ]


def _inline(files: tuple[str, ...], header: list[str], body: list[str]) -> None:
    """Add the code of ``files`` to the body, their imports to the header."""
    imports, code = inlined_source(files)
    header[-2:-2] = [line for line in imports if line not in header]
    body.append(code)


def to_torch_source(graph: Graph) -> str:
    """The module's source text (deterministic)."""
    modules = [n for n in graph.nodes() if TORCH_LOWERING[n.op] is not None or quantized_input(n)]
    _check_names(modules)
    names = _variables(graph)
    inputs = ", ".join(names[n.name] for n in graph.inputs)
    outputs = ", ".join(f"{n.output_name} {output_shape(graph, n)}" for n in graph.outputs)
    shapes = ", ".join(f"{n.name} {list(n.shape)}" for n in graph.inputs)
    deform = any(n.op == "dconv" for n in graph.nodes())
    header = [
        f'"""{py_docstring(graph.name)} as a PyTorch module, generated by segc from its graph IR.',
        "",
        f"Inputs (batch first): {py_docstring(shapes)}.  Returns: {py_docstring(outputs)}.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import torch",
        "from torch import nn",
    ]
    body = [_HELPERS.rstrip("\n") + helpers_used({n.op for n in graph.nodes()}).rstrip("\n")]
    if any(n.op in _CHANNEL_OPS for n in graph.nodes()):
        body.append(_CHANNEL_HELPERS.rstrip("\n"))
    if deform:
        _inline(DEFORM_FILES, header, body)
    if quant_files(graph):
        _inline(quant_files(graph), header, body)
    cls = [
        "",
        "",
        f"class {class_name(graph)}(nn.Module):",
        "    def __init__(self):",
        "        super().__init__()",
        *[f"        {line}" for line in _init_lines(graph, modules)],
        *_unscriptable_lines(graph, modules),
        "",
        f"    def forward(self, {inputs}):",
        *[f"        {line}" for line in _forward_lines(graph, names)],
    ]
    return "\n".join(header + body + cls) + "\n"
