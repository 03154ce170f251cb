/* segc HLS kernel library: element-wise layers (batch norm, activations,
 * add, requantizing copy for concat and identity).  N is the number of
 * elements, C the channels and HW the pixels per channel of [C][H][W]
 * tensors; FRAC_* are fraction bits (see segc_fixed.h).
 */
#ifndef SEGC_ELEMENTWISE_H
#define SEGC_ELEMENTWISE_H

#include "segc_epilogue.h"
#include "segc_fixed.h"
#include "segc_loops.h"

namespace segc {

/* Batch norm in inference form: y = x * scale[c] + shift[c], with
 * scale = gamma / sqrt(var + eps) and shift = beta - mean * scale
 * (FRAC_SHIFT <= FRAC_IN + FRAC_SCALE). */
template <class P>
void batch_norm(const data_t* in, const data_t* scale, const data_t* shift, data_t* out) {
    for_each_word<P::C, 1, P::HW>([&](int c, int, int i) {
        const long k = (long)c * P::HW + i;
        out[k] = batch_norm_one<P>(in[k], scale[c], shift[c]);
    });
}

/* y = x with new fraction bits (concat slices, identity). */
template <class P>
void requantize_copy(const data_t* in, data_t* out) {
    for_each_index<P::N>([&](long i) { out[i] = requantize_out<P>(in[i], P::FRAC_IN - P::FRAC_OUT); });
}

/* y = max(x, 0); relu6: y = min(max(x, 0), 6).  Worked at G = max(FRAC_IN, 0)
 * fraction bits so 6 is exact. */
template <class P>
void relu(const data_t* in, data_t* out) {
    for_each_index<P::N>([&](long i) { out[i] = relu_one<P>(in[i]); });
}

/* Sigmoid from a table of round(2^15 / (1 + exp(-x))) at x = X_MIN + n 2^-STEP_BITS,
 * n = 0 .. ENTRIES - 1, interpolated linearly between entries; constant
 * outside the table. */
template <class P>
void sigmoid(const data_t* in, const int32_t* table, data_t* out) {
    for_each_index<P::N>([&](long i) { out[i] = sigmoid_one<P>(in[i], table); });
}

/* y = sum of up to four inputs (unused ones null), each aligned to the
 * largest input fraction FRAC_ACC, requantized once. */
template <class P>
void add(const data_t* in0, const data_t* in1, const data_t* in2, const data_t* in3, data_t* out) {
    for_each_index<P::N>([&](long i) {
        out[i] = add_words<P>(in0[i], in1[i], P::INPUTS > 2 ? in2[i] : (data_t)0, P::INPUTS > 3 ? in3[i] : (data_t)0);
    });
}

}  // namespace segc

#endif /* SEGC_ELEMENTWISE_H */
