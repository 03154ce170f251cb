"""The hardware target: an FPGA accelerator of the kind Mori et al. describe
(Sec. 3.1): a PE array unrolled P_if × P_of × P_kx (× P_ky, 1 in the paper),
an input buffer of Buf_in words, DRAM at a given bandwidth, a clock.

Values are stored in base units: hertz, bytes per second, bits.  The PE
array needs ``ceil(P_if·P_of·P_kx·P_ky / macs_per_dsp)`` DSP blocks (½·P_if·
P_of·P_kx on Arria 10 with 16-bit words, Mori et al. Sec. 3.1).

:data:`TARGET_FIELDS` is the schema shared by the ``.seg`` front end and the
JSON reader; :func:`target_problems` lists what makes a target impossible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .names import name_problem

__all__ = ["TARGET_FIELDS", "FieldSpec", "Target", "Unroll", "target_problems"]


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
class Target:
    name: str
    clock_hz: float
    bandwidth: float  # bytes per second
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
    device: str = ""

    @property
    def word_bytes(self) -> float:
        return self.word_bits / 8

    @property
    def input_buffer_words(self) -> int:
        """Buf_in of Eq. 1, in words."""
        return self.input_buffer_bits // self.word_bits

    @property
    def pe_dsps(self) -> int:
        """DSP blocks of the PE array."""
        return math.ceil(self.unroll.macs_per_cycle / self.macs_per_dsp)

    @property
    def bram_bits(self) -> int:
        return self.bram * self.bram_block_bits

    @property
    def buffer_bits(self) -> int:
        sizes = (self.input_buffer_bits, self.weight_buffer_bits, self.output_buffer_bits)
        return sum(s for s in sizes if s)


@dataclass(frozen=True)
class FieldSpec:
    """One field of a ``target`` definition.

    kind: ``frequency`` (Hz), ``rate`` (bytes/s), ``size`` (bits), ``count``
    (a plain integer), ``string`` or ``unroll``.
    """

    name: str
    kind: str
    attr: str
    required: bool
    minimum: float = 0
    maximum: float = math.inf
    doc: str = ""


TARGET_FIELDS: dict[str, FieldSpec] = {
    f.name: f
    for f in (
        FieldSpec("device", "string", "device", False, doc="the device, for people"),
        FieldSpec("clock", "frequency", "clock_hz", True, 1e3, 1e10, "accelerator clock"),
        FieldSpec("bandwidth", "rate", "bandwidth", True, 1e3, 1e13, "DRAM bandwidth"),
        FieldSpec("dsp", "count", "dsp", True, 0, 10**7, "DSP blocks"),
        FieldSpec("bram", "count", "bram", True, 0, 10**7, "on-chip RAM blocks"),
        FieldSpec("bram_block", "size", "bram_block_bits", True, 1, 2**30, "bits per RAM block"),
        FieldSpec("input_buffer", "size", "input_buffer_bits", True, 1, 2**40, "input feature buffer"),
        FieldSpec("weight_buffer", "size", "weight_buffer_bits", False, 1, 2**40, "weight buffer"),
        FieldSpec("output_buffer", "size", "output_buffer_bits", False, 1, 2**40, "output buffer"),
        FieldSpec("line_buffer", "count", "line_buffer_rows", False, 1, 10**5, "line buffer rows"),
        FieldSpec("word", "size", "word_bits", True, 1, 64, "bits per activation/weight word"),
        FieldSpec(
            "macs_per_dsp", "count", "macs_per_dsp", True, 1, 64,
            "MACs one DSP block does per cycle: 2 on Arria 10 / Stratix 10 (two 18x18 multipliers), "
            "1 on a Xilinx DSP48 (2 when two 8-bit MACs are packed in one)",
        ),
        FieldSpec("unroll", "unroll", "unroll", True, 1, 4096, "PE array unroll factors"),
    )
}

UNROLL_KEYS = ("pif", "pof", "pkx", "pky")


def target_problems(target: Target) -> list[tuple[str, str]]:
    """(field, message) for each way the target cannot be built."""
    problems = []
    if (problem := name_problem(target.name, "target")) is not None:
        problems.append(("name", problem))
    if target.pe_dsps > target.dsp:
        u = target.unroll
        problems.append((
            "unroll",
            f"the PE array ({u.pif}×{u.pof}×{u.pkx}×{u.pky} MACs at {target.macs_per_dsp} per DSP) "
            f"needs {target.pe_dsps} DSP blocks, but the target has {target.dsp}",
        ))
    if target.buffer_bits > target.bram_bits:
        problems.append((
            "input_buffer",
            f"the buffers need {target.buffer_bits // 8} bytes, but {target.bram} RAM blocks of "
            f"{target.bram_block_bits} bits hold {target.bram_bits // 8} bytes",
        ))
    if target.input_buffer_bits < target.word_bits:
        problems.append(("input_buffer", "the input buffer must hold at least one word"))
    return problems
