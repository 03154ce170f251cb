"""From a layer's work to its time, on a target (``ir/target.py``).

For one layer with ``cycles`` of compute, ``words`` of regular DRAM traffic
and a data-dependent gather of ``gather`` words in ``bursts`` scattered
accesses:

* compute c = cycles / clock + gather time, where a gather costs
  bursts · access_latency / bursts_in_flight + gather · word bytes / B:
  its addresses depend on data, so nothing is prefetched and the PE array
  waits (CoDeNet's unbounded gathers, about 0.45 µs per gathered pixel);
* memory m = (words − gather) · word bytes / B, B = the target's stream
  bandwidth (effective bandwidth, at most port/8 · clock);
* latency = max(c, m) + (1 − φ)·min(c, m) + invocations · layer_overhead
  (φ = 1 is Eq. 5 of Mori et al.).

Written with numpy operations so that the same function serves one layer
(``cost.py``) and arrays of layers × configurations (``fastmodel.py``): the
two agree to the last bit.
"""

from __future__ import annotations

import numpy as np

from ..ir import Target

__all__ = ["layer_times"]


def layer_times(target: Target, cycles, words, gather, bursts, invocations) -> tuple:
    """(compute s, memory s, overhead s, latency s) for scalars or arrays."""
    rate = target.stream_bandwidth
    gather_s = bursts * (target.access_latency_s / target.bursts_in_flight) + gather * target.word_bytes / rate
    compute = cycles / target.clock_hz + gather_s
    memory = (words - gather) * target.word_bytes / rate
    overhead = invocations * target.layer_overhead_s
    latency = np.maximum(compute, memory) + (1 - target.overlap) * np.minimum(compute, memory) + overhead
    return compute, memory, overhead, latency
