"""Number formats of layers: the ``quantize`` section of a ``.seg`` file.

A layer's format is its :class:`LayerQuant`, held on the node
(``Node.quant``); every pass and backend reads it there through
:func:`layer_quant` and :func:`widths`, and nothing else derives widths.
A node without one (``quant is None``) is not quantized by the network:
torch and ONNX run it in float, and the cost model and the HLS backend use
the target's ``word`` in fixed point (the behaviour before quantization
existed).

Schemes, for a signed ``b``-bit integer ``q`` (−2^(b−1) ≤ q ≤ 2^(b−1) − 1):

* ``fixed``: value = q · 2^−f with ``f`` fraction bits per tensor — one
  for the layer's weights, one for its output — given (``w_frac``,
  ``a_frac``) or calibrated on data (the HLS backend's 16-bit format,
  generalised to b bits).
* ``int``: value = s · q; weights with one scale per output channel,
  s_c = max|W_c| / (2^(b−1) − 1); the output with one scale per tensor from a
  calibrated range r, s = r / (2^(b−1) − 1) (symmetric, zero point 0).
* ``float``: the layer is left unquantized (``quant is None``).

The weight width ``w`` applies to layers with weights (:data:`WEIGHTED_OPS`);
the activation width ``a`` to a layer's output.  Rules match layer names
with globs (``ir.directives.matches``); for each option the last matching
rule that sets it wins; unset widths default to the target's ``word``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .directives import OptionRule, matches

if TYPE_CHECKING:
    from .graph import Graph, Node

__all__ = ["FRAC_MAX", "FRAC_MIN", "MAX_BITS", "MIN_BITS", "OPTIONS", "SCHEMES", "WEIGHTED_OPS", "LayerQuant",
           "QuantRule", "apply_quantize", "int_range", "layer_quant", "option_problem", "quantize_rules",
           "resolve", "unmatched_rules", "widths"]

SCHEMES = ("fixed", "int", "float")
MIN_BITS, MAX_BITS = 2, 16
FRAC_MIN, FRAC_MAX = -16, 24
WEIGHTED_OPS = frozenset({"conv", "dconv", "deconv", "linear"})
OPTIONS = ("w", "a", "scheme", "w_frac", "a_frac")
DEFAULT_WORD = 16


def int_range(bits: int) -> tuple[int, int]:
    """The signed ``bits``-bit integers: (−2^(b−1), 2^(b−1) − 1)."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@dataclass(frozen=True)
class LayerQuant:
    """A layer's format: ``scheme`` ("fixed" or "int"), its output's width
    ``a_bits``, its weights' width ``w_bits`` (None: no weights), and for
    "fixed" the fraction bits when given (None: calibrated)."""

    scheme: str
    a_bits: int
    w_bits: int | None = None
    a_frac: int | None = None
    w_frac: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"scheme": self.scheme, "a_bits": self.a_bits, "w_bits": self.w_bits}
        if self.a_frac is not None:
            data["a_frac"] = self.a_frac
        if self.w_frac is not None:
            data["w_frac"] = self.w_frac
        return data

    def options(self) -> tuple[tuple[str, object], ...]:
        """The rule options that give this format."""
        pairs: list[tuple[str, object]] = []
        if self.w_bits is not None:
            pairs.append(("w", self.w_bits))
        pairs += [("a", self.a_bits), ("scheme", self.scheme)]
        pairs += [(k, v) for k, v in (("w_frac", self.w_frac), ("a_frac", self.a_frac)) if v is not None]
        return tuple(pairs)


@dataclass(frozen=True)
class QuantRule(OptionRule):
    """Set the format of matching layers: ``options`` for ``w``, ``a``,
    ``scheme``, ``w_frac`` and ``a_frac``."""


def option_problem(name: str, value: object) -> str | None:
    """Why ``name = value`` is not a valid quantize option, or None."""
    if name not in OPTIONS:
        return f"unknown quantize option '{name}' (options: {', '.join(OPTIONS)})"
    if name == "scheme":
        return None if value in SCHEMES else f"scheme must be one of {', '.join(SCHEMES)}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{name} must be an integer, got {value!r}"
    if name in ("w", "a") and not MIN_BITS <= value <= MAX_BITS:
        return f"{name} = {value} bits is outside [{MIN_BITS}, {MAX_BITS}]"
    if name.endswith("_frac") and not FRAC_MIN <= value <= FRAC_MAX:
        return f"{name} = {value} fraction bits is outside [{FRAC_MIN}, {FRAC_MAX}]"
    return None


def _merged(rules: tuple[QuantRule, ...] | list[QuantRule], name: str) -> dict[str, object] | None:
    merged: dict[str, object] | None = None
    for rule in rules:
        if matches(rule.pattern, name):
            merged = {**(merged or {}), **dict(rule.options)}
    return merged


def resolve(rules: tuple[QuantRule, ...] | list[QuantRule], name: str, op: str, word: int) -> LayerQuant | None:
    """The format the rules give layer ``name`` (op ``op``) on a target of
    ``word`` bits; None where no rule matches or the scheme is "float".
    Raises ValueError for fraction bits given to an "int" layer."""
    merged = _merged(rules, name)
    if merged is None or merged.get("scheme") == "float":
        return None
    scheme = str(merged.get("scheme", "fixed"))
    if scheme == "int" and ("a_frac" in merged or "w_frac" in merged):
        raise ValueError(f"layer '{name}': fraction bits (a_frac, w_frac) apply to scheme \"fixed\", not \"int\"")
    weighted = op in WEIGHTED_OPS
    return LayerQuant(
        scheme, int(merged.get("a", word)),  # type: ignore[call-overload]
        int(merged.get("w", word)) if weighted else None,  # type: ignore[call-overload]
        merged.get("a_frac"),  # type: ignore[arg-type]
        merged.get("w_frac") if weighted else None,  # type: ignore[arg-type]
    )


def _word(graph: Graph) -> int:
    return graph.target.word_bits if graph.target is not None else DEFAULT_WORD


def unmatched_rules(graph: Graph, rules: tuple[QuantRule, ...] | list[QuantRule]) -> list[QuantRule]:
    """The rules whose pattern matches no layer of ``graph``."""
    names = [n.name for n in graph.nodes()]
    return [rule for rule in rules if not any(matches(rule.pattern, n) for n in names)]


def apply_quantize(graph: Graph, rules: tuple[QuantRule, ...] | list[QuantRule]) -> Graph:
    """Set every layer's ``quant`` from ``rules`` (in place; layers no rule
    matches become unquantized) and return the graph."""
    word = _word(graph)
    for node in graph.nodes():
        quant = resolve(rules, node.name, node.op, word)
        if quant != node.quant:
            graph.replace(node.with_(quant=quant))
    return graph


def _exception(name: str, quant: LayerQuant | None) -> QuantRule:
    return QuantRule(name, quant.options() if quant is not None else (("scheme", "float"),))


def quantize_rules(graph: Graph) -> list[QuantRule]:
    """Few rules that give back every layer's format: a ``*`` rule with one
    layer's format, then a rule by exact name for each layer it does not
    give (``scheme=float`` for an unquantized one); none if no layer is
    quantized."""
    formats = {node.name: (node.op, node.quant) for node in graph.nodes()}
    word, best = _word(graph), None
    for candidate in dict.fromkeys(q for _, q in formats.values() if q is not None):
        star = QuantRule("*", candidate.options())
        rules = [star] + [_exception(name, quant) for name, (op, quant) in formats.items()
                          if resolve([star], name, op, word) != quant]
        if best is None or len(rules) < len(best):
            best = rules
    return best or []


def layer_quant(graph: Graph, node: Node) -> LayerQuant:
    """The format a layer computes in on the hardware: its own, or the
    target's word in fixed point (unquantized layers)."""
    if node.quant is not None:
        return node.quant
    return _fixed(_word(graph), node.op in WEIGHTED_OPS)


@functools.lru_cache(maxsize=64)
def _fixed(word: int, weighted: bool) -> LayerQuant:
    """The target's word in fixed point (one object per word and kind: formats are immutable)."""
    return LayerQuant("fixed", word, word if weighted else None)


def widths(graph: Graph, node: Node) -> tuple[int | None, int]:
    """(weight bits or None, activation bits) of a layer on the hardware."""
    quant = layer_quant(graph, node)
    return quant.w_bits, quant.a_bits
