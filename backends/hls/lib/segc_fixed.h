/* segc HLS kernel library: fixed point and integer words of 2 to 16 bits.
 *
 * A tensor is stored as int16_t words q with a per-tensor number of fraction
 * bits f: the value is q / 2^f (f may be negative).  Products and sums are
 * formed exactly in 64-bit accumulators; a result with fraction bits fa is
 * brought to the output's f by requantize(acc, fa - f):
 *
 *   shift > 0:  floor((acc + 2^(shift-1)) / 2^shift)   (round half up)
 *   shift <= 0: acc * 2^-shift                          (exact)
 *
 * then saturated to the layer's width BITS (2 to 16 bits: words are held in
 * int16_t, clamped to [-2^(BITS-1), 2^(BITS-1) - 1]).  An integer-scheme
 * layer (segc_pe.h) scales its sum by an integer multiplier m and a right
 * shift instead, rescale(acc, m, shift), rounded and saturated the same way.
 * An int-scheme activation's word is worth r / q_max, not 2^-f: a kernel
 * between scales that are not a power of two apart multiplies by its
 * RQ_M / 2^RQ_SHIFT as it requantizes (requantize_out).
 * backends/hls/intref.py computes the same integers in numpy.  Plain
 * C++17, no vendor headers: g++ compiles it for C simulation, Vitis HLS
 * synthesises it (the pragmas are ignored by g++).
 */
#ifndef SEGC_FIXED_H
#define SEGC_FIXED_H

#include <cstdint>
#include <type_traits>
#ifndef __SYNTHESIS__
#include <cmath>
#include <cstdio>
#endif

namespace segc {

typedef int16_t data_t;  /* activations, weights, biases, tables */
typedef int64_t acc_t;   /* accumulators */

/* A network input or output in the DRAM arena (the test bench's view). */
struct tensor_info {
    const char* name;
    long offset;  /* first word in the arena */
    long words;
    int frac;     /* fraction bits */
    int bits;     /* word width */
    double scale; /* the value of one word where it is not 2^-frac (an int-scheme tensor), else 0 */
};

static const acc_t DATA_MAX = 32767;
static const acc_t DATA_MIN = -32768;

/* Number of results that saturated (C simulation only). */
#ifndef __SYNTHESIS__
inline long& saturations() {
    static long count = 0;
    return count;
}
#endif

/* Reads of a bounded deformable layer that fell outside its line buffer and
 * went to DRAM (C simulation only; zero when the buffered rows are right). */
#ifndef __SYNTHESIS__
inline long& line_buffer_misses() {
    static long count = 0;
    return count;
}
#endif

/* Layer tracing (C simulation only): when trace_file() is open, every
 * layer's output is appended to it as float32 values, in execution order. */
#ifndef __SYNTHESIS__
inline FILE*& trace_file() {
    static FILE* file = nullptr;
    return file;
}

inline void trace(const data_t* data, long words, int frac) {
    if (!trace_file()) return;
    for (long i = 0; i < words; ++i) {
        const float v = (float)std::ldexp((double)data[i], -frac);
        std::fwrite(&v, sizeof v, 1, trace_file());
    }
}
/* The same for a tensor whose words are worth `scale` each (an int-scheme tensor). */
inline void trace_scaled(const data_t* data, long words, double scale) {
    if (!trace_file()) return;
    for (long i = 0; i < words; ++i) {
        const float v = (float)((double)data[i] * scale);
        std::fwrite(&v, sizeof v, 1, trace_file());
    }
}
#define SEGC_TRACE(data, words, frac) segc::trace(data, words, frac)
#define SEGC_TRACE_SCALED(data, words, scale) segc::trace_scaled(data, words, scale)
#else
#define SEGC_TRACE(data, words, frac)
#define SEGC_TRACE_SCALED(data, words, scale)
#endif

/* v clamped to the BITS-bit range [-2^(BITS-1), 2^(BITS-1) - 1] (a layer's
 * width, at most 16); `count`: a clamped value is counted as a saturation
 * (not where a clamp follows anyway, as for bounded offsets). */
template <int BITS = 16>
inline data_t saturate(acc_t v, bool count = true) {
    static_assert(BITS >= 2 && BITS <= 16, "words of 2 to 16 bits");
    constexpr acc_t HIGH = ((acc_t)1 << (BITS - 1)) - 1, LOW = -((acc_t)1 << (BITS - 1));
    if (v > HIGH || v < LOW) {
#ifndef __SYNTHESIS__
        if (count) {
#pragma omp atomic
            ++saturations();
        }
#endif
        return (data_t)(v > HIGH ? HIGH : LOW);
    }
    return (data_t)v;
}

/* v clamped to the range of `bits`-bit words (the test bench's inputs). */
inline data_t saturate_bits(acc_t v, int bits) {
    const acc_t high = ((acc_t)1 << (bits - 1)) - 1, low = -((acc_t)1 << (bits - 1));
#ifndef __SYNTHESIS__
    if (v > high || v < low) ++saturations();
#endif
    return (data_t)(v > high ? high : (v < low ? low : v));
}

/* acc * 2^-shift rounded half up (exact for shift <= 0), not saturated;
 * a left shift that would leave the 16-bit range returns a saturating value. */
inline acc_t shift_round(acc_t acc, int shift) {
    if (shift > 0) {
        if (shift > 62) return 0;
        return (acc + ((acc_t)1 << (shift - 1))) >> shift;  /* arithmetic shift: floor */
    }
    if (shift < 0) {
        if (shift < -47) return acc > 0 ? DATA_MAX + 1 : (acc < 0 ? DATA_MIN - 1 : 0);
        const acc_t limit = (acc_t)1 << (62 + shift);
        if (acc >= limit || acc <= -limit) return acc > 0 ? DATA_MAX + 1 : DATA_MIN - 1;
        return acc * ((acc_t)1 << -shift);
    }
    return acc;
}

/* An accumulator with fraction bits fa as a BITS-bit word with fraction bits f. */
template <int BITS = 16>
inline data_t requantize(acc_t acc, int shift, bool count = true) {
    return saturate<BITS>(shift_round(acc, shift), count);
}

/* An accumulator times m / 2^shift, rounded half up, as a BITS-bit word: the
 * requantization of an integer-scheme layer (shift in [0, 62], |acc * m| < 2^62
 * by construction). */
template <int BITS>
inline data_t rescale(acc_t acc, acc_t m, int shift, bool count = true) {
    return saturate<BITS>(shift_round(acc * m, shift), count);
}

/* The extra factor RQ_M / 2^RQ_SHIFT of a kernel whose input and output
 * scales are not a power of two apart (an int-scheme tensor's r / q_max):
 * 1 for a configuration without RQ_M, so fixed point is unchanged. */
template <class P, class = void>
struct out_scale {
    static constexpr acc_t M = 1;
    static constexpr int SHIFT = 0;
};
template <class P>
struct out_scale<P, std::void_t<decltype(P::RQ_M)>> {
    static constexpr acc_t M = P::RQ_M;
    static constexpr int SHIFT = P::RQ_SHIFT;
};

/* requantize(acc, shift) with the kernel's extra factor, rounded once. */
template <class P>
inline data_t requantize_out(acc_t acc, int shift, bool count = true) {
    if constexpr (out_scale<P>::M == 1) {
        return requantize<P::BITS>(acc, shift, count);
    } else {
        return saturate<P::BITS>(shift_round(acc * out_scale<P>::M, shift + out_scale<P>::SHIFT), count);
    }
}

/* v limited to [lo, hi]. */
inline acc_t clamp(acc_t v, acc_t lo, acc_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* floor(num / den) for den > 0. */
inline acc_t floor_div(acc_t num, acc_t den) {
    acc_t q = num / den;
    return (num % den != 0 && num < 0) ? q - 1 : q;
}

/* num / den rounded half up, for den > 0. */
inline acc_t div_round(acc_t num, acc_t den) {
    return floor_div(2 * num + den, 2 * den);
}

/* v * 2^-bits rounded half to even (torch.round), for the integer offsets
 * of deformable convolution. */
inline acc_t round_even(acc_t v, int bits) {
    if (bits <= 0) return v * ((acc_t)1 << -bits);
    const acc_t one = (acc_t)1 << bits;
    const acc_t low = v & (one - 1);
    const acc_t floor_v = v >> bits;
    const acc_t half = one >> 1;
    if (low > half) return floor_v + 1;
    if (low < half) return floor_v;
    return (floor_v & 1) ? floor_v + 1 : floor_v;
}

/* A word with fraction bits f_from as an accumulator with fraction bits
 * f_to >= f_from (exact). */
inline acc_t widen(data_t v, int f_from, int f_to) {
    return (acc_t)v * ((acc_t)1 << (f_to - f_from));
}

}  // namespace segc

#endif /* SEGC_FIXED_H */
