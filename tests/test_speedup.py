"""Speed-up of a pruned network over its baseline (Mori et al.'s 2.44×):
baseline latency / pruned latency, worked out by hand on the two-layer
network of ``figure_nets.py``, in ``segc prune`` and ``segc search``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from figure_nets import TWO_LAYERS, conv_latency, run, write_nets

# Pruning layer a from 16 to 8 output channels (rate 0.5; y is the output and
# keeps its 2).  Tiles by Eq. 1 on the 100-word buffer: a is 3×3 either way
# (its input keeps 4 channels); y reads each input word once per P_of group
# with any tile that fits, as a 1×1 tile does.
BEFORE_S = conv_latency(4, 16, 3, 8, (3, 3)) + conv_latency(16, 2, 1, 8, (1, 1))
AFTER_S = conv_latency(4, 8, 3, 8, (3, 3)) + conv_latency(8, 2, 1, 8, (1, 1))


@pytest.fixture
def two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return write_nets(tmp_path)


def test_hand_latencies() -> None:
    # a: 8800 words · 2 B at 100 MB/s = 176 µs (compute 9216 cycles, 92 µs); y: 1184 words, 23.68 µs
    assert pytest.approx(176e-6 + 23.68e-6) == BEFORE_S
    # a: (9 · 4 · 25 · 4 + 288 + 512) words = 88 µs; y: (512 + 16 + 128) words = 13.12 µs
    assert pytest.approx(88e-6 + 13.12e-6) == AFTER_S


def test_speedup_of_two_graphs() -> None:
    import segc
    from segc.speedup import pruning_speedup

    baseline = segc.loads(TWO_LAYERS)
    pruned = baseline.prune(rates=0.5).network
    change = pruning_speedup(baseline, pruned)
    assert change.baseline_s == pytest.approx(BEFORE_S) and change.pruned_s == pytest.approx(AFTER_S)
    assert change.ratio == pytest.approx(BEFORE_S / AFTER_S)


def test_prune_prints_latency_before_and_after(two: Path, capsys) -> None:
    status, out, _ = run(["prune", "two.seg", "--rates", "0.5", "-o", "small.seg"], capsys)
    assert status == 0
    line = out.splitlines()[-1]
    assert line.startswith(f"latency {BEFORE_S * 1e3:.4g} ms → {AFTER_S * 1e3:.4g} ms "
                           f"(speed-up {BEFORE_S / AFTER_S:.2f}×) on small (unroll 2,2,1; paper tiling")


def test_prune_without_target_says_so(two: Path, capsys) -> None:
    status, out, _ = run(["prune", "bare.seg", "--rates", "0.5", "-o", "small.seg"], capsys)
    assert status == 0 and "latency: network 'bare' has no target" in out


def test_prune_refuses_a_bad_calibration_before_writing(two: Path, capsys) -> None:
    (two / "bad.json").write_text("{}", encoding="utf-8")
    status, _, err = run(["prune", "two.seg", "--rates", "0.5", "--calibration", "bad.json", "-o", "s.seg"],
                           capsys)
    assert status == 1 and "bad calibration file" in err
    assert not (two / "s.seg").exists() and not (two / "s.safetensors").exists()


@pytest.mark.parametrize("objective", ["latency", "ops"])
def test_search_front_points_carry_their_speedup(two: Path, capsys, objective: str) -> None:
    status, out, _ = run(["search", "two.seg", "--rates", "0,0.5", "--pop", "6", "--gen", "2",
                          "--objective", objective, "-o", "found"], capsys)
    assert status == 0
    document = json.loads((two / "found" / "pareto.json").read_text("utf-8"))
    assert document["baseline_latency_s"] == pytest.approx(BEFORE_S)
    expected = {0.0: 1.0, 0.5: BEFORE_S / AFTER_S}  # the speed-up of each rate of layer a
    rates = {point["group_rates"]["a"] for point in document["front"]}
    assert rates == {0.0, 0.5}  # both on the front: the unpruned network the most accurate, the other the fastest
    for point in document["front"]:
        assert point["speedup"] == pytest.approx(expected[point["group_rates"]["a"]])
    assert f"{BEFORE_S / AFTER_S:.2f}" in out and "speed-up (×)" in out
    page = (two / "found" / "search.html").read_text("utf-8")
    assert f"{BEFORE_S / AFTER_S:.2f}×" in page
    assert (two / "found" / "pareto.png").read_bytes().startswith(b"\x89PNG")
