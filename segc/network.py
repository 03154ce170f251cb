"""The public API's network: a :class:`~segc.ir.Graph` with the compiler's
verbs, and optionally its weights.

>>> import segc
>>> net = segc.load("examples/tiny_seg.seg")            # doctest: +SKIP
>>> net.report(unroll=(8, 8, 1)).latency_s              # doctest: +SKIP

Every verb returns plain data or a new :class:`Network`; none changes the
network it is called on.  A ``Network`` is a ``Graph``, so every function
that takes a graph takes it.  torch is imported only by the verbs that need
it (``to_torch``, ``to_onnx``, ``to_hls``, and ``prune``/``search`` for
seeded weights).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from . import api, outputs
from .ir import Diagnostic, Graph, SegError, Target, summarize
from .ir.names import check_names
from .results import Front, Pruned, Report

__all__ = ["SEED_LIMIT", "Network", "check_seed"]

SEED_LIMIT = 2**32  # seeds are 0 ≤ seed < 2^32: numpy's legacy seeding (the search's NSGA-II) takes no more

Rates = float | Mapping[str, float] | str | None


class Network(Graph):
    """A network.  ``weights``: numpy arrays by ``state_dict`` name, or None
    (verbs that need weights then draw them from ``seed``); ``source``: the
    file it was loaded from (targets named by the verbs resolve there);
    ``warnings``: what loading it warned about."""

    weights: dict | None
    source: str | None
    warnings: list[Diagnostic]

    @classmethod
    def of(cls, graph: Graph, weights: Mapping | None = None, source: str | None = None,
           warnings: Sequence[Diagnostic] = ()) -> Network:
        """A Network holding ``graph``'s layers (shared, not copied); its
        names must be valid (SegError otherwise, see ``ir.names``)."""
        check_names(graph)
        net = cls.__new__(cls)
        net.__dict__.update(graph.__dict__)
        net.weights = dict(weights) if weights is not None else None
        net.source, net.warnings = source, list(warnings)
        return net

    def copy(self) -> Network:
        return Network.of(Graph.copy(self), self.weights, self.source, self.warnings)

    def _derive(self, graph: Graph, weights: Mapping | None = None) -> Network:
        return Network.of(graph, self.weights if weights is None else weights, self.source)

    # ------------------------------------------------------------ reading
    @property
    def layers(self) -> list[dict[str, Any]]:
        """One dict per layer: name, op, shape, MACs, parameters."""
        return [row.to_json() for row in summarize(self)]

    @property
    def macs(self) -> int:
        return _counts(self)["macs"]

    @property
    def params(self) -> int:
        return _counts(self)["params"]

    def check(self) -> list[Diagnostic]:
        """Every inconsistency of the graph (empty when it verifies); a
        loaded network has none, a hand-edited one may."""
        return self.problems()

    # ------------------------------------------------------------ passes
    def run(self, pipeline: str | Sequence) -> Network:
        """The network after a pass pipeline: a string such as
        ``"deform{bound=auto},tile{mode=paper},cost"`` or pass objects.  It
        keeps the weights unless a pass changed the layers' shapes (``prune``:
        use :meth:`prune`, which prunes the weights too)."""
        from .passes.base import run_pipeline
        from .passes.registry import parse_pipeline

        passes = parse_pipeline(pipeline) if isinstance(pipeline, str) else list(pipeline)
        result = self._derive(run_pipeline(self, passes)[0])
        if _layout(result) != _layout(self):  # e.g. the prune pass: the weights no longer fit
            result.weights = None
        return result

    def on(self, target: str | Target | None = None, unroll: str | Sequence[int] | None = None) -> Network:
        """The network on another target (a ``Target``, a name the source
        file knows, ``FILE.seg`` or ``FILE.seg:NAME``) and/or with other
        unroll factors (``(P_if, P_of, P_kx[, P_ky])`` or ``"16,32,4"``)."""
        from . import hardware

        net = self.copy()
        if isinstance(target, str):
            net.target = hardware.resolve_target(target, self.source or target)
        elif target is not None:
            net.target = target
        if net.target is None:
            raise SegError(Diagnostic(f"network '{self.name}' has no target: write 'network {self.name} on TARGET' "
                                      "or give a target"))
        if unroll is not None:
            text = unroll if isinstance(unroll, str) else ",".join(str(int(u)) for u in unroll)
            net.target = hardware.with_unroll(net.target, text)
        return net

    def report(self, target: str | Target | None = None, unroll: str | Sequence[int] | None = None,
               tiling: str = "paper", calibration: str | None = None) -> Report:
        """The latency report on the target (see :meth:`on`), with a tiling
        mode and a calibration file from ``segc calibrate``."""
        from . import hardware

        net = self.on(target, unroll)
        fitted = hardware.load_calibration(calibration) if calibration else None
        return Report(hardware.report(net, _tiling(tiling), fitted), net)

    # ------------------------------------------------------------ pruning
    def prune(self, rates: Rates = None, keep: Sequence[str] = (), snap: bool = False, siblings: bool = False,
              seed: int = 0) -> Pruned:
        """Structured channel pruning of the network and its weights.
        ``rates``: one rate for every channel group, ``{pattern: rate}``
        (the last matching pattern wins), a rates file, or None for the
        network's own ``prune`` section; ``keep``: layer patterns never
        pruned.  Weights: the network's, else drawn from ``seed``."""
        from .pruning import prune_network

        seed = check_seed(seed)
        arrays = self.weights if self.weights is not None else api.weight_arrays(self, None, seed)
        spec, text = _rates_spec(rates, keep)
        result = prune_network(self, spec, arrays, snap, siblings, text)
        channels = {g.name: g.channels for g in result.groups}
        kept = {name: result.kept.get(name, count) for name, count in channels.items()}
        pruned = self._derive(result.graph, result.weights)
        return Pruned(pruned, dict(result.rates), kept, channels, _counts(self), _counts(pruned))

    def search(self, pop: int = 25, gen: int = 25, seed: int = 0, objective: str = "latency",
               data: str | None = None, progress=None, **options: Any) -> Front:
        """The hardware-aware pruning search (NSGA-II, Mori et al. Sec. 3.3):
        accuracy (the L1 proxy, or mIoU/top-1 on ``data``) against the
        ``objective`` (``latency``, ``ops``, ``dsp-latency``).  Further
        options: those of :class:`segc.pruning_search.SearchOptions`."""
        from .pruning_search import SearchOptions, search

        if "calibration" in options and isinstance(options["calibration"], str):
            from .hardware import load_calibration

            options["calibration"] = load_calibration(options["calibration"])
        net = self.on()
        settings = SearchOptions(pop=pop, gen=gen, seed=check_seed(seed), objective=objective, data=data, **options)
        arrays = self.weights if self.weights is not None else api.weight_arrays(self, None, seed)
        return Front(search(net, arrays, settings, progress), net, settings.calibration)

    # ------------------------------------------------------------ artifacts
    def to_seg(self) -> str:
        return api.to_seg(self)

    def to_json(self) -> str:
        return api.to_json(self)

    def to_torch_source(self) -> str:
        return api.to_torch_source(self)

    def to_torch(self, weights=None, seed: int = 0):
        """A live ``nn.Module`` (eval mode) with ``weights`` (a state_dict or
        a file), else the network's own, else drawn from ``seed``."""
        return api.to_torch(self, self._weights(weights), check_seed(seed))

    def to_onnx(self, path: str | None = None, weights=None, seed: int = 0) -> bytes:
        """The checked ONNX model (written atomically to ``path`` if given)."""
        if path is not None:
            outputs.check_file(path, self._inputs())  # before the work
        data = api.to_onnx(self, self._weights(weights), check_seed(seed))
        if path is not None:
            api.write_atomic(path, data, self._inputs())
        return data

    def to_hls(self, folder: str, weights: str | None = None, seed: int = 0, input: str | None = None,
               tiling: str = "paper", force: bool = False) -> list[str]:
        """An HLS C++ project (see docs/hls.md) written as the folder
        ``folder``, whole (see :mod:`segc.outputs`; a folder holding files
        segc did not write needs ``force``); the paths written.
        ``weights``: a state_dict file, else drawn from ``seed``."""
        from .hls import HlsOptions, build_project, write_files

        inputs = (*self._inputs(), *(p for p in (weights, input) if p))
        outputs.check_folder(folder, inputs, force)
        options = HlsOptions(weights=weights, seed=check_seed(seed), input=input, tiling=_tiling(tiling))
        files, _ = build_project(self.on(), options)
        return write_files(files, folder, inputs, force)

    def picture(self, format: str = "svg", engine: str = "auto") -> bytes:
        """A drawing of the network (``svg``, ``png`` or ``dot``)."""
        if format in ("dot", "gv"):
            from .backends.report.dot import to_dot

            return to_dot(self).encode()
        from .backends.report.picture import render_picture

        data = render_picture(self, format, engine)
        return data.encode() if isinstance(data, str) else data

    def _repr_html_(self) -> str:
        from .backends.report.html import network_html

        return network_html(self.name, self.layers, self.picture("svg").decode())

    def __repr__(self) -> str:
        target = f" on {self.target.name}" if self.target else ""
        counts = _counts(self)
        return (f"<Network {self.name}{target}: {len(self)} layers, {counts['macs']:,} MACs, "
                f"{counts['params']:,} parameters>")

    def _weights(self, weights):
        return weights if weights is not None else self.weights

    def _inputs(self) -> tuple[str, ...]:
        return (self.source,) if self.source else ()


def check_seed(seed: int) -> int:
    """``seed`` if it is an integer with 0 ≤ seed < 2^32, else SegError."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < SEED_LIMIT:
        raise SegError(Diagnostic(f"a seed must be an integer from 0 to {SEED_LIMIT - 1}, got {seed!r}"))
    return int(seed)


def _tiling(mode: str) -> str:
    from .passes.modes import TILING_MODES

    if mode not in TILING_MODES:
        raise SegError(Diagnostic(f"tiling must be one of {', '.join(TILING_MODES)}, got '{mode}'"))
    return mode


def _rates_spec(rates: Rates, keep: Sequence[str]) -> tuple[str | None, str | None]:
    """(spec for ``prune_network``, rates-file text) for the API's rates."""
    if isinstance(rates, Mapping) or keep:
        if rates is not None and not isinstance(rates, Mapping):
            if not isinstance(rates, (int, float)):
                raise SegError(Diagnostic("with keep=..., give rates as a number or {pattern: rate}"))
            rates = {"*": float(rates)}
        lines = [f"{pattern}: {float(rate)!r}" for pattern, rate in (rates or {}).items()]
        lines += [f"keep {pattern}" for pattern in keep]
        return None, "\n".join(lines) + "\n"
    if isinstance(rates, (int, float)) and not isinstance(rates, bool):
        return repr(float(rates)), None
    if rates is not None and not isinstance(rates, str):
        raise SegError(Diagnostic(f"rates must be a number, {{pattern: rate}}, a rates file or None, "
                                  f"got {type(rates).__name__}"))
    return rates, None


def _layout(graph: Graph) -> list[tuple]:
    """What the weights depend on: every layer's name, op and shapes."""
    return [(n.name, n.op, n.shape, tuple(graph.input_shapes(n))) for n in graph.nodes()]


def _counts(graph: Graph) -> dict[str, int]:
    rows = summarize(graph)
    return {"macs": sum(r.macs for r in rows), "params": sum(r.params for r in rows)}
