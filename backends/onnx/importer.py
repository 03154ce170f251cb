"""ONNX import: a model made elsewhere → graph IR + weights (a state_dict).

Supported: Conv, BatchNormalization, Relu, Clip (ReLU6 for range [0, 6],
else clip), Sigmoid, HardSigmoid, HardSwish, LeakyRelu, Tanh, Softmax
(channels), Mul (x·Sigmoid(x) as silu), Sub, Div (by a constant), MaxPool,
AveragePool, GlobalAveragePool (and ReduceMean over H and W), Resize/Upsample
(nearest with floor and asymmetric coordinates; linear with half-pixel or
align-corners coordinates), Add/Sum, Concat (channels),
Gemm and MatMul (+ a bias Add) as linear layers, Flatten/Reshape before a
classifier, Identity and Dropout (inference: pass-through); constants and
shape arithmetic (Shape, Gather, Slice, Concat, Unsqueeze, Squeeze, Cast on
constants) are folded.  Anything else is an error listing every such node —
nothing is dropped or approximated.

Names: a layer with weights takes its weights' prefix (``layer1.0.conv1``
from ``layer1.0.conv1.weight``); others their node's name made into a
hierarchical name (``/layer1/relu/Relu`` → ``layer1.relu.Relu``).  Names
become valid segc names deterministically: every character but ASCII
letters, digits and ``_`` becomes ``_`` (``stém`` → ``st_m``), a part
starting with a digit gets ``n_`` in front, a name taken already a number
behind (``_2``).  A name that is not UTF-8 (which ONNX requires) is an error
naming where it is.
"""

from __future__ import annotations

import re

import numpy as np
import onnx

from ...ir import OPS, AttrError, Diagnostic, Graph, Node, SegError, ShapeError, shown
from ...ir.files import read_bytes
from .import_checks import check_arity, check_order, deform_specs, initializers, node_error

__all__ = ["import_onnx"]


class _ShapeOf:
    """A folded ``Shape(tensor)[start:end]`` (the batch stays symbolic)."""

    def __init__(self, tensor: str, start: int, end: int):
        self.tensor, self.start, self.end = tensor, start, end


class _Importer:
    def __init__(self, model: onnx.ModelProto, path: str):
        undecodable = _not_utf8(model.graph)
        if undecodable:
            raise SegError(Diagnostic(f"{undecodable}: a name that is not UTF-8 text, as ONNX requires", path=path))
        self.model, self.path = model, path
        self.graph = Graph(_name(model.graph.name or "imported"))
        self.weights: dict[str, np.ndarray] = {}
        self.constants: dict[str, object] = dict(initializers(model, path))
        self.values: dict[str, str] = {}  # ONNX value -> IR layer
        self.used_names: set[str] = set()
        self.rank2: set[str] = set()  # ONNX values that are [N, F] matrices
        self.skip: set[int] = set()  # nodes folded into an earlier layer (a MatMul's bias Add)

    def fail(self, node: onnx.NodeProto | None, message: str) -> SegError:
        return node_error(self.path, node, message)

    # ------------------------------------------------------------ naming
    def layer_name(self, node: onnx.NodeProto, weight: str | None = None) -> str:
        if weight and weight.endswith(".weight"):
            base = _name(weight[: -len(".weight")])
        else:
            base = _name(node.name.strip("/").replace("/", ".")) if node.name else node.op_type.lower()
        first, dot, rest = base.partition(".")
        if first == "output":  # segc's outputs own 'output.*' (numbering would never leave it)
            base = f"output_{dot}{rest}"
        name, number = base, 1
        while name in self.used_names:
            number += 1
            name = f"{base}_{number}"
        self.used_names.add(name)
        return name

    # ------------------------------------------------------------ building
    def add(self, name: str, op: str, inputs: list[str], attrs: dict, node: onnx.NodeProto) -> str:
        opdef = OPS[op]
        try:
            built = opdef.build_attrs(attrs)
            shape = opdef.shape(built, [self.graph.node(i).shape for i in inputs])
        except (AttrError, ShapeError) as err:
            raise self.fail(node, str(err)) from None
        self.graph.add(Node(name, op, tuple(inputs), built, shape))
        return name

    def tensor(self, node: onnx.NodeProto, value: str) -> str:
        if value not in self.values:
            raise self.fail(node, f"input '{value}' is not a tensor segc can follow (a constant or unknown value)")
        return self.values[value]

    def constant(self, node: onnx.NodeProto, value: str, what: str) -> np.ndarray:
        found = self.constants.get(value)
        if not isinstance(found, np.ndarray):
            raise self.fail(node, f"{what} must be a constant")
        return found

    def _dconv(self, layer: str, spec: dict) -> None:
        node = onnx.NodeProto(name=layer, op_type="DeformConv")
        inputs = [self.tensor(node, v) for v in spec["inputs"]]
        name = self.layer_name(onnx.NodeProto(name=layer))
        self.add(name, "dconv", inputs, spec["attrs"], node)
        self.values[layer] = name
        for key in [k for k in self.constants if k.startswith(f"{layer}.")]:
            self.weights[name + key[len(layer):]] = self.constants[key]

    def run(self) -> tuple[Graph, dict[str, np.ndarray]]:
        from .import_ops import SUPPORTED  # the lowering table (it builds on this module)

        self._inputs()
        deform = deform_specs(self.model, self.path)
        inside = {n.name for n in self.model.graph.node if n.name.split("/")[0] in deform}
        nodes = [n for n in self.model.graph.node if n.name not in inside]
        unsupported = [n for n in nodes if n.op_type not in SUPPORTED]
        if unsupported:
            listed = ", ".join(f"{n.op_type} (node '{n.name or '?'}')" for n in unsupported[:20])
            more = f" and {len(unsupported) - 20} more" if len(unsupported) > 20 else ""
            raise SegError(Diagnostic(f"unsupported ONNX ops: {listed}{more}", path=self.path))
        check_order(self.path, self.model.graph.node, {v.name for v in self.model.graph.input} | set(self.constants))
        outputs = {v.name for v in self.model.graph.output}
        for node in self.model.graph.node:
            layer = node.name.split("/")[0]
            if node.name in inside:
                if layer not in self.graph:
                    self._dconv(layer, deform[layer])
            else:
                check_arity(self.path, node)
                self._lower(SUPPORTED[node.op_type], node)
            self._outputs(outputs & set(node.output) | ({layer} & outputs))
        self._outputs({v.name for v in self.model.graph.output if f"output.{_name(v.name)}" not in self.graph})
        problems = self.graph.problems()
        if problems:
            raise SegError([Diagnostic(d.message, path=self.path) for d in problems])
        return self.graph, self.weights

    def _lower(self, lower, node: onnx.NodeProto) -> None:
        """One node through its lowering; what a malformed node's values
        break in it (an index, a conversion) is reported against the node."""
        try:
            lower(self, node)
        except (IndexError, KeyError, TypeError, ValueError) as err:
            raise self.fail(node, f"cannot import it ({type(err).__name__}: {err}); is the model well-formed?") \
                from None

    def _inputs(self) -> None:
        if not [v for v in self.model.graph.input if v.name not in self.constants]:
            raise SegError(Diagnostic("the graph has no input (a feature map [N, C, H, W])", path=self.path))
        if not self.model.graph.output:
            raise SegError(Diagnostic("the graph has no output", path=self.path))
        for value in self.model.graph.input:
            if value.name in self.constants:
                continue
            dims = [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
            if len(dims) != 4 or not all(isinstance(d, int) and d > 0 for d in dims[1:]):
                raise SegError(Diagnostic(f"input '{value.name}' must be [N, C, H, W] with fixed C, H, W, got "
                                          f"{dims}", path=self.path))
            name = self.layer_name(onnx.NodeProto(name=value.name))
            try:
                attrs = OPS["input"].build_attrs({"c": dims[1], "h": dims[2], "w": dims[3]})
                shape = OPS["input"].shape(attrs, [])
            except (AttrError, ShapeError) as err:
                raise SegError(Diagnostic(f"input '{value.name}': {err}", path=self.path)) from None
            self.graph.add(Node(name, "input", (), attrs, shape))
            self.values[value.name] = name

    def _outputs(self, names: set[str]) -> None:
        """Output layers for these graph outputs, in the model's order, as
        soon as their values exist (so layers keep their original order)."""
        for value in self.model.graph.output:
            if value.name not in names or f"output.{_name(value.name)}" in self.graph:
                continue
            if value.name not in self.values:
                raise SegError(Diagnostic(f"output '{value.name}' is not computed by supported layers", path=self.path))
            source = self.values[value.name]
            name = f"output.{_name(value.name)}"
            self.add(name, "output", [source], {}, onnx.NodeProto(name=value.name, op_type="Output"))


def _name(text: str) -> str:
    """A valid hierarchical layer name made from any text."""
    parts = [re.sub(r"[^A-Za-z0-9_]", "_", p) for p in re.split(r"[./]", text) if p] or ["layer"]
    if not re.match(r"[A-Za-z_]", parts[0]):
        parts[0] = f"n_{parts[0]}"
    return ".".join(parts)


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def import_onnx(path: str) -> tuple[Graph, dict[str, np.ndarray]]:
    """The graph and weights of an ONNX file; SegError for anything else."""
    data = read_bytes(path, "data")
    try:
        model = onnx.load_from_string(data)  # external data: read per initializer, see initializers()
    except Exception as err:  # protobuf's reasons for a file that is not a model
        raise SegError(Diagnostic(f"not an ONNX model ({type(err).__name__}: {str(err)[:120]})", path=path)) from None
    if not model.graph.node:
        raise SegError(Diagnostic("not an ONNX model (no graph nodes; truncated or another kind of file?)", path=path))
    return _Importer(model, path).run()



def _not_utf8(graph: onnx.GraphProto) -> str | None:
    """Where the graph holds a name that is not UTF-8 (protobuf gives such a
    string field as bytes), or None."""
    if isinstance(graph.name, bytes):
        return f"the graph's name {shown(graph.name)}"
    for kind, values in (("input", graph.input), ("output", graph.output), ("initializer", graph.initializer)):
        for i, value in enumerate(values):
            if isinstance(value.name, bytes):
                return f"{kind} #{i} {shown(value.name)}"
    for i, node in enumerate(graph.node):
        found = [f for f in (node.name, node.op_type, *node.input, *node.output) if isinstance(f, bytes)]
        if found:
            return f"node #{i} ({shown(node.op_type)}): {shown(found[0])}"
    return None
