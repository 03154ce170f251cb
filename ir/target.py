"""The hardware target: an FPGA accelerator of the kind Mori et al. describe
(Sec. 3.1) — a PE array unrolled P_if × P_of × P_kx (× P_ky, 1 in the
paper), an input buffer of Buf_in words, DRAM, a clock — and what the
measured machines have beside it:

* the memory system: the peak ``bandwidth``; the ``effective_bandwidth``
  streams reach (default: the peak); a feature-map ``port`` of so many bits
  per cycle, which caps the rate at port/8 · clock; the ``access_latency``
  of a scattered (data-dependent) access and the ``bursts_in_flight`` the
  memory system overlaps (CoDeNet's unbounded gathers: about 0.45 µs per
  gathered pixel, a latency, not a bandwidth, figure);
* ``conv_input``: convolutions read their input tiled by Eq. 1 and 3
  (Mori et al.), or ``"streamed"`` once through the line buffer, as
  CoDeNet's engine does (a plain 3×3 is a deformable window of offset 1);
* the ``line_buffer_ports``: reads per cycle each row memory of the line
  buffer serves at scattered positions (its rows are separate memories,
  read in parallel) — the taps of a full-shape bounded deformable window
  each address their own row and column, where a plain or square window
  reads whole rows (CoDeNet's "multi-ported" square shape);
* the ``layer_overhead`` of each layer invocation (start-up, drain,
  descriptor set-up; fused layers share their convolution's) and the
  ``overlap`` φ of compute and memory time (1 is Eq. 5: a layer takes
  max(c, m); 0 runs them one after the other);
* optional engines beside the PE array: a ``depthwise`` engine of ``lanes``
  channels × ``taps`` kernel taps per cycle (CoDeNet: 16 × 9) and an
  ``elementwise`` unit doing ``width`` taps per cycle for upsampling,
  pooling, unfused adds and activations, each with its DSP blocks;
* the DSP blocks and RAM blocks of the fixed units (batch norm, pooling,
  addressing), which count in the fit check like the PE array's
  ⌈P_if·P_of·P_kx·P_ky / macs_per_dsp⌉ (½·P_if·P_of·P_kx on Arria 10 with
  16-bit words, Mori et al. Sec. 3.1).

Values are stored in base units: hertz, bytes per second, bits, seconds.
Every optional field has a default that gives the model of Eq. 1–5 exactly
(no overhead, peak bandwidth, φ = 1, no engines).

:data:`TARGET_FIELDS` is the schema shared by the ``.seg`` front end, the
JSON reader and the printer; :func:`target_problems` lists what makes a
target impossible, with the arithmetic.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from .names import name_problem

__all__ = ["TARGET_FIELDS", "DepthwiseEngine", "DspPacking", "ElementwiseUnit", "FieldSpec", "Target", "Unroll",
           "packing_from_dict", "packing_to_dict", "target_problems"]


@dataclass(frozen=True)
class Unroll:
    """Unroll factors of the PE array (input channels, output channels,
    kernel columns, kernel rows)."""

    pif: int
    pof: int
    pkx: int
    pky: int = 1

    @property
    def macs_per_cycle(self) -> int:
        return self.pif * self.pof * self.pkx * self.pky


@dataclass(frozen=True)
class DepthwiseEngine:
    """A depthwise-convolution engine: ``lanes`` channels at once, ``taps``
    kernel taps of each per cycle (CoDeNet's released design: 16 × 9)."""

    lanes: int
    taps: int
    dsp: int | None = None  # default ⌈lanes·taps / macs_per_dsp⌉

    def dsps(self, macs_per_dsp: int) -> int:
        return self.dsp if self.dsp is not None else math.ceil(self.lanes * self.taps / macs_per_dsp)


@dataclass(frozen=True)
class ElementwiseUnit:
    """A unit for upsampling, pooling, unfused adds, batch norm and
    activations: ``width`` input taps per cycle (may be fractional: 0.5 is
    one tap every two cycles)."""

    width: float
    dsp: int | None = None  # default ⌈width / macs_per_dsp⌉: a multiplier per tap for bilinear weights

    def dsps(self, macs_per_dsp: int) -> int:
        return self.dsp if self.dsp is not None else math.ceil(self.width / macs_per_dsp)


@dataclass(frozen=True)
class DspPacking:
    """MACs one DSP block does per cycle at each operand width:
    ``entries`` (bits, MACs), widest first — ``{w16: 1, w8: 2, w4: 4}`` on a
    DSP48E2.  A width b uses the narrowest entry of at least b bits."""

    entries: tuple[tuple[int, int], ...]

    def macs_at(self, bits: int) -> int | None:
        """MACs per DSP at ``bits``, or None when every entry is narrower."""
        fitting = [macs for width, macs in self.entries if width >= bits]
        return fitting[-1] if fitting else None

    @property
    def widest(self) -> int:
        return self.entries[0][0]


@dataclass(frozen=True)
class Target:
    name: str
    clock_hz: float
    bandwidth: float  # peak, bytes per second
    dsp: int
    bram: int
    bram_block_bits: int
    input_buffer_bits: int
    word_bits: int
    unroll: Unroll
    macs_per_dsp: int
    weight_buffer_bits: int | None = None
    output_buffer_bits: int | None = None
    line_buffer_rows: int | None = None
    line_buffer_ports: int | None = None
    conv_input: str = "tiled"
    device: str = ""
    part: str = ""
    effective_bandwidth: float | None = None  # bytes per second; default: the peak
    port_bits: int | None = None
    access_latency_s: float = 0.0
    bursts_in_flight: int = 1
    layer_overhead_s: float = 0.0
    overlap: float = 1.0
    depthwise: DepthwiseEngine | None = None
    elementwise: ElementwiseUnit | None = None
    fixed_dsp: int = 0
    fixed_bram: int = 0
    dsp_packing: DspPacking | None = None
    lut: int | None = None

    @property
    def word_bytes(self) -> float:
        return self.word_bits / 8

    @property
    def input_buffer_words(self) -> int:
        """Buf_in of Eq. 1, in words."""
        return self.input_buffer_bits // self.word_bits

    @property
    def stream_bandwidth(self) -> float:
        """Bytes per second that regular transfers reach: the effective
        bandwidth (the peak when not given), at most port/8 · clock."""
        rate = self.effective_bandwidth if self.effective_bandwidth is not None else self.bandwidth
        return min(rate, self.port_bits / 8 * self.clock_hz) if self.port_bits else rate

    @property
    def pe_dsps(self) -> int:
        """DSP blocks of the PE array (at the word)."""
        return math.ceil(self.unroll.macs_per_cycle / self.macs_per_dsp)

    @property
    def widest_bits(self) -> int:
        """The widest operands the PE array implements: the widest packing
        entry, or the word when the target gives no packing."""
        return self.dsp_packing.widest if self.dsp_packing is not None else self.word_bits

    def macs_per_dsp_at(self, bits: int) -> int | None:
        """MACs one DSP does per cycle on ``bits``-bit operands (the packing
        entry, else ``macs_per_dsp`` up to the word); None: not implemented."""
        if self.dsp_packing is not None:
            return self.dsp_packing.macs_at(bits)
        return self.macs_per_dsp if bits <= self.word_bits else None

    def pe_dsps_at(self, bits: int) -> int:
        """DSP blocks of the PE array on ``bits``-bit operands."""
        macs = self.macs_per_dsp_at(bits)
        if macs is None:
            raise ValueError(f"the target implements operands of at most {self.widest_bits} bits, not {bits}")
        return math.ceil(self.unroll.macs_per_cycle / macs)

    @property
    def unit_dsps(self) -> dict[str, int]:
        """DSP blocks of everything beside the PE array, by unit."""
        units = {"depthwise engine": self.depthwise, "elementwise unit": self.elementwise}
        dsps = {name: unit.dsps(self.macs_per_dsp) for name, unit in units.items() if unit is not None}
        return {**dsps, "fixed units": self.fixed_dsp} if self.fixed_dsp else dsps

    @property
    def dsps_used(self) -> int:
        return self.pe_dsps + sum(self.unit_dsps.values())

    @property
    def bram_bits(self) -> int:
        return self.bram * self.bram_block_bits

    @property
    def buffer_bits(self) -> int:
        sizes = (self.input_buffer_bits, self.weight_buffer_bits, self.output_buffer_bits)
        return sum(s for s in sizes if s) + self.fixed_bram * self.bram_block_bits


@dataclass(frozen=True)
class FieldSpec:
    """One field of a ``target`` definition.

    kind: ``frequency`` (Hz), ``rate`` (bytes/s), ``size`` (bits), ``time``
    (s), ``count`` (a plain integer), ``number`` (a plain number),
    ``string``, ``unroll`` or ``record`` (a dict of ``members``, built into
    ``record``).
    """

    name: str
    kind: str
    attr: str
    required: bool
    minimum: float = 0
    maximum: float = math.inf
    doc: str = ""
    members: tuple[FieldSpec, ...] = ()
    record: type | None = None


def _engine(name: str, record: type, doc: str, *members: FieldSpec) -> FieldSpec:
    dsp = FieldSpec("dsp", "count", "dsp", False, 0, 10**7, "DSP blocks the unit uses")
    return FieldSpec(name, "record", name, False, doc=doc, members=(*members, dsp), record=record)


TARGET_FIELDS: dict[str, FieldSpec] = {
    f.name: f
    for f in (
        FieldSpec("device", "string", "device", False, doc="the device, for people"),
        FieldSpec("part", "string", "part", False, doc="the FPGA part number (e.g. xczu3eg-sbva484-1-i)"),
        FieldSpec("clock", "frequency", "clock_hz", True, 1e3, 1e10, "accelerator clock"),
        FieldSpec("bandwidth", "rate", "bandwidth", True, 1e3, 1e13, "peak DRAM bandwidth"),
        FieldSpec("effective_bandwidth", "rate", "effective_bandwidth", False, 1e3, 1e13,
                  "the bandwidth streams reach (default: the peak)"),
        FieldSpec("port", "size", "port_bits", False, 8, 8192, "width of the feature-map port; caps the rate at "
                                                               "port/8 · clock"),
        FieldSpec("access_latency", "time", "access_latency_s", False, 0, 1e-3,
                  "latency of one scattered DRAM access (default 0: gathers cost bandwidth only)"),
        FieldSpec("bursts_in_flight", "count", "bursts_in_flight", False, 1, 4096,
                  "scattered accesses the memory system overlaps (default 1)"),
        FieldSpec("layer_overhead", "time", "layer_overhead_s", False, 0, 1.0,
                  "fixed time per layer invocation (default 0; fused layers share one)"),
        FieldSpec("overlap", "number", "overlap", False, 0, 1,
                  "overlap φ of compute and memory: max(c, m) + (1 − φ)·min(c, m) (default 1, Eq. 5)"),
        FieldSpec("dsp", "count", "dsp", True, 0, 10**7, "DSP blocks"),
        FieldSpec("bram", "count", "bram", True, 0, 10**7, "on-chip RAM blocks"),
        FieldSpec("bram_block", "size", "bram_block_bits", True, 1, 2**30, "bits per RAM block"),
        FieldSpec("fixed_dsp", "count", "fixed_dsp", False, 0, 10**7,
                  "DSP blocks of the fixed units: batch norm, pooling, addressing (default 0)"),
        FieldSpec("fixed_bram", "count", "fixed_bram", False, 0, 10**7, "RAM blocks of the fixed units (default 0)"),
        FieldSpec("input_buffer", "size", "input_buffer_bits", True, 1, 2**40, "input feature buffer"),
        FieldSpec("weight_buffer", "size", "weight_buffer_bits", False, 1, 2**40, "weight buffer"),
        FieldSpec("output_buffer", "size", "output_buffer_bits", False, 1, 2**40, "output buffer"),
        FieldSpec("line_buffer", "count", "line_buffer_rows", False, 1, 10**5, "line buffer rows"),
        FieldSpec("conv_input", "string", "conv_input", False,
                  doc='how convolutions read their input: "tiled" by Eq. 1 and 3 (default), or "streamed" once '
                      "through the line buffer (CoDeNet: a plain 3x3 is a deformable window with offset 1)"),
        FieldSpec("line_buffer_ports", "count", "line_buffer_ports", False, 1, 1024,
                  "reads per cycle of each line-buffer row memory at scattered positions (default: a whole window per "
                  "cycle)"),
        FieldSpec("word", "size", "word_bits", True, 1, 64, "bits per activation/weight word"),
        FieldSpec(
            "macs_per_dsp", "count", "macs_per_dsp", True, 1, 64,
            "MACs one DSP block does per cycle: 2 on Arria 10 / Stratix 10 (two 18x18 multipliers), "
            "1 on a Xilinx DSP48 (2 when two 8-bit MACs are packed in one)",
        ),
        FieldSpec("unroll", "unroll", "unroll", True, 1, 4096, "PE array unroll factors"),
        FieldSpec("dsp_packing", "packing", "dsp_packing", False, 1, 64,
                  "MACs one DSP block does per cycle at each operand width: {w16: 1, w8: 2, w4: 4} "
                  "(default: macs_per_dsp up to the word)"),
        FieldSpec("lut", "count", "lut", False, 0, 10**8, "LUTs of the device, for the resource check"),
        _engine("depthwise", DepthwiseEngine, "a depthwise engine: {lanes: 16, taps: 9}",
                FieldSpec("lanes", "count", "lanes", True, 1, 4096, "channels per cycle"),
                FieldSpec("taps", "count", "taps", True, 1, 1024, "kernel taps per channel per cycle")),
        _engine("elementwise", ElementwiseUnit, "an elementwise/upsampling unit: {width: 16}",
                FieldSpec("width", "number", "width", True, 1 / 64, 4096, "input taps per cycle")),
    )
}

UNROLL_KEYS = ("pif", "pof", "pkx", "pky")
CONV_INPUTS = ("tiled", "streamed")


def target_problems(target: Target) -> list[tuple[str, str]]:
    """(field, message) for each way the target cannot be built."""
    problems = []
    if (problem := name_problem(target.name, "target")) is not None:
        problems.append(("name", problem))
    if target.dsps_used > target.dsp:
        problems.append(("unroll", _dsp_message(target)))
    if target.buffer_bits > target.bram_bits:
        fixed = f" and the fixed units {target.fixed_bram} blocks" if target.fixed_bram else ""
        problems.append((
            "input_buffer",
            f"the buffers{fixed} need {target.buffer_bits // 8} bytes, but {target.bram} RAM blocks of "
            f"{target.bram_block_bits} bits hold {target.bram_bits // 8} bytes",
        ))
    if target.input_buffer_bits < target.word_bits:
        problems.append(("input_buffer", "the input buffer must hold at least one word"))
    if target.conv_input not in CONV_INPUTS:
        problems.append(("conv_input", f"'conv_input' must be one of {', '.join(CONV_INPUTS)}, "
                                       f"got '{target.conv_input}'"))
    elif target.conv_input == "streamed" and target.line_buffer_rows is None:
        problems.append(("conv_input", "'conv_input = \"streamed\"' needs a line buffer: give 'line_buffer' rows"))
    problems += _packing_problems(target)
    if target.effective_bandwidth is not None and target.effective_bandwidth > target.bandwidth:
        problems.append(("effective_bandwidth", f"the effective bandwidth ({target.effective_bandwidth:.4g} B/s) "
                                                f"exceeds the peak ({target.bandwidth:.4g} B/s)"))
    return problems


def _dsp_message(target: Target) -> str:
    u = target.unroll
    pe = (f"the PE array ({u.pif}×{u.pof}×{u.pkx}×{u.pky} MACs at {target.macs_per_dsp} per DSP) "
          f"needs {target.pe_dsps} DSP blocks")
    if not target.unit_dsps:
        return f"{pe}, but the target has {target.dsp}"
    units = " + ".join(f"{n} {v}" for n, v in target.unit_dsps.items())
    return f"{pe}; with the {units} that is {target.dsps_used}, but the target has {target.dsp}"


def packing_from_dict(value: object, name: str = "dsp_packing") -> DspPacking:
    """``{w16: 1, w8: 2}`` (keys ``w<bits>``, 1 … 64 bits; MACs 1 … 64) as a
    :class:`DspPacking`, or ValueError saying what is wrong."""
    if not isinstance(value, dict) or not value:
        raise ValueError(f"'{name}' must be a dict such as {{w16: 1, w8: 2, w4: 4}}, got {value!r}")
    entries = {}
    for key, macs in value.items():
        digits = key[1:] if isinstance(key, str) and key.startswith("w") else ""
        if not digits.isdigit() or not 1 <= int(digits) <= 64:
            raise ValueError(f"'{name}' keys are widths w1 … w64 (w8: 8-bit operands), got '{key}'")
        if isinstance(macs, bool) or not isinstance(macs, int) or not 1 <= macs <= 64:
            raise ValueError(f"'{name}.{key}' must be an integer between 1 and 64 MACs per DSP, got {macs!r}")
        entries[int(digits)] = macs
    ordered = sorted(entries.items(), reverse=True)
    for (wide, fewer), (narrow, more) in itertools.pairwise(ordered):
        if more < fewer:
            raise ValueError(f"'{name}': w{narrow} packs {more} MACs per DSP, fewer than w{wide}'s {fewer}")
    return DspPacking(tuple(ordered))


def packing_to_dict(packing: DspPacking) -> dict[str, int]:
    return {f"w{bits}": macs for bits, macs in packing.entries}


def _packing_problems(target: Target) -> list[tuple[str, str]]:
    """The packing must implement the word with ``macs_per_dsp`` MACs per
    DSP, so that unquantized layers cost as without it."""
    if target.dsp_packing is None:
        return []
    at_word = target.dsp_packing.macs_at(target.word_bits)
    if at_word is None:
        return [("dsp_packing", f"'dsp_packing' implements at most {target.dsp_packing.widest} bits, "
                                f"narrower than the {target.word_bits}-bit word")]
    if at_word != target.macs_per_dsp:
        return [("dsp_packing", f"'dsp_packing' gives {at_word} MACs per DSP at the {target.word_bits}-bit word, "
                                f"but 'macs_per_dsp' is {target.macs_per_dsp}")]
    return []
