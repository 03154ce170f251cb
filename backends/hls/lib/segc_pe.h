/* segc HLS kernel library: the accumulators of the PE array shared by the
 * multiply-accumulate kernels (conv2d, deform_conv2d, linear; Mori et al.,
 * Eq. 2).  A block of P_of output channels has one 64-bit accumulator per
 * lane, which starts at the channel's bias (widened to FRAC_IN + FRAC_W
 * fraction bits, where products are exact) and is requantized once to
 * FRAC_OUT, or, for an integer-scheme layer (INT), sums the products of
 * integer words and is requantized per channel with an integer multiplier
 * and a right shift (P::RQ).  `active` lanes hold channels; the others (a partial block) are
 * idle: they start at zero and are not written.
 */
#ifndef SEGC_PE_H
#define SEGC_PE_H

#include "segc_fixed.h"

namespace segc {

/* The requantization of one output channel of an integer-scheme layer
 * (INT): its sum plus `bias` (in the sum's units) times m / 2^shift. */
struct requant {
    acc_t bias;
    acc_t m;
    int shift;
};

/* The start of channel c's sum: its bias bias[c] widened (none without BIAS;
 * an INT layer adds its bias in mac_word). */
template <class P>
acc_t mac_start(const data_t* bias, int c) {
    return P::BIAS ? widen(bias[c], P::FRAC_B, P::FRAC_IN + P::FRAC_W) : (acc_t)0;
}

/* Channel c's sum as a BITS-bit word with FRAC_OUT fraction bits: shifted
 * by the fraction-bit difference (fixed), or plus the channel's bias times
 * its multiplier m / 2^shift (INT: m / 2^shift = s_w,c 2^-FRAC_IN / 2^-FRAC_OUT);
 * `count`: a saturated word is counted (see requantize). */
template <class P>
data_t mac_word(acc_t acc, int c, bool count) {
    if constexpr (P::INT) {
        return rescale<P::BITS>(acc + P::RQ[c].bias, P::RQ[c].m, P::RQ[c].shift, count);
    } else {
        return requantize<P::BITS>(acc, P::FRAC_IN + P::FRAC_W - P::FRAC_OUT, count);
    }
}

/* acc[po] = the bias of lane po, bias[po] (none without BIAS). */
template <class P>
void mac_init(acc_t acc[P::POF], const data_t* bias, int active) {
init:
    for (int po = 0; po < P::POF; ++po) {
#pragma HLS UNROLL
        acc[po] = po < active ? mac_start<P>(bias, po) : (acc_t)0;
    }
}

/* out(v, po) with each active lane's sum as a word (mac_word); lane po
 * holds output channel c0 + po. */
template <class P, class F>
void mac_write(const acc_t acc[P::POF], int active, int c0, bool count, const F& out) {
write:
    for (int po = 0; po < P::POF; ++po) {
#pragma HLS UNROLL
        if (po < active) out(mac_word<P>(acc[po], c0 + po, count), po);
    }
}

}  // namespace segc

#endif /* SEGC_PE_H */
