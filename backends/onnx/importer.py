"""ONNX import: a model made elsewhere → graph IR + weights (a state_dict).

Supported: Conv, DeformConv (opset 19, its offset computed by a Conv of
its own input: a ``dconv`` layer, see import_deform), BatchNormalization,
Relu, Clip (ReLU6 for range [0, 6], else clip), Sigmoid, HardSigmoid,
HardSwish, LeakyRelu, Tanh, Softmax (channels), Mul (x·Sigmoid(x) as silu), Sub, Div (by a constant), MaxPool,
AveragePool, GlobalAveragePool (and ReduceMean over H and W), Resize/Upsample
(nearest with floor and asymmetric coordinates; linear with half-pixel or
align-corners coordinates), Add/Sum, Concat (channels),
Gemm and MatMul (+ a bias Add) as linear layers, Flatten/Reshape before a
classifier, Identity and Dropout (inference: pass-through); constants,
Identity-wrapped initializers and shape arithmetic (Shape, Gather, Slice,
Concat, Unsqueeze, Squeeze, Cast) are evaluated on the static shapes and
folded (counted by op type).  An input whose C, H or W is dynamic needs a
given size (import_shapes).  Anything else is one error listing every
offending node, its op type and why — nothing is dropped or approximated.

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
from collections import Counter
from collections.abc import Sequence

import numpy as np
import onnx

from ...ir import OPS, AttrError, Diagnostic, Graph, Node, SegError, ShapeError, shown
from ...ir.files import read_bytes
from .import_checks import check_arity, check_order, deform_specs, describe, initializers, node_error
from .import_shapes import feature_inputs, inferred_dims

__all__ = ["import_onnx"]


class _ShapeOf:
    """A folded ``Shape(tensor)[start:end]``, kept symbolic so that a Resize
    to the size of another tensor stays one (``upsample(x, to=ref)``)."""

    def __init__(self, tensor: str, start: int, end: int | None):
        self.tensor, self.start, self.end = tensor, start, end


class _Importer:
    def __init__(self, model: onnx.ModelProto, path: str, input_shape: Sequence[int] | None = None):
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
        self.skip: set[str] = set()  # first outputs of nodes folded into an earlier layer (a bias Add, a shuffle)
        self.folded: Counter[str] = Counter()  # ONNX nodes that became no layer, by op type
        self.sizes = feature_inputs(model, path, set(self.constants), input_shape)
        self.batch = next((dims[0] for dims in self.sizes.values() if dims[0]), 1)  # for folded shapes
        self.problems: list[str] = []  # nodes that cannot be imported, each "node 'NAME' (OP): why"
        self.failed: set[str] = set()  # values that cannot be computed (a failed node's, shape unknown)
        self.inferred: dict[str, list[int | None]] | None = None  # ONNX's inferred shapes, once needed
        self.users: dict[str, list[onnx.NodeProto]] = {}  # ONNX value -> the nodes that read it, in order
        for node in model.graph.node:
            for value in dict.fromkeys(node.input):
                self.users.setdefault(value, []).append(node)
        # import_quant's records: words by folded weight value, QuantizeLinear outputs awaiting their
        # DequantizeLinear, Clips narrowing one (bits), activation formats and weight widths by layer
        # and the initializer each folded weight comes from
        self.quantized: dict[str, dict] = {key: {} for key in ("words", "pending", "narrow", "activations",
                                                                "weights", "origin")}

    def fail(self, node: onnx.NodeProto | None, message: str) -> SegError:
        return node_error(self.path, node, message)

    # ------------------------------------------------------------ naming
    def layer_name(self, node: onnx.NodeProto, weight: str | None = None) -> str:
        weight = self.quantized["origin"].get(weight, weight) if weight else weight  # a dequantized weight's own
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
        needed = ["weight", "offset.weight", "offset.bias"] + (["bias"] if self.graph.node(name).attrs["bias"] else [])
        missing = [f"{layer}.{key}" for key in needed if f"{name}.{key}" not in self.weights]
        if missing:
            raise self.fail(node, f"segc's deformable layer lacks its parameters {', '.join(missing)} (an earlier "
                                  "segc export folded them away: export the network again)")

    def run(self) -> tuple[Graph, dict[str, np.ndarray]]:
        from .import_ops import SUPPORTED  # the lowering table (it builds on this module)
        from .import_quant import apply_formats

        self._inputs()
        deform = deform_specs(self.model, self.path)
        inside = {n.name for n in self.model.graph.node if n.name.split("/")[0] in deform}
        check_order(self.path, self.model.graph.node, {v.name for v in self.model.graph.input} | set(self.constants))
        outputs = {v.name for v in self.model.graph.output}
        for node in self.model.graph.node:
            layer = node.name.split("/")[0]
            if node.name in inside:
                if layer not in self.graph:
                    self._dconv(layer, deform[layer])
            elif node.op_type not in SUPPORTED:
                self._failed(node, describe(node, "op outside segc's table"))
            elif self.failed.intersection(node.input):
                self.failed.update(node.output)  # only its own reason is reported, not its inputs'
            else:
                self._lower_counted(SUPPORTED[node.op_type], node)
            if not self.problems:
                self._outputs(outputs & set(node.output) | ({layer} & outputs))
        if self.problems:
            raise SegError(Diagnostic(_listing(self.problems), path=self.path))
        apply_formats(self)
        self._outputs({v.name for v in self.model.graph.output if f"output.{_name(v.name)}" not in self.graph})
        problems = self.graph.problems()
        if problems:
            raise SegError([Diagnostic(d.message, path=self.path) for d in problems])
        return self.graph, self.weights

    def _lower_counted(self, lower, node: onnx.NodeProto) -> None:
        """Lower one node (its error is recorded); a node that adds no layer
        is counted as folded."""
        from .import_quant import WEIGHTED_NODES, record_weight_words

        before = len(self.graph)
        try:
            check_arity(self.path, node)
            self._lower(lower, node)
            if node.op_type in WEIGHTED_NODES and len(self.graph) > before:
                record_weight_words(self, node)
        except SegError as err:
            self._failed(node, "; ".join(d.message for d in err.diagnostics))
            return
        if len(self.graph) == before:
            self.folded[node.op_type] += 1

    def _failed(self, node: onnx.NodeProto, problem: str) -> None:
        """Record a node that cannot be imported.  Its outputs whose shape
        ONNX infers become stand-in inputs, so the nodes after it are still
        checked and their own problems listed; the others fail the nodes
        that use them."""
        self.problems.append(problem)
        if self.inferred is None:
            self.inferred = inferred_dims(self.model)
        for value in node.output:
            dims = self.inferred.get(value, [])
            if len(dims) == 4 and all(dims[1:]) and value not in self.values:
                stand_in = f"failed.{self.layer_name(onnx.NodeProto(name=value))}"
                attrs = OPS["input"].build_attrs({"c": dims[1], "h": dims[2], "w": dims[3]})
                self.graph.add(Node(stand_in, "input", (), attrs, OPS["input"].shape(attrs, [])))
                self.values[value] = stand_in
            else:
                self.failed.add(value)

    def static(self, value: str) -> np.ndarray | None:
        """A folded value as numbers (shapes evaluated on the known static
        shapes, the batch as the input's or 1), or None if not folded."""
        found = self.constants.get(value)
        if found is None:
            return None
        if isinstance(found, list):  # a Concat of parts
            return np.concatenate([self._numbers(p).reshape(-1) for p in found])
        return self._numbers(found)

    def _numbers(self, part) -> np.ndarray:
        if not isinstance(part, _ShapeOf):
            return np.asarray(part)
        if part.tensor in self.constants:
            dims = list(np.shape(self.static(part.tensor)))
        else:
            shape = self.graph.node(self.values[part.tensor]).shape
            dims = [self.batch, shape.c] + ([] if part.tensor in self.rank2 else [shape.h, shape.w])
        return np.asarray(dims[part.start:part.end], dtype=np.int64)

    def _lower(self, lower, node: onnx.NodeProto) -> None:
        """One node through its lowering; what a malformed node's values
        break in it (an index, a conversion) is reported against the node."""
        try:
            lower(self, node)
        except (IndexError, KeyError, TypeError, ValueError) as err:
            raise self.fail(node, f"cannot import it ({type(err).__name__}: {err}); is the model well-formed?") \
                from None

    def _inputs(self) -> None:
        if not self.sizes:
            raise SegError(Diagnostic("the graph has no input (a feature map [N, C, H, W])", path=self.path))
        if not self.model.graph.output:
            raise SegError(Diagnostic("the graph has no output", path=self.path))
        for value, dims in self.sizes.items():
            name = self.layer_name(onnx.NodeProto(name=value))
            try:
                attrs = OPS["input"].build_attrs({"c": dims[1], "h": dims[2], "w": dims[3]})
                shape = OPS["input"].shape(attrs, [])
            except (AttrError, ShapeError) as err:
                raise SegError(Diagnostic(f"input '{value}': {err}", path=self.path)) from None
            self.graph.add(Node(name, "input", (), attrs, shape))
            self.values[value] = name

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


def _listing(problems: list[str]) -> str:
    """One message for every node that cannot be imported."""
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} nodes cannot be imported:\n" + "\n".join(f"  {p}" for p in problems)


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def import_onnx(path: str, input_shape: Sequence[int] | None = None,
                folded: dict[str, int] | None = None) -> tuple[Graph, dict[str, np.ndarray]]:
    """The graph and weights of an ONNX file; SegError for anything else.
    ``input_shape`` (C, H, W or N, C, H, W) fixes an input the model leaves
    dynamic; ``folded`` receives the ONNX nodes that became no layer
    (constants, shape arithmetic, pass-throughs), counted by op type."""
    data = read_bytes(path, "data")
    try:
        model = onnx.load_from_string(data)  # external data: read per initializer, see initializers()
    except Exception as err:  # protobuf's reasons for a file that is not a model
        raise SegError(Diagnostic(f"not an ONNX model ({type(err).__name__}: {str(err)[:120]})", path=path)) from None
    if not model.graph.node:
        raise SegError(Diagnostic("not an ONNX model (no graph nodes; truncated or another kind of file?)", path=path))
    importer = _Importer(model, path, input_shape)
    result = importer.run()
    if folded is not None:
        folded.update(sorted(importer.folded.items()))
    return result



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
