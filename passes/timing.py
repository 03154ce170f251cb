"""From a layer's work to its time, on a target (``ir/target.py``).

For one layer with ``bits`` of DRAM traffic (its words at their widths,
``widths.py``), of which ``gather`` bits are a data-dependent gather in
``bursts`` scattered accesses:

* compute c = cycles / clock + gather time, where a gather costs
  bursts · access_latency / bursts_in_flight + gather / 8 / B:
  its addresses depend on data, so nothing is prefetched and the PE array
  waits (CoDeNet's unbounded gathers, about 0.45 µs per gathered pixel);
* memory m = (bits − gather) / 8 / B, B = the target's stream
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


def layer_times(target: Target, cycles, bits, gather, bursts, invocations) -> tuple:
    """(compute s, memory s, overhead s, latency s) for scalars or arrays;
    ``bits`` and ``gather``: DRAM traffic in bits."""
    rate = target.stream_bandwidth
    gather_s = bursts * (target.access_latency_s / target.bursts_in_flight) + gather / 8 / rate
    compute = cycles / target.clock_hz + gather_s
    memory = (bits - gather) / 8 / rate
    overhead = invocations * target.layer_overhead_s
    if isinstance(compute, float) and isinstance(memory, float):  # one layer: the same sums, without numpy
        latency = max(compute, memory) + (1 - target.overlap) * min(compute, memory) + overhead
    else:
        latency = np.maximum(compute, memory) + (1 - target.overlap) * np.minimum(compute, memory) + overhead
    return compute, memory, overhead, latency
