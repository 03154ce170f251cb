/* segc HLS kernel library: pooling and resizing, PyTorch's semantics.
 *
 * Max pooling: the largest input in the window (padding never wins).
 * Average pooling (count_include_pad): window rows hstart = y*SH - PH,
 * hend = min(hstart + KH, H + PH), divided by (hend - hstart)(wend - wstart)
 * before clipping to the input, as torch.nn.AvgPool2d; the sum of the inputs
 * is divided with rounding half up.  Global average pooling divides by H*W.
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

namespace segc {

template <class P>
void max_pool(const data_t* in, data_t* out) {
channels:
    for (int c = 0; c < P::C; ++c) {
    rows:
        for (int y = 0; y < P::HO; ++y) {
        cols:
            for (int x = 0; x < P::WO; ++x) {
#pragma HLS PIPELINE
                acc_t best = DATA_MIN - 1;
            window:
                for (int i = 0; i < P::KH; ++i) {
                    for (int j = 0; j < P::KW; ++j) {
                        const int iy = y * P::SH - P::PH + i, ix = x * P::SW - P::PW + j;
                        if (iy >= 0 && iy < P::H && ix >= 0 && ix < P::W) {
                            const acc_t v = in[(c * P::H + iy) * P::W + ix];
                            best = v > best ? v : best;
                        }
                    }
                }
                out[(c * P::HO + y) * P::WO + x] = requantize(best, P::FRAC_IN - P::FRAC_OUT);
            }
        }
    }
}

/* sum * 2^(FRAC_OUT - FRAC_IN) / count, rounded half up. */
template <class P>
data_t average(acc_t sum, acc_t count) {
    constexpr int UP = P::FRAC_OUT > P::FRAC_IN ? P::FRAC_OUT - P::FRAC_IN : 0;
    constexpr int DOWN = P::FRAC_IN > P::FRAC_OUT ? P::FRAC_IN - P::FRAC_OUT : 0;
    return saturate(div_round(sum * ((acc_t)1 << UP), count * ((acc_t)1 << DOWN)));
}

template <class P>
void avg_pool(const data_t* in, data_t* out) {
channels:
    for (int c = 0; c < P::C; ++c) {
    rows:
        for (int y = 0; y < P::HO; ++y) {
        cols:
            for (int x = 0; x < P::WO; ++x) {
#pragma HLS PIPELINE
                const int y0 = y * P::SH - P::PH, x0 = x * P::SW - P::PW;
                const int y1 = y0 + P::KH < P::H + P::PH ? y0 + P::KH : P::H + P::PH;
                const int x1 = x0 + P::KW < P::W + P::PW ? x0 + P::KW : P::W + P::PW;
                acc_t sum = 0;
            window:
                for (int iy = y0 > 0 ? y0 : 0; iy < (y1 < P::H ? y1 : P::H); ++iy) {
                    for (int ix = x0 > 0 ? x0 : 0; ix < (x1 < P::W ? x1 : P::W); ++ix) {
                        sum += in[(c * P::H + iy) * P::W + ix];
                    }
                }
                out[(c * P::HO + y) * P::WO + x] = average<P>(sum, (acc_t)(y1 - y0) * (x1 - x0));
            }
        }
    }
}

template <class P>
void global_avg_pool(const data_t* in, data_t* out) {
channels:
    for (int c = 0; c < P::C; ++c) {
        acc_t sum = 0;
    pixels:
        for (int i = 0; i < P::H * P::W; ++i) {
#pragma HLS PIPELINE II=1
            sum += in[c * P::H * P::W + i];
        }
        out[c] = average<P>(sum, (acc_t)P::H * P::W);
    }
}

template <class P>
void resize_nearest(const data_t* in, const int* rows, const int* cols, data_t* out) {
channels:
    for (int c = 0; c < P::C; ++c) {
    rows_out:
        for (int y = 0; y < P::HO; ++y) {
        cols_out:
            for (int x = 0; x < P::WO; ++x) {
#pragma HLS PIPELINE II=1
                const acc_t v = in[(c * P::H + rows[y]) * P::W + cols[x]];
                out[(c * P::HO + y) * P::WO + x] = requantize(v, P::FRAC_IN - P::FRAC_OUT);
            }
        }
    }
}

/* rows: [HO][3] = (y0, y1, ly in 2^-15); cols: [WO][3] likewise. */
template <class P>
void resize_bilinear(const data_t* in, const int* rows, const int* cols, data_t* out) {
    constexpr acc_t ONE = (acc_t)1 << 15;
channels:
    for (int c = 0; c < P::C; ++c) {
        const data_t* plane = in + c * P::H * P::W;
    rows_out:
        for (int y = 0; y < P::HO; ++y) {
            const int* r = rows + 3 * y;
            const data_t* top = plane + r[0] * P::W;
            const data_t* bottom = plane + r[1] * P::W;
        cols_out:
            for (int x = 0; x < P::WO; ++x) {
#pragma HLS PIPELINE II=1
                const int* q = cols + 3 * x;
                const acc_t upper = (ONE - q[2]) * top[q[0]] + q[2] * top[q[1]];
                const acc_t lower = (ONE - q[2]) * bottom[q[0]] + q[2] * bottom[q[1]];
                const acc_t v = (ONE - r[2]) * upper + r[2] * lower;
                out[(c * P::HO + y) * P::WO + x] = requantize(v, P::FRAC_IN + 30 - P::FRAC_OUT);
            }
        }
    }
}

}  // namespace segc

#endif /* SEGC_POOL_H */
