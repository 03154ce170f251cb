/* segc HLS kernel library: what the C simulation (g++, not Vitis HLS) runs
 * in place of the PE-array loops of the multiply-accumulate kernels.
 *
 * The sums are the same integers: every product of two 16-bit words is exact
 * in 32 bits and every sum exact in 64 bits, so the order of the additions
 * does not change a result.  That frees the simulation to compute each
 * output word as one contiguous dot product, vectorised (omp simd), and to
 * share a layer's output tiles among threads (OpenMP, static schedule; each
 * word computed by one thread, its epilogue run by that thread; a fused max
 * pooling raises its words atomically), with results byte-identical to the
 * single-threaded run.  Built without OpenMP the pragmas are ignored
 * and it runs on one thread.  Define SEGC_PE_LOOPS to simulate the PE-array
 * loops themselves (as synthesised).
 */
#ifndef SEGC_CSIM_H
#define SEGC_CSIM_H

#ifndef __SYNTHESIS__
#include "segc_fixed.h"

namespace segc {

/* sum of a[i] * b[i] for i < n, exact. */
inline acc_t dot(const data_t* __restrict a, const data_t* __restrict b, long n) {
    acc_t sum = 0;
#pragma omp simd reduction(+ : sum)
    for (long i = 0; i < n; ++i) sum += (int32_t)a[i] * (int32_t)b[i];
    return sum;
}

}  // namespace segc

#endif /* __SYNTHESIS__ */
#endif /* SEGC_CSIM_H */
