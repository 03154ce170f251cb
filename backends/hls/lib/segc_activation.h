/* segc HLS kernel library: the activations and element-wise ops of
 * MobileNet- and EfficientNet-style networks (hardsigmoid, hardswish, silu,
 * leakyrelu, tanh, clip, division by a constant, mul with a [C][1][1]
 * operand broadcast, sub, softmax over channels).  The *_one element
 * functions also run in a convolution's epilogue (segc_epilogue.h); each
 * rounds once, half up.
 */
#ifndef SEGC_ACTIVATION_H
#define SEGC_ACTIVATION_H

#include "segc_epilogue.h"
#include "segc_fixed.h"
#include "segc_loops.h"

namespace segc {

/* num / (6 * 2^frac) as a word with FRAC_OUT fraction bits, rounded once. */
template <class P>
data_t sixth(acc_t num, int frac) {
    constexpr int FRAC_OUT = P::FRAC_OUT;
    acc_t den = (acc_t)6 << frac;
    if (FRAC_OUT >= 0) num *= (acc_t)1 << FRAC_OUT;
    else den *= (acc_t)1 << -FRAC_OUT;
    return saturate<P::BITS>(div_round(num, den));
}

/* relu6(x + 3) at G = max(FRAC_IN, 0) fraction bits (exact). */
template <class P>
acc_t relu6_shifted(data_t x) {
    constexpr int G = P::FRAC_IN > 0 ? P::FRAC_IN : 0;
    acc_t v = widen(x, P::FRAC_IN, G) + ((acc_t)3 << G);
    return v < 0 ? 0 : (v > ((acc_t)6 << G) ? (acc_t)6 << G : v);
}

/* hardsigmoid(x) = relu6(x + 3) / 6 */
template <class P>
data_t hardsigmoid_one(data_t x) {
    constexpr int G = P::FRAC_IN > 0 ? P::FRAC_IN : 0;
    return sixth<P>(relu6_shifted<P>(x), G);
}

/* hardswish(x) = x * relu6(x + 3) / 6 */
template <class P>
data_t hardswish_one(data_t x) {
    constexpr int G = P::FRAC_IN > 0 ? P::FRAC_IN : 0;
    return sixth<P>(widen(x, P::FRAC_IN, G) * relu6_shifted<P>(x), 2 * G);
}

/* leakyrelu: x for x >= 0, else x * SLOPE / 2^15 (SLOPE: the slope in 2^-15 units). */
template <class P>
data_t leakyrelu_one(data_t x) {
    if (x >= 0) return requantize<P::BITS>(x, P::FRAC_IN - P::FRAC_OUT);
    return requantize<P::BITS>((acc_t)x * P::SLOPE, P::FRAC_IN + 15 - P::FRAC_OUT);
}

/* clip to [LOW, HIGH] (in 2^-G units, G = max(FRAC_IN, FRAC_OUT)); HAS_LOW/HAS_HIGH: bounded below/above. */
template <class P>
data_t clip_one(data_t x) {
    constexpr int G = P::FRAC_IN > P::FRAC_OUT ? P::FRAC_IN : P::FRAC_OUT;
    acc_t v = widen(x, P::FRAC_IN, G);
    if (P::HAS_LOW && v < P::LOW) v = P::LOW;
    if (P::HAS_HIGH && v > P::HIGH) v = P::HIGH;
    return requantize<P::BITS>(v, G - P::FRAC_OUT);
}

/* x / by as x * M / 2^R (M: 1/by rounded to 16 significant bits). */
template <class P>
data_t div_one(data_t x) {
    return requantize<P::BITS>((acc_t)x * P::M, P::FRAC_IN + P::R - P::FRAC_OUT);
}

/* tanh(x) = 2 sigmoid(2x) - 1: the sigmoid table read at 2x, at FRAC_OUT + 1 bits. */
template <class P>
data_t tanh_one(data_t x, const int32_t* table) {
    static_assert(P::FRAC_OUT >= 0, "tanh's output lies in [-1, 1]");
    return saturate<P::BITS>(sigmoid_acc<P, P::FRAC_IN - 1, P::FRAC_OUT + 1>(x, table) - ((acc_t)1 << P::FRAC_OUT));
}

/* silu(x) = x * sigmoid(x), the sigmoid at 15 fraction bits. */
template <class P>
data_t silu_one(data_t x, const int32_t* table) {
    return requantize<P::BITS>((acc_t)x * sigmoid_acc<P, P::FRAC_IN, 15>(x, table), P::FRAC_IN + 15 - P::FRAC_OUT);
}

#define SEGC_ELEMENTWISE_KERNEL(name)                                                    \
    template <class P>                                                                   \
    void name(const data_t* in, data_t* out) {                                           \
        for_each_index<P::N>([&](long i) { out[i] = name##_one<P>(in[i]); });            \
    }
#define SEGC_TABLE_KERNEL(name)                                                          \
    template <class P>                                                                   \
    void name(const data_t* in, const int32_t* table, data_t* out) {                     \
        for_each_index<P::N>([&](long i) { out[i] = name##_one<P>(in[i], table); });     \
    }
SEGC_ELEMENTWISE_KERNEL(hardsigmoid)
SEGC_ELEMENTWISE_KERNEL(hardswish)
SEGC_ELEMENTWISE_KERNEL(leakyrelu)
SEGC_ELEMENTWISE_KERNEL(clip)
SEGC_ELEMENTWISE_KERNEL(div)
SEGC_TABLE_KERNEL(tanh)
SEGC_TABLE_KERNEL(silu)
#undef SEGC_ELEMENTWISE_KERNEL
#undef SEGC_TABLE_KERNEL

/* y = a * b, b of [C][1][1] when BROADCAST (one word per channel of HW pixels), rounded once. */
template <class P>
void mul(const data_t* a, const data_t* b, data_t* out) {
    for_each_word<P::C, 1, P::HW>([&](int c, int, int i) {
        const long k = (long)c * P::HW + i;
        const acc_t other = P::BROADCAST ? b[c] : b[k];
        out[k] = requantize<P::BITS>((acc_t)a[k] * other, P::FRAC_IN0 + P::FRAC_IN1 - P::FRAC_OUT);
    });
}

/* y = a - b, both aligned to FRAC_ACC = max of their fractions, rounded once. */
template <class P>
void sub(const data_t* a, const data_t* b, data_t* out) {
    for_each_index<P::N>([&](long i) {
        const acc_t v = widen(a[i], P::FRAC_IN0, P::FRAC_ACC) - widen(b[i], P::FRAC_IN1, P::FRAC_ACC);
        out[i] = requantize<P::BITS>(v, P::FRAC_ACC - P::FRAC_OUT);
    });
}

/* Softmax over the C channels of each of HW pixels, in three passes: the
 * largest word m, the sum S of exp(x - m) and exp(x - m) / S rounded once;
 * exp from a table of round(2^15 exp(x)) at x = X_MIN + n 2^-STEP_BITS
 * (the sigmoid's layout, so exp(0) = 1 is exact and S >= 1). */
template <class P>
void softmax(const data_t* in, const int32_t* table, data_t* out) {
    static_assert(P::FRAC_OUT >= 0, "softmax's output lies in [0, 1]");
pixels:
    for (int i = 0; i < P::HW; ++i) {
        auto word = [&](int c) { return in[(long)c * P::HW + i]; };
        data_t m = word(0);
        for (int c = 1; c < P::C; ++c) m = word(c) > m ? word(c) : m;
        auto e = [&](int c) { return sigmoid_acc<P, P::FRAC_IN, 15>((acc_t)word(c) - m, table); };
        acc_t sum = 0;
        for (int c = 0; c < P::C; ++c) sum += e(c);
        for (int c = 0; c < P::C; ++c) out[(long)c * P::HW + i] = saturate<P::BITS>(div_round(e(c) << P::FRAC_OUT, sum));
    }
}

}  // namespace segc

#endif /* SEGC_ACTIVATION_H */
