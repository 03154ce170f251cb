/* segc HLS kernel library: the epilogue of a multiply-accumulate kernel
 * (conv2d, linear, deform_conv2d), which the cost pass's rules "fused" and
 * "residual" run in the convolution's pipeline (Mori et al., Sec. 3.1): each
 * output word, requantized to the convolution's format, goes through the
 * fused layers in order, each rounding exactly as its stand-alone kernel
 * does, before it is written.  An epilogue is any object with
 *
 *   void operator()(data_t v, int c, int y, int x)
 *
 * called once per output word (channel c, pixel (y, x); a linear layer's
 * y = x = 0).  The generator writes one per fused convolution from the
 * element functions here; `writer` only stores the word.
 */
#ifndef SEGC_EPILOGUE_H
#define SEGC_EPILOGUE_H

#include "segc_fixed.h"
#include "segc_loops.h"

namespace segc {

/* Stores each word in a [C][H][W] tensor. */
template <int H, int W>
struct writer {
    data_t* out;
    void operator()(data_t v, int c, int y, int x) const { out[at<H, W>(c, y, x)] = v; }
};

/* Batch norm x * scale + shift (FRAC_SHIFT <= FRAC_IN + FRAC_SCALE), rounded once. */
template <class P>
data_t batch_norm_one(data_t x, data_t scale, data_t shift) {
    constexpr int FA = P::FRAC_IN + P::FRAC_SCALE;
    return requantize_out<P>((acc_t)x * scale + widen(shift, P::FRAC_SHIFT, FA), FA - P::FRAC_OUT);
}

/* A batch norm's per-channel parameters, copied on chip before the layer. */
template <class P>
struct bn_params {
    data_t scale[P::C], shift[P::C];
    void load(const data_t* scale_in, const data_t* shift_in) {
    load_bn:
        for (int c = 0; c < P::C; ++c) {
#pragma HLS PIPELINE II=1
            scale[c] = scale_in[c];
            shift[c] = shift_in[c];
        }
    }
    data_t operator()(data_t x, int c) const { return batch_norm_one<P>(x, scale[c], shift[c]); }
};

/* The largest word of a relu6 whose output words are worth r / q_max (SIX_WORD
 * = round(6 / s_out)); none in fixed point, where 6 is exact at G bits. */
template <class P, class = void>
struct six_word {
    static constexpr bool GIVEN = false;
    static constexpr acc_t VALUE = DATA_MAX;
};
template <class P>
struct six_word<P, std::void_t<decltype(P::SIX_WORD)>> {
    static constexpr bool GIVEN = true;
    static constexpr acc_t VALUE = P::SIX_WORD;
};

/* max(x, 0), relu6 min(max(x, 0), 6), worked at G = max(FRAC_IN, 0) bits;
 * between scales not a power of two apart, max(x, 0) requantized, then
 * relu6 limited to SIX_WORD (requantizing is monotone, so the order does
 * not matter but for rounding 6 itself once). */
template <class P>
data_t relu_one(data_t x) {
    if constexpr (out_scale<P>::M != 1 || six_word<P>::GIVEN) {
        const data_t v = requantize_out<P>(x < 0 ? 0 : x, P::FRAC_IN - P::FRAC_OUT);
        return P::SIX && v > six_word<P>::VALUE ? (data_t)six_word<P>::VALUE : v;
    }
    constexpr int G = P::FRAC_IN > 0 ? P::FRAC_IN : 0;
    const acc_t six = (acc_t)6 << G;
    acc_t v = widen(x, P::FRAC_IN, G);
    v = v < 0 ? 0 : v;
    if (P::SIX && v > six) v = six;
    return requantize<P::BITS>(v, G - P::FRAC_OUT);
}

/* Sigmoid from a table of round(2^15 / (1 + exp(-x))) at x = X_MIN + n 2^-STEP_BITS,
 * interpolated linearly between entries; constant outside the table. */
template <class P, int FRAC_IN = P::FRAC_IN, int FRAC_OUT = P::FRAC_OUT>
acc_t sigmoid_acc(acc_t x, const int32_t* table);

template <class P>
data_t sigmoid_one(data_t x, const int32_t* table) {
    return saturate<P::BITS>(sigmoid_acc<P>(x, table));
}

/* The same at any input and output fraction bits, not saturated, of any
 * table of that layout (tanh and silu read the sigmoid's, softmax an exp table). */
template <class P, int FRAC_IN, int FRAC_OUT>
acc_t sigmoid_acc(acc_t x, const int32_t* table) {
    constexpr int RB = FRAC_IN > P::STEP_BITS ? FRAC_IN - P::STEP_BITS : 0;  /* bits between entries */
    constexpr int UP = FRAC_IN < P::STEP_BITS ? P::STEP_BITS - FRAC_IN : 0;
    /* position in steps of 2^-(STEP_BITS + RB) from X_MIN */
    const acc_t p = (acc_t)x * ((acc_t)1 << UP) - (acc_t)P::X_MIN * ((acc_t)1 << (P::STEP_BITS + RB));
    acc_t index = p >> RB, frac = p - index * ((acc_t)1 << RB);
    if (index < 0) { index = 0; frac = 0; }
    if (index >= P::ENTRIES - 1) { index = P::ENTRIES - 1; frac = 0; }
    const acc_t low = table[index];
    const acc_t high = index + 1 < P::ENTRIES ? (acc_t)table[index + 1] : low;
    return shift_round(low * ((acc_t)1 << RB) + (high - low) * frac, 15 + RB - FRAC_OUT);
}

/* The sum of up to four words (INPUTS of them), each aligned to the largest
 * input fraction FRAC_ACC, requantized once (the add kernel's element). */
template <class P, class = void>
struct add_scales {
    static constexpr bool SCALED = false;
};
template <class P>
struct add_scales<P, std::void_t<decltype(P::ADD_SHIFT)>> {
    static constexpr bool SCALED = true;
};

template <class P>
data_t add_words(data_t x0, data_t x1, data_t x2, data_t x3) {
    if constexpr (add_scales<P>::SCALED) {  /* inputs of other scales: sum of x_i * ADD_M<i>, one shift */
        acc_t sum = (acc_t)x0 * P::ADD_M0 + (acc_t)x1 * P::ADD_M1;
        if (P::INPUTS > 2) sum += (acc_t)x2 * P::ADD_M2;
        if (P::INPUTS > 3) sum += (acc_t)x3 * P::ADD_M3;
        return requantize<P::BITS>(sum, P::ADD_SHIFT);
    }
    constexpr int FA = P::FRAC_ACC;
    acc_t sum = widen(x0, P::FRAC_IN0, FA) + widen(x1, P::FRAC_IN1, FA);
    if (P::INPUTS > 2) sum += widen(x2, P::FRAC_IN2, FA);
    if (P::INPUTS > 3) sum += widen(x3, P::FRAC_IN3, FA);
    return requantize<P::BITS>(sum, FA - P::FRAC_OUT);
}

/* A residual add in a convolution's pipeline (the cost model's rule
 * "residual"): the inputs whose bit is set in PIPED are the word v arriving
 * through the pipeline, the others are read from their [C][H][W] tensors in
 * DRAM at the same position.  The sum is exact, so which input arrives
 * through the pipeline does not change the result. */
template <class P, int PIPED, int H, int W>
data_t residual_add(data_t v, int c, int y, int x, const data_t* in0, const data_t* in1, const data_t* in2,
                    const data_t* in3) {
    const long i = at<H, W>(c, y, x);
    const data_t x0 = (PIPED & 1) ? v : in0[i];
    const data_t x1 = (PIPED & 2) ? v : in1[i];
    const data_t x2 = (PIPED & 4) || P::INPUTS < 3 ? v : in2[i];
    const data_t x3 = (PIPED & 8) || P::INPUTS < 4 ? v : in3[i];
    return add_words<P>(x0, x1, x2, x3);
}

/* Fused max pooling: the pooled output is first filled with the smallest
 * word; each convolution output (c, y, x) then raises every pooled word whose
 * window holds it (padding never wins, as in max_pool), kept in the input's
 * format; max_pool_finish requantizes to FRAC_OUT once per pooled word (a
 * maximum of requantized words is the requantized maximum: both are monotone). */
template <class P>
void max_pool_init(data_t* out) {
    for_each_index<P::C * P::HO * P::WO>([&](long i) { out[i] = (data_t)DATA_MIN; });
}

/* best = max(best, v); atomic in C simulation, where threads share a
 * pooled word at the edges of their convolution tiles. */
inline void raise_to(data_t& best, data_t v) {
#ifdef __SYNTHESIS__
    best = v > best ? v : best;
#else
    data_t seen = __atomic_load_n(&best, __ATOMIC_RELAXED);
    while (v > seen && !__atomic_compare_exchange_n(&best, &seen, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
#endif
}

template <class P>
void max_pool_update(data_t* out, data_t v, int c, int y, int x) {
    /* pooled rows py with py*SH - PH <= y < py*SH - PH + KH, likewise columns */
    const int py0 = y + P::PH - P::KH + 1 > 0 ? (y + P::PH - P::KH + 1 + P::SH - 1) / P::SH : 0;
    const int px0 = x + P::PW - P::KW + 1 > 0 ? (x + P::PW - P::KW + 1 + P::SW - 1) / P::SW : 0;
pool_rows:
    for (int py = py0; py * P::SH - P::PH <= y && py < P::HO; ++py) {
    pool_cols:
        for (int px = px0; px * P::SW - P::PW <= x && px < P::WO; ++px) {
            raise_to(out[at<P::HO, P::WO>(c, py, px)], v);
        }
    }
}

template <class P>
void max_pool_finish(data_t* out) {
    if (P::FRAC_IN == P::FRAC_OUT && out_scale<P>::M == 1) return;
    for_each_index<P::C * P::HO * P::WO>([&](long i) { out[i] = requantize_out<P>(out[i], P::FRAC_IN - P::FRAC_OUT); });
}

}  // namespace segc

#endif /* SEGC_EPILOGUE_H */
