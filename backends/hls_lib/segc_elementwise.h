/* segc HLS kernel library: element-wise layers (batch norm, activations,
 * add, requantizing copy for concat and identity).  N is the number of
 * elements, C the channels and HW the pixels per channel of [C][H][W]
 * tensors; FRAC_* are fraction bits (see segc_fixed.h).
 */
#ifndef SEGC_ELEMENTWISE_H
#define SEGC_ELEMENTWISE_H

#include "segc_fixed.h"

namespace segc {

/* Batch norm in inference form: y = x * scale[c] + shift[c], with
 * scale = gamma / sqrt(var + eps) and shift = beta - mean * scale
 * (FRAC_SHIFT <= FRAC_IN + FRAC_SCALE). */
template <class P>
void batch_norm(const data_t* in, const data_t* scale, const data_t* shift, data_t* out) {
    constexpr int FA = P::FRAC_IN + P::FRAC_SCALE;
channels:
    for (int c = 0; c < P::C; ++c) {
        const acc_t s = scale[c], b = widen(shift[c], P::FRAC_SHIFT, FA);
    pixels:
        for (int i = 0; i < P::HW; ++i) {
#pragma HLS PIPELINE II=1
            out[c * P::HW + i] = requantize((acc_t)in[c * P::HW + i] * s + b, FA - P::FRAC_OUT);
        }
    }
}

/* y = x with new fraction bits (concat slices, identity). */
template <class P>
void requantize_copy(const data_t* in, data_t* out) {
elements:
    for (int i = 0; i < P::N; ++i) {
#pragma HLS PIPELINE II=1
        out[i] = requantize(in[i], P::FRAC_IN - P::FRAC_OUT);
    }
}

/* y = max(x, 0); relu6: y = min(max(x, 0), 6).  Worked at G = max(FRAC_IN, 0)
 * fraction bits so 6 is exact. */
template <class P>
void relu(const data_t* in, data_t* out) {
    constexpr int G = P::FRAC_IN > 0 ? P::FRAC_IN : 0;
    const acc_t six = (acc_t)6 << G;
elements:
    for (int i = 0; i < P::N; ++i) {
#pragma HLS PIPELINE II=1
        acc_t v = widen(in[i], P::FRAC_IN, G);
        v = v < 0 ? 0 : v;
        if (P::SIX && v > six) v = six;
        out[i] = requantize(v, G - P::FRAC_OUT);
    }
}

/* Sigmoid from a table of round(2^15 / (1 + exp(-x))) at x = X_MIN + n 2^-STEP_BITS,
 * n = 0 .. ENTRIES - 1, interpolated linearly between entries; constant
 * outside the table. */
template <class P>
void sigmoid(const data_t* in, const int32_t* table, data_t* out) {
    constexpr int RB = P::FRAC_IN > P::STEP_BITS ? P::FRAC_IN - P::STEP_BITS : 0;  /* bits between entries */
    constexpr int UP = P::FRAC_IN < P::STEP_BITS ? P::STEP_BITS - P::FRAC_IN : 0;
elements:
    for (int i = 0; i < P::N; ++i) {
#pragma HLS PIPELINE II=1
        /* position in steps of 2^-(STEP_BITS + RB) from X_MIN */
        const acc_t p = (acc_t)in[i] * ((acc_t)1 << UP) - (acc_t)P::X_MIN * ((acc_t)1 << (P::STEP_BITS + RB));
        acc_t index = p >> RB, frac = p - index * ((acc_t)1 << RB);
        if (index < 0) { index = 0; frac = 0; }
        if (index >= P::ENTRIES - 1) { index = P::ENTRIES - 1; frac = 0; }
        const acc_t low = table[index];
        const acc_t high = index + 1 < P::ENTRIES ? (acc_t)table[index + 1] : low;
        out[i] = requantize(low * ((acc_t)1 << RB) + (high - low) * frac, 15 + RB - P::FRAC_OUT);
    }
}

/* y = sum of up to four inputs (unused ones null), each aligned to the
 * largest input fraction FRAC_ACC, requantized once. */
template <class P>
void add(const data_t* in0, const data_t* in1, const data_t* in2, const data_t* in3, data_t* out) {
    constexpr int FA = P::FRAC_ACC;  /* the largest input fraction */
elements:
    for (int i = 0; i < P::N; ++i) {
#pragma HLS PIPELINE II=1
        acc_t sum = widen(in0[i], P::FRAC_IN0, FA) + widen(in1[i], P::FRAC_IN1, FA);
        if (P::INPUTS > 2) sum += widen(in2[i], P::FRAC_IN2, FA);
        if (P::INPUTS > 3) sum += widen(in3[i], P::FRAC_IN3, FA);
        out[i] = requantize(sum, FA - P::FRAC_OUT);
    }
}

}  // namespace segc

#endif /* SEGC_ELEMENTWISE_H */
