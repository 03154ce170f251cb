"""Layers run in a convolution's pipeline: the ``cost`` pass's rules
``fused`` (bn, relu, relu6, sigmoid, identity, the activations of
``lower_pointwise.POINTWISE_STAGES`` and max pooling whose first
input leaves a convolution pipeline; Mori et al. Sec. 3.1) and ``residual``
(an add in the pipeline, reading its other inputs from DRAM) become the
epilogue of the convolution's kernel (``lib/segc_epilogue.h``): each
output word goes through the fused layers in order, with the same rounding
steps as their stand-alone kernels, before it is written.

A chain starts at a conv, dconv or linear layer and follows, while there is
one, the first layer (in topological order) that reads the chain's tail and
joins it: a fused layer whose first input is the tail, or a residual add
with the tail among its inputs whose other inputs are all written before the
chain's head runs (the sum is exact, so which input arrives through the
pipeline does not change a bit: an add whose first input's chain runs before
its other input's joins the later chain).  A chain ends at a max pooling
(which changes the shape).  A fused layer off the chain (a second fused
reader of one tensor) stays a kernel of its own, as does an add whose
inputs are not ready.  A chain member keeps a DRAM tensor only when a layer
outside the chain (or an output) reads it; the tail always does.
"""

from __future__ import annotations

from ...ir import Graph, Node
from ..literals import c_comment
from .context import Call, Context, Lowered
from .lower_pointwise import POINTWISE_STAGES, stage_line

__all__ = ["FUSED_OPS", "HEAD_OPS", "fuse", "fusion_chains", "unstored"]

HEAD_OPS = ("conv", "dconv", "linear")
FUSED_OPS = ("bn", "relu", "relu6", "sigmoid", "identity", "maxpool", *POINTWISE_STAGES)


def _rule(node: Node) -> str | None:
    cost = node.annotations.get("cost")
    return cost["rule"] if cost is not None else None


def _candidates(graph: Graph) -> dict[str, list[str]]:
    """Tensor → the layers that may join a chain ending at it, in topological order."""
    readers: dict[str, list[str]] = {}
    for node in graph.nodes():
        if _rule(node) == "fused" and node.op in FUSED_OPS:
            readers.setdefault(node.inputs[0], []).append(node.name)
        elif _rule(node) == "residual" and node.op == "add":
            for name in dict.fromkeys(node.inputs):
                readers.setdefault(name, []).append(node.name)
    return readers


def _ready(graph: Graph, name: str, tail: str, written: dict[str, int], now: int) -> bool:
    """Whether every input of ``name`` but ``tail`` is in DRAM before step ``now``."""
    return all(written[_owner(graph, i)] < now for i in graph.node(name).inputs if i != tail)


def fusion_chains(graph: Graph) -> dict[str, list[str]]:
    """Head layer → the layers fused into its pipeline, in order (heads with none left out)."""
    readers = _candidates(graph)
    written = {n.name: i for i, n in enumerate(graph.nodes())}  # layer -> step of the kernel writing it
    chains: dict[str, list[str]] = {}
    taken: set[str] = set()
    for node in graph.nodes():
        if node.op not in HEAD_OPS:
            continue
        chain, tail, now = [], node.name, written[node.name]
        while graph.node(tail).op != "maxpool":
            tail = next((r for r in readers.get(tail, []) if r not in taken
                         and _ready(graph, r, tail, written, now)), None)
            if tail is None:
                break
            chain.append(tail)
            taken.add(tail)
            written[tail] = now
        if chain:
            chains[node.name] = chain
    return chains


def _owner(graph: Graph, name: str) -> str:
    node = graph.node(name)
    while node.op == "identity":
        node = graph.node(node.inputs[0])
    return node.name


def unstored(graph: Graph, chains: dict[str, list[str]]) -> set[str]:
    """Chain layers whose output no layer outside their chain reads: they get no DRAM tensor."""
    inside: set[str] = set()
    for head, chain in chains.items():
        group = {head, *chain}
        owners = {_owner(graph, name) for name in group}
        read = {_owner(graph, i) for n in graph.nodes() if n.name not in group for i in n.inputs}
        inside |= owners - read - {_owner(graph, chain[-1])}
    return inside


def _stage(ctx: Context, name: str, call: Call, stored: bool, tail: str) -> list[str]:
    """operator() lines of one fused layer (``tail``: the chain's tensor it reads)."""
    node, cfg, out = ctx.graph.node(name), f"{ctx.ident[name]}_cfg", call.args[-1]
    if node.op == "maxpool":
        return [f"        segc::max_pool_update<{cfg}>({out}, v, c, y, x);"]
    if node.op == "add":
        piped = sum(1 << k for k, operand in enumerate(node.inputs) if operand == tail)
        operands = ", ".join("nullptr" if piped >> k & 1 else arg for k, arg in enumerate(call.args[:-1]))
        line = (f"        v = segc::residual_add<{cfg}, {piped}, {node.shape.h}, {node.shape.w}>"
                f"(v, c, y, x, {operands});")
    elif node.op == "bn":
        line = f"        v = {ctx.ident[name]}(v, c);"
    elif node.op == "sigmoid":
        line = f"        v = segc::sigmoid_one<{cfg}>(v, {call.args[1]});"
    elif node.op in POINTWISE_STAGES:
        line = stage_line(node.op, cfg, call)
    else:
        line = f"        v = segc::relu_one<{cfg}>(v);"
    return [line, *([_store(ctx, name)] if stored else [])]


def _store(ctx: Context, name: str) -> str:
    shape = ctx.graph.node(name).shape
    return f"        segc::writer<{shape.h}, {shape.w}>{{{ctx.data(name)}}}(v, c, y, x);"


def fuse(ctx: Context, head: str, lowered: dict[str, Lowered], chain: list[str], skipped: set[str]) -> Lowered:
    """The head's kernel calls with the chain as epilogue; the chain's own
    calls are taken out of ``lowered``."""
    ident, graph = ctx.ident[head], ctx.graph
    popped = {name: lowered.pop(name) for name in chain if name in lowered}  # views compute nothing
    members = [(name, layer.calls[0]) for name, layer in popped.items()]
    struct = [f"/* Epilogue of {c_comment(head)}: {c_comment(', '.join(chain))} fused into its pipeline. */",
              f"struct {ident}_epilogue {{", "    segc::data_t* mem;"]
    bind = ["    void bind(const segc::data_t* params, segc::data_t* mem_) {", "        mem = mem_;"]
    body = ["    void operator()(segc::data_t v, int c, int y, int x) {"]
    body += [] if head in skipped else [_store(ctx, head)]
    after, written = [], [] if head in skipped else [head]
    for name, call in members:
        cfg = f"{ctx.ident[name]}_cfg"
        if graph.node(name).op == "bn":
            struct.append(f"    segc::bn_params<{cfg}> {ctx.ident[name]};")
            bind.append(f"        {ctx.ident[name]}.load({call.args[1]}, {call.args[2]});")
        if graph.node(name).op == "maxpool":
            bind.append(f"        segc::max_pool_init<{cfg}>({call.args[-1]});")
            after.append(f"    segc::max_pool_finish<{cfg}>({call.args[-1]});  /* {c_comment(name)} */")
        body += _stage(ctx, name, call, name not in skipped, [head, *chain][chain.index(name)])
        written += [] if name in skipped else [name]
    struct += [*bind, "    }", *body, "    }", "};"]
    base = lowered[head]
    main = base.calls[-1]
    fused = Call(main.kernel, main.config, (*main.args[:-1], f"{ident}_ep"), main.suffix)
    return Lowered([*base.calls[:-1], fused], [*base.tables, *(t for layer in popped.values() for t in layer.tables)],
                   {**base.info, "epilogue": chain}, members=members, epilogue="\n".join(struct),
                   before=[f"    static {ident}_epilogue {ident}_ep;", f"    {ident}_ep.bind(params, mem);"],
                   after=after, written=written,
                   member_info={name: layer.info for name, layer in popped.items() if layer.info})
