"""The integer reference's one-shift fast path of ``shift_round`` against its
element-wise rules (the C library's ``shift_round``), and a few words by hand."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segc.backends.hls.intref import shift_round

WORDS = st.lists(st.integers(-(2**62) + 1, 2**62 - 1), min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(WORDS, st.integers(-70, 70))
def test_one_shift_for_all_equals_the_per_element_rules(words: list[int], shift: int) -> None:
    acc = np.array(words, dtype=np.int64)
    assert np.array_equal(shift_round(acc, shift), shift_round(acc, np.full(acc.shape, shift)))


def test_words_by_hand() -> None:
    acc = np.array([5, -5, 6, -6, 7, 1 << 40], dtype=np.int64)
    assert shift_round(acc, 1).tolist() == [3, -2, 3, -3, 4, 1 << 39]  # round half up: 2.5 → 3, −2.5 → −2
    assert shift_round(acc, 0).tolist() == acc.tolist()
    assert shift_round(acc, -2).tolist() == [20, -20, 24, -24, 28, 1 << 42]
    assert shift_round(acc, 63).tolist() == [0] * 6
    big = np.array([1 << 60, -(1 << 60), 3], dtype=np.int64)
    assert shift_round(big, -3).tolist() == [32768, -32769, 24]  # past 2^62: the saturating marker
