/* segc HLS kernel library: pooling and resizing, PyTorch's semantics.
 *
 * Max pooling: the largest input in the window (padding never wins).
 * Average pooling (count_include_pad): window rows hstart = y*SH - PH,
 * hend = min(hstart + KH, H + PH), divided by (hend - hstart)(wend - wstart)
 * before clipping to the input, as torch.nn.AvgPool2d; the sum of the inputs
 * is divided with rounding half up.  Global average pooling divides by H*W.
 * Both are pool2d, one window loop templated on the reduction (the inputs of
 * the window that lie in the image: max_reduction, average_reduction).
 *
 * Resizing reads per-row and per-column tables computed from the IR by the
 * generator with torch's coordinate rules (nearest: the source index;
 * bilinear: both neighbours and the weight of the second in 2^-15 units).
 *   bilinear: y = (1-ly)((1-lx) a + lx b) + ly((1-lx) c + lx d), exact in
 *   FRAC_IN + 30 fraction bits, requantized once.
 */
#ifndef SEGC_POOL_H
#define SEGC_POOL_H

#include "segc_fixed.h"
#include "segc_loops.h"

namespace segc {

/* sum * 2^(FRAC_OUT - FRAC_IN) / count (times the kernel's extra factor
 * RQ_M / 2^RQ_SHIFT, out_scale), rounded half up. */
template <class P>
data_t average(acc_t sum, acc_t count) {
    constexpr int DROP = P::FRAC_IN - P::FRAC_OUT + out_scale<P>::SHIFT;
    constexpr int UP = DROP < 0 ? -DROP : 0;
    constexpr int DOWN = DROP > 0 ? DROP : 0;
    return saturate<P::BITS>(div_round(sum * out_scale<P>::M * ((acc_t)1 << UP), count * ((acc_t)1 << DOWN)));
}

/* The reductions of pool2d: add(v) for each input word of a window (taps in
 * the padding excluded), then result(y0, x0), the window starting at input
 * row y0 and column x0 (which may lie in the padding). */
template <class P>
struct max_reduction {
    acc_t best = DATA_MIN - 1;
    void add(acc_t v) { best = v > best ? v : best; }
    data_t result(int, int) const { return requantize_out<P>(best, P::FRAC_IN - P::FRAC_OUT); }
};

template <class P>
struct average_reduction {
    acc_t sum = 0;
    void add(acc_t v) { sum += v; }
    /* divided by the window clipped to the padded image (count_include_pad) */
    data_t result(int y0, int x0) const {
        const int y1 = y0 + P::KH < P::H + P::PH ? y0 + P::KH : P::H + P::PH;
        const int x1 = x0 + P::KW < P::W + P::PW ? x0 + P::KW : P::W + P::PW;
        return average<P>(sum, (acc_t)(y1 - y0) * (x1 - x0));
    }
};

/* out[c, y, x] = R's reduction of the inputs in the KH x KW window of
 * output pixel (y, x), stride (SH, SW), padding (PH, PW). */
template <class P, template <class> class R>
void pool2d(const data_t* in, data_t* out) {
    for_each_word<P::C, P::HO, P::WO>([&](int c, int y, int x) {
        R<P> reduction;
        for_each_tap<P::KH, P::KW>([&](int i, int j) {
            const int iy = tap(y, i, P::SH, P::PH), ix = tap(x, j, P::SW, P::PW);
            if (inside<P::H, P::W>(iy, ix)) reduction.add(in[at<P::H, P::W>(c, iy, ix)]);
        });
        out[at<P::HO, P::WO>(c, y, x)] = reduction.result(tap(y, 0, P::SH, P::PH), tap(x, 0, P::SW, P::PW));
    });
}

template <class P>
void max_pool(const data_t* in, data_t* out) {
    pool2d<P, max_reduction>(in, out);
}

template <class P>
void avg_pool(const data_t* in, data_t* out) {
    pool2d<P, average_reduction>(in, out);
}

template <class P>
void global_avg_pool(const data_t* in, data_t* out) {
    constexpr long PIXELS = (long)P::H * P::W;
channels:
    for (int c = 0; c < P::C; ++c) {
        acc_t sum = 0;
        for_each_index<PIXELS>([&](long i) { sum += in[c * PIXELS + i]; });
        out[c] = average<P>(sum, PIXELS);
    }
}

template <class P>
void resize_nearest(const data_t* in, const int* rows, const int* cols, data_t* out) {
    for_each_word<P::C, P::HO, P::WO>([&](int c, int y, int x) {
        const acc_t v = in[at<P::H, P::W>(c, rows[y], cols[x])];
        out[at<P::HO, P::WO>(c, y, x)] = requantize_out<P>(v, P::FRAC_IN - P::FRAC_OUT);
    });
}

/* rows: [HO][3] = (y0, y1, ly in 2^-15); cols: [WO][3] likewise. */
template <class P>
void resize_bilinear(const data_t* in, const int* rows, const int* cols, data_t* out) {
    constexpr acc_t ONE = (acc_t)1 << 15;
    for_each_word<P::C, P::HO, P::WO>([&](int c, int y, int x) {
        const int* r = rows + 3 * y;
        const int* q = cols + 3 * x;
        const data_t* top = in + at<P::H, P::W>(c, r[0], 0);
        const data_t* bottom = in + at<P::H, P::W>(c, r[1], 0);
        const acc_t upper = (ONE - q[2]) * top[q[0]] + q[2] * top[q[1]];
        const acc_t lower = (ONE - q[2]) * bottom[q[0]] + q[2] * bottom[q[1]];
        const acc_t v = (ONE - r[2]) * upper + r[2] * lower;
        out[at<P::HO, P::WO>(c, y, x)] = requantize_out<P>(v, P::FRAC_IN + 30 - P::FRAC_OUT);
    });
}

}  // namespace segc

#endif /* SEGC_POOL_H */
