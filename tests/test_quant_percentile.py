"""The percentile range rule reads only the largest values it needs: checked
against numpy's percentile over every value, and a calibration that keeps
only those values gives the same range as one over all of them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segc.backends.quant import activation_range, largest_needed, percentile_of_largest

PERCENT = st.floats(0.001, 100.0)


def test_largest_needed_by_hand() -> None:
    assert largest_needed(1000, 99.9) == 1000 - 998  # ⌊0.999·999⌋ = 998: ranks 998 and 999
    assert largest_needed(1000, 100.0) == 1  # the max alone
    assert largest_needed(8, 50.0) == 8 - 3  # ⌊0.5·7⌋ = 3
    assert largest_needed(1, 37.0) == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200), PERCENT)
def test_the_largest_values_give_numpys_percentile(values: list[float], percent: float) -> None:
    data = np.array(values)
    needed = largest_needed(data.size, percent)
    top = np.sort(data)[data.size - needed:][::-1]  # the largest, in another order
    expected = float(np.percentile(data, percent))
    assert percentile_of_largest(top, data.size, percent) == pytest.approx(expected, rel=1e-12, abs=1e-9)
    assert activation_range(data, f"percentile:{percent}") == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_too_few_values_is_an_error() -> None:
    with pytest.raises(ValueError, match="do not hold"):
        percentile_of_largest(np.array([5.0]), 10, 50.0)


def test_a_calibration_keeps_only_what_the_percentile_reads() -> None:
    torch = pytest.importorskip("torch")
    from segc.train.ranges import _Recorder

    rng = np.random.default_rng(3)
    batches = [rng.standard_normal((4, 3, 8, 8)).astype(np.float32) for _ in range(5)]  # 20 samples of 192 values
    recorder = _Recorder(99.0, samples=20)
    for batch in batches:
        recorder.add(torch.from_numpy(batch))
    every = np.abs(np.concatenate([b.ravel() for b in batches])).astype(np.float64)
    assert recorder.kept.size == 3840 - int(0.99 * 3839)  # 40 of 3,840 values
    assert recorder.range() == pytest.approx(float(np.percentile(every, 99.0)), rel=1e-6)
