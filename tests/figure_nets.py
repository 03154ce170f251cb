"""A two-layer network on a small made-up target whose hardware-model
figures are easy to work out by hand (tests/test_tiling_figure.py,
tests/test_speedup.py).

Target: 100 MHz, 100 MB/s, 16-bit words, input buffer 200 B = 100 words,
unroll P_if = P_of = 2, P_kx = P_ky = 1.  Network: a 4×8×8 image, conv
``a`` (4 → 16 channels, 3×3, stride 1), conv ``y`` (16 → 2, 1×1), the
output."""

from __future__ import annotations

from pathlib import Path

from segc.cli import main

TWO_LAYERS = """\
target small {
    clock        = 100 MHz
    bandwidth    = 100 MB/s
    dsp          = 8
    bram         = 4
    bram_block   = 20 Kibit
    input_buffer = 200 B
    word         = 16 bit
    macs_per_dsp = 1
    unroll       = {pif: 2, pof: 2, pkx: 1}
}

network two on small {
    input image: [4, 8, 8]
    a = image -> conv(16, k=3)
    output y = a -> conv(2, k=1)
}
"""

NO_TARGET = """\
network bare {
    input image: [4, 8, 8]
    output y = image -> conv(16, k=3)
}
"""

BUFFER_WORDS = 100
CLOCK_HZ, BANDWIDTH, WORD_BYTES = 100e6, 100e6, 2
PIF = POF = 2


def ceil(a: int, b: int) -> int:
    return -(-a // b)


def conv_dram(ci: int, co: int, k: int, size: int, tile: tuple[int, int]) -> int:
    """Eq. 3 and 4 (stride 1, one group): input + weight + output words."""
    tix, tiy = tile[0] - 1 + k, tile[1] - 1 + k
    dram_in = ceil(size, tile[0]) * ceil(size, tile[1]) * ceil(co, POF) * tix * tiy * ci
    return dram_in + k * k * ci * co + size * size * co


def conv_latency(ci: int, co: int, k: int, size: int, tile: tuple[int, int]) -> float:
    """Eq. 5, uncalibrated: the larger of compute (Eq. 2) and memory time."""
    cycles = ceil(ci, PIF) * k * ceil(co, POF) * k * size * size  # P_kx = P_ky = 1
    return max(cycles / CLOCK_HZ, conv_dram(ci, co, k, size, tile) * WORD_BYTES / BANDWIDTH)


def write_nets(folder: Path) -> Path:
    """two.seg (TWO_LAYERS) and bare.seg (NO_TARGET) in ``folder``."""
    (folder / "two.seg").write_text(TWO_LAYERS, encoding="utf-8")
    (folder / "bare.seg").write_text(NO_TARGET, encoding="utf-8")
    return folder


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit status, standard output, standard error) of ``segc ARGV``."""
    status = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err
