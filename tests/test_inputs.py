"""Hostile and careless input files: every file segc reads is opened only if
it is a regular file within a size limit, errors never show the content of
a file that is not the kind expected, and tensor sizes are bounded before
any cost or buffer computation allocates in proportion to them."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

import segc
from segc.cli import main
from segc.passes.hwmodel import ConvGeometry, best_tile

MARKER = "s3cr3t-c0ntent"
SECONDS = 30  # a separate segc process (about 1 s to start) that must neither hang nor grow
MEMORY = 2 << 30  # its address space


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, err


def _isolated(argv: list[str], folder: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``segc ARGV`` in a separate process with a time and memory limit."""
    resource = pytest.importorskip("resource")

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    return subprocess.run([sys.executable, "-m", "segc.cli", *argv], capture_output=True, text=True, cwd=folder,
                          timeout=SECONDS, preexec_fn=limit_memory, env={**os.environ, **(env or {})}, check=False)


def _csv(path: Path, network: str) -> None:
    path.write_text(f"network,pif,pof,pkx,latency_s\n{network},8,8,3,0.001\n", encoding="utf-8")


# ---------------------------------------------------------------- special files
def _zero_routes(work: Path) -> dict[str, list[str]]:
    (work / "imports.seg").write_text('import "/dev/zero"\n', encoding="utf-8")
    _csv(work / "runs.csv", "/dev/zero")
    return {
        "import": ["check", "imports.seg"],
        "calibration": ["report", "tiny.seg", "--calibration", "/dev/zero"],
        "rates": ["prune", "tiny.seg", "--rates", "/dev/zero", "-o", "out.seg"],
        "csv": ["calibrate", "/dev/zero"],
        "csv-network": ["calibrate", "runs.csv"],
        "weights": ["export", "tiny.seg", "--to", "torch", "--weights", "/dev/zero", "-o", "out.py"],
    }


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
@pytest.mark.parametrize("route", ["import", "calibration", "rates", "csv", "csv-network", "weights"])
def test_dev_zero_is_refused_without_reading(work: Path, capsys, route: str) -> None:
    start = time.monotonic()
    status, err = _run(_zero_routes(work)[route], capsys)
    assert status == 1
    assert "cannot read '/dev/zero': a character device, not a regular file" in err
    assert time.monotonic() - start < 10


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("argv", [["check", "imports.seg"], ["check", "pipe.seg"],
                                  ["import", "pipe.seg", "-o", "o.seg"],
                                  ["prune", "tiny.seg", "--rates", "pipe.seg", "-o", "o.seg"]],
                         ids=["import", "check", "onnx", "rates"])
def test_fifo_never_blocks(work: Path, argv: list[str]) -> None:
    """Nobody writes to the FIFO: opening it for reading in the usual way would wait forever."""
    os.mkfifo(work / "pipe.seg")
    (work / "imports.seg").write_text('import "pipe.seg"\n', encoding="utf-8")
    done = _isolated(argv, work)
    assert done.returncode == 1, done.stderr
    assert "cannot read 'pipe.seg': a FIFO (named pipe), not a regular file" in done.stderr


def test_directory_is_named_as_such(work: Path, capsys) -> None:
    (work / "imports.seg").write_text('import "targets"\n', encoding="utf-8")
    status, err = _run(["check", "imports.seg"], capsys)
    assert status == 1
    assert err.startswith("imports.seg:1:8: error: cannot read 'targets': a directory, not a regular file\n")


# ---------------------------------------------------------------- size limits
def test_text_over_the_limit(work: Path, capsys, monkeypatch) -> None:
    size = (work / "tiny.seg").stat().st_size
    monkeypatch.setenv("SEGC_MAX_TEXT_BYTES", str(size - 1))
    status, err = _run(["check", "tiny.seg"], capsys)
    assert (status, err) == (1, f"error: cannot read 'tiny.seg': {size:,} bytes, over the limit of {size - 1:,} "
                                "for text inputs (set SEGC_MAX_TEXT_BYTES to raise it)\n")
    largest = max(size, (work / "targets" / "ultra96.seg").stat().st_size)  # tiny.seg imports it
    monkeypatch.setenv("SEGC_MAX_TEXT_BYTES", str(largest))
    assert _run(["check", "tiny.seg"], capsys)[0] == 0


def test_data_over_the_limit(work: Path, capsys, monkeypatch) -> None:
    (work / "w.pt").write_bytes(b"\0" * 100)
    monkeypatch.setenv("SEGC_MAX_DATA_BYTES", "99")
    status, err = _run(["export", "tiny.seg", "--to", "torch", "--weights", "w.pt", "-o", "out.py"], capsys)
    assert (status, err) == (1, "error: cannot read 'w.pt': 100 bytes, over the limit of 99 for data inputs "
                                "(set SEGC_MAX_DATA_BYTES to raise it)\n")


def test_compressed_arrays_are_bounded_by_their_unpacked_size(work: Path, monkeypatch) -> None:
    np = pytest.importorskip("numpy")
    from segc.hls import load_inputs

    np.savez_compressed("in.npz", image=np.zeros((1, 3, 32, 32), np.float32))  # 12,288 bytes of zeros, packed small
    assert (work / "in.npz").stat().st_size < 5000
    monkeypatch.setenv("SEGC_MAX_DATA_BYTES", "5000")
    with pytest.raises(segc.SegError, match=r"cannot read 'in.npz': its arrays unpack to [\d,]+ bytes, over the "
                                            r"limit of 5,000 for data inputs"):
        load_inputs(segc.load("tiny.seg"), "in.npz", 0, True)


def test_a_limit_must_be_a_positive_integer(work: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SEGC_MAX_TEXT_BYTES", "lots")
    assert _run(["check", "tiny.seg"], capsys) == (1, "error: SEGC_MAX_TEXT_BYTES must be a positive integer, "
                                                     "got 'lots'\n")


# ---------------------------------------------------------------- content never echoed
def _secret_routes(work: Path, name: str) -> list[list[str]]:
    (work / "imports.seg").write_text(f'import "{name}"\n', encoding="utf-8")
    return [["check", name], ["check", "imports.seg"], ["fmt", name], ["report", "tiny.seg", "--calibration", name],
            ["prune", "tiny.seg", "--rates", name, "-o", "out.seg"], ["calibrate", name],
            ["export", "tiny.seg", "--to", "torch", "--weights", name, "-o", "out.py"]]


@pytest.mark.parametrize("content", [
    b"\x7fELF\x02\x01\x01\0" + MARKER.encode() + b"\n",  # binary with a NUL
    b"\xff\xfe" + MARKER.encode() + b"\n",  # not UTF-8
    f"root:x:0:0:{MARKER}:/root:/bin/bash\n".encode(),  # text, not .seg (an /etc/passwd line)
], ids=["binary", "not-utf8", "passwd"])
@pytest.mark.parametrize("name", ["secret.txt", "secret.seg"])
def test_unreadable_content_is_never_shown(work: Path, capsys, content: bytes, name: str) -> None:
    if name.endswith(".seg") and content.startswith(b"root"):
        pytest.skip("a file named *.seg is source: its syntax errors show the line")
    (work / name).write_bytes(content)
    for argv in _secret_routes(work, name):
        status, err = _run(argv, capsys)
        assert status == 1, argv
        assert MARKER not in err, argv


def test_binary_gives_the_byte_and_its_offset(work: Path, capsys) -> None:
    (work / "blob.seg").write_bytes(b"network n\0")  # NUL, valid UTF-8, at offset 9
    assert _run(["check", "blob.seg"], capsys) == (
        1, "blob.seg:1:10: error: not a text file (control byte 0x00 at offset 9)\n")


def test_syntax_error_outside_seg_files_gives_the_position_only(work: Path, capsys) -> None:
    (work / "notes.txt").write_text(f"\n\n  {MARKER} here\n", encoding="utf-8")
    (work / "imports.seg").write_text('import "notes.txt"\n', encoding="utf-8")
    status, err = _run(["check", "imports.seg"], capsys)
    assert (status, err) == (1, "notes.txt:3:3: error: syntax error (the file is not named *.seg, so none of its "
                                "text is shown)\nimports.seg:1:8: note: imported here\n"
                                '    import "notes.txt"\n           ^^^^^^^^^^^\n')


def test_rates_file_errors_still_show_lines_once_recognised(work: Path, capsys) -> None:
    (work / "rates.txt").write_text("stem.conv: 0.5\nbody.*: 1.5\n", encoding="utf-8")
    status, err = _run(["prune", "tiny.seg", "--rates", "rates.txt", "-o", "out.seg"], capsys)
    assert status == 1
    assert err.startswith("rates.txt:2:9: error: a pruning rate must be at least 0 and below 1, got 1.5\n"
                          "    body.*: 1.5\n")


# ---------------------------------------------------------------- tensor sizes
HUGE = """import "targets/ultra96.seg"

network huge on ultra96_codenet {
    input image: [3, 1000000000, 1]
    output y = image -> conv(8, k=1)
}
"""


@pytest.mark.parametrize("command", ["check", "report"])
def test_huge_input_is_rejected_at_once(work: Path, command: str) -> None:
    (work / "huge.seg").write_text(HUGE, encoding="utf-8")
    start = time.monotonic()
    done = _isolated([command, "huge.seg"], work)
    assert done.returncode == 1
    # 3·10⁹ elements against the default limit 2³¹ = 2,147,483,648.
    assert done.stderr.startswith(
        "huge.seg:4:5: error: layer 'image': its output [3, 1000000000, 1] has 3,000,000,000 elements, over the "
        "limit of 2,147,483,648 per tensor (set SEGC_MAX_TENSOR_ELEMENTS to raise it)\n")
    assert time.monotonic() - start < SECONDS


def test_tensor_limit_is_configurable(work: Path, monkeypatch) -> None:
    # tiny's largest tensor is stem.conv's output, 8 channels × 32 × 32 = 8192 elements.
    monkeypatch.setenv("SEGC_MAX_TENSOR_ELEMENTS", "8192")
    segc.load("tiny.seg")
    monkeypatch.setenv("SEGC_MAX_TENSOR_ELEMENTS", "8191")
    with pytest.raises(segc.SegError, match=r"layer 'stem\.conv': its output \[8, 32, 32\] has 8,192 elements"):
        segc.load("tiny.seg")


def test_network_limit_is_configurable(work: Path, monkeypatch) -> None:
    # image: 3·32·32 = 3072; stem.conv adds its output 8192 and 8·3·3·3 = 216 weights: 11,480.
    monkeypatch.setenv("SEGC_MAX_NETWORK_ELEMENTS", str(3072 + 8192 + 216 - 1))
    with pytest.raises(segc.SegError, match=r"layer 'stem\.conv': the outputs and parameters of the network up to "
                                            r"here have 11,480 elements, over the limit of 11,479 per network"):
        segc.load("tiny.seg")


def test_json_graphs_are_bounded_too(work: Path, monkeypatch) -> None:
    Path("tiny.json").write_text(segc.load("tiny.seg").to_json(), encoding="utf-8")
    monkeypatch.setenv("SEGC_MAX_TENSOR_ELEMENTS", "3071")  # the input, 3·32·32, is one over
    with pytest.raises(segc.SegError, match=r"layer 'image': its output \[3, 32, 32\] has 3,072 elements"):
        segc.load("tiny.json")


# ---------------------------------------------------------------- the tile search
def _brute_force(g: ConvGeometry, buffer_words: int) -> tuple[int, int]:
    """Eq. 1 by the definition (paper footprints, no dilation): the best
    ratio, then fewer input reads, then the larger tile, then the wider."""
    best = None
    for tox in range(1, g.wo + 1):
        for toy in range(1, g.ho + 1):
            area_in = ((tox - 1) * g.sx + g.kx) * ((toy - 1) * g.sy + g.ky)
            if area_in * (g.ci // g.groups) > buffer_words:
                continue
            reads = -(-g.wo // tox) * -(-g.ho // toy) * area_in
            key = (Fraction(tox * toy, area_in), -reads, tox * toy, tox, toy)
            best = key if best is None or key > best else best
    return best[3], best[4]


def test_tile_search_matches_the_definition() -> None:
    rng = random.Random(7)
    for _ in range(60):
        g = ConvGeometry(ci=rng.choice([1, 3, 16]), co=8, kx=rng.choice([1, 3, 5]), ky=rng.choice([1, 3]),
                         sx=rng.choice([1, 2]), sy=rng.choice([1, 2]), dx=1, dy=1, groups=1,
                         wo=rng.randint(1, 40), ho=rng.randint(1, 40))
        buffer_words = rng.choice([9 * 16, 400, 3000])
        if g.kx * g.ky * g.ci > buffer_words:
            continue  # not even a 1×1 tile fits
        assert best_tile(g, buffer_words, 8, "paper") == _brute_force(g, buffer_words), (g, buffer_words)


def test_tile_search_follows_the_buffer_not_the_map() -> None:
    """A 16000 × 16000 map would need gigabytes weighing every tile size at once."""
    g = ConvGeometry(ci=1, co=8, kx=1, ky=1, sx=1, sy=1, dx=1, dy=1, groups=1, wo=16000, ho=16000)
    start = time.monotonic()
    tile = best_tile(g, 4096, 8, "paper")
    # 1×1 kernel, one channel: every tile of ≤ 4096 pixels has ratio 1; the fewest reads (the
    # map once, 16000²) need sides dividing 16000 = 2⁷·5³; the largest such tiles have 4096 = 2¹²
    # pixels (32 × 128, 64 × 64, 128 × 32), the widest of them is 128 × 32.
    assert tile == (128, 32)
    assert time.monotonic() - start < 10


def test_a_layer_over_the_tensor_limit_by_its_parameters(tmp_path: Path, monkeypatch) -> None:
    # linear 48 → 10: 48·10 weights + 10 biases = 490 parameters; its output, 10 elements, and the input, 48, fit.
    seg = tmp_path / "wide.seg"
    seg.write_text("network n {\n    input x: [48, 1, 1]\n    output y = x -> linear(10)\n}\n", encoding="utf-8")
    monkeypatch.setenv("SEGC_MAX_TENSOR_ELEMENTS", "490")
    segc.load(str(seg))
    monkeypatch.setenv("SEGC_MAX_TENSOR_ELEMENTS", "489")
    with pytest.raises(segc.SegError, match=r"layer 'y': its parameters have 490 elements, over the limit of 489"):
        segc.load(str(seg))
