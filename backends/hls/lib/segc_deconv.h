/* segc HLS kernel library: transposed convolution (PyTorch's ConvTranspose2d),
 * computed in gather form, one output pixel at a time:
 *
 *   out[o, y, x] = b[o] + sum_{c, i, j} W[c, o - g*COG, i, j] * in[c, (y + PH - i*DH) / SH, (x + PW - j*DW) / SW]
 *
 * over the CIG = CI / GROUPS input channels c of the output's group g, the
 * taps whose position divides by the stride and lies inside the input.
 * Weights are [CI][COG][KH][KW] (input channels first), tensors [C][H][W].
 * As conv2d: products are exact (FRAC_IN + FRAC_W fraction bits), summed in
 * 64 bits with the bias, requantized once; a block of POF output channels
 * shares each input word (the unrolled lanes), its weights on chip.
 */
#ifndef SEGC_DECONV_H
#define SEGC_DECONV_H

#include "segc_fixed.h"
#include "segc_loops.h"
#include "segc_pe.h"

namespace segc {

/* The weights (and biases) of output channels co0 .. co0+POF-1 of group g. */
template <class P>
void deconv_load_weights(const data_t* weight, const data_t* bias, int g, int co0,
                         data_t wbuf[P::POF][P::CI / P::GROUPS][P::KH][P::KW], data_t bbuf[P::POF]) {
    constexpr int CIG = P::CI / P::GROUPS, COG = P::CO / P::GROUPS, KK = P::KH * P::KW;
    for (int po = 0; po < P::POF && co0 + po < COG; ++po) {
        bbuf[po] = P::BIAS ? bias[g * COG + co0 + po] : (data_t)0;
        for_each_index<CIG * KK>([&](long i) {
            const long c = i / KK, k = i % KK;
            wbuf[po][c][k / P::KW][k % P::KW] = weight[((g * CIG + c) * COG + co0 + po) * KK + k];
        });
    }
}

/* Input position along one axis that tap k of output o reads, or -1. */
template <int N, int S, int PAD, int D>
int deconv_source(int o, int k) {
    const int n = o + PAD - k * D;
    return (n < 0 || n % S || n / S >= N) ? -1 : n / S;
}

template <class P>
void deconv2d(const data_t* in, const data_t* weight, const data_t* bias, data_t* out) {
    constexpr int CIG = P::CI / P::GROUPS, COG = P::CO / P::GROUPS;
    static data_t wbuf[P::POF][CIG][P::KH][P::KW];
#pragma HLS ARRAY_PARTITION variable=wbuf complete dim=1
    static data_t bbuf[P::POF];
#pragma HLS ARRAY_PARTITION variable=bbuf complete
groups:
    for (int g = 0; g < P::GROUPS; ++g) {
    out_blocks:
        for (int co0 = 0; co0 < COG; co0 += P::POF) {
            deconv_load_weights<P>(weight, bias, g, co0, wbuf, bbuf);
        pixels_y:
            for (int y = 0; y < P::HO; ++y) {
            pixels_x:
                for (int x = 0; x < P::WO; ++x) {
                    acc_t acc[P::POF];
#pragma HLS ARRAY_PARTITION variable=acc complete
                    mac_init<P>(acc, bbuf, COG - co0);
                taps:
                    for (long t = 0; t < (long)CIG * P::KH * P::KW; ++t) {
#pragma HLS PIPELINE II=1
                        const int c = t / (P::KH * P::KW), i = t / P::KW % P::KH, j = t % P::KW;
                        const int iy = deconv_source<P::H, P::SH, P::PH, P::DH>(y, i);
                        const int ix = deconv_source<P::W, P::SW, P::PW, P::DW>(x, j);
                        if (iy < 0 || ix < 0) continue;
                        const acc_t v = in[at<P::H, P::W>(g * CIG + c, iy, ix)];
                        lanes<P::POF>(0, COG - co0, [&](int po) { acc[po] += v * wbuf[po][c][i][j]; });
                    }
                    mac_write<P>(acc, COG - co0, g * COG + co0, true, [&](data_t v, int po) {
                        out[at<P::HO, P::WO>(g * COG + co0 + po, y, x)] = v;
                    });
                }
            }
        }
    }
}

}  // namespace segc

#endif /* SEGC_DECONV_H */
