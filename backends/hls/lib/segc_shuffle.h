/* segc HLS kernel library: channel shuffle (ShuffleNet) of [C][HW] tensors
 * in GROUPS groups, requantized from FRAC_IN to FRAC_OUT fraction bits:
 * output channel c is input channel (c mod GROUPS)·(C/GROUPS) + c/GROUPS.
 * (A channel slice is a requantizing copy of a contiguous range.)
 */
#ifndef SEGC_SHUFFLE_H
#define SEGC_SHUFFLE_H

#include "segc_fixed.h"
#include "segc_loops.h"

namespace segc {

template <class P>
void channel_shuffle(const data_t* in, data_t* out) {
    constexpr int K = P::C / P::GROUPS;
    for_each_word<P::C, 1, P::HW>([&](int c, int, int i) {
        const long source = (long)(c % P::GROUPS) * K + c / P::GROUPS;
        out[(long)c * P::HW + i] = requantize<P::BITS>(in[source * P::HW + i], P::FRAC_IN - P::FRAC_OUT);
    });
}

}  // namespace segc

#endif /* SEGC_SHUFFLE_H */
