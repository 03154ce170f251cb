/* segc HLS kernel library: convolution (stride, dilation, padding, groups)
 * and fully connected layers, tiled and unrolled as the accelerator of
 * Mori et al. (DAC 2022, Sec. 3.1): the output is computed tile by tile
 * (TOX x TOY output pixels read a TIX x TIY input tile into an on-chip
 * buffer), and each pipelined step multiplies a P_of x P_if x P_ky x P_kx
 * block of weights with input pixels (the unrolled loops).
 *
 *   out[o, y, x] = b[o] + sum_{c, i, j} W[o, c, i, j] * in[g*CIG + c, y*SH - PH + i*DH, x*SW - PW + j*DW]
 *
 * over the CIG = CI / GROUPS input channels of the output's group g, with
 * zero padding.  Weights are [CO][CIG][KH][KW], tensors [C][H][W].  Products
 * are exact (fraction FRAC_IN + FRAC_W) and summed in 64 bits with the bias
 * (fraction FRAC_B <= FRAC_IN + FRAC_W); the sum is requantized once.
 * CLAMPED: the consumer clamps the output to a range the format holds (the
 * offsets of a bounded deformable convolution), so saturation is not counted.
 *
 * Tile buffer along one axis: a dense window of TI = (TO - 1)S + (K - 1)D + 1
 * input pixels (load step LD = 1, tap step BD = D), or, for a dilated layer
 * computed one output pixel at a time, only its K dilated taps (TI = K,
 * LD = D, BD = 1), as the paper's accelerator fetches them.
 */
#ifndef SEGC_CONV_H
#define SEGC_CONV_H

#include "segc_fixed.h"

namespace segc {

template <class P>
void conv_load_tile(const data_t* in, int g, int ty, int tx, data_t buf[P::CI / P::GROUPS][P::TIY][P::TIX]) {
    constexpr int CIG = P::CI / P::GROUPS;
load_channels:
    for (int c = 0; c < CIG; ++c) {
    load_rows:
        for (int by = 0; by < P::TIY; ++by) {
            const int iy = ty * P::SH - P::PH + by * P::LDY;
        load_cols:
            for (int bx = 0; bx < P::TIX; ++bx) {
#pragma HLS PIPELINE II=1
                const int ix = tx * P::SW - P::PW + bx * P::LDX;
                const bool inside = iy >= 0 && iy < P::H && ix >= 0 && ix < P::W;
                buf[c][by][bx] = inside ? in[((g * CIG + c) * P::H + iy) * P::W + ix] : (data_t)0;
            }
        }
    }
}

/* One output pixel (oy, ox) of the tile, output channels co0 .. co0+POF-1
 * of group g. */
template <class P>
void conv_pixel(const data_t buf[P::CI / P::GROUPS][P::TIY][P::TIX], const data_t* weight, const data_t* bias,
                int g, int co0, int oy, int ox, acc_t acc[P::POF]) {
    constexpr int CIG = P::CI / P::GROUPS, COG = P::CO / P::GROUPS;
    constexpr int FA = P::FRAC_IN + P::FRAC_W;
init:
    for (int po = 0; po < P::POF; ++po) {
#pragma HLS UNROLL
        const int co = g * COG + co0 + po;
        acc[po] = (P::BIAS && co0 + po < COG) ? widen(bias[co], P::FRAC_B, FA) : (acc_t)0;
    }
in_blocks:
    for (int ci0 = 0; ci0 < CIG; ci0 += P::PIF) {
    kernel_rows:
        for (int ky0 = 0; ky0 < P::KH; ky0 += P::PKY) {
        kernel_cols:
            for (int kx0 = 0; kx0 < P::KW; kx0 += P::PKX) {
#pragma HLS PIPELINE II=1
            unroll_of:
                for (int po = 0; po < P::POF; ++po) {
#pragma HLS UNROLL
                    if (co0 + po >= COG) continue;
                    const int co = g * COG + co0 + po;
                unroll_if:
                    for (int pi = 0; pi < P::PIF; ++pi) {
#pragma HLS UNROLL
                        const int ci = ci0 + pi;
                        if (ci >= CIG) continue;
                    unroll_ky:
                        for (int pky = 0; pky < P::PKY; ++pky) {
#pragma HLS UNROLL
                            const int ky = ky0 + pky;
                            if (ky >= P::KH) continue;
                            const data_t* w = weight + ((co * CIG + ci) * P::KH + ky) * P::KW;
                            const data_t* row = buf[ci][oy * P::SH + ky * P::BDY] + ox * P::SW;
                        unroll_kx:
                            for (int pkx = 0; pkx < P::PKX; ++pkx) {
#pragma HLS UNROLL
                                const int kx = kx0 + pkx;
                                if (kx < P::KW) acc[po] += (acc_t)row[kx * P::BDX] * w[kx];
                            }
                        }
                    }
                }
            }
        }
    }
}

template <class P>
void conv2d(const data_t* in, const data_t* weight, const data_t* bias, data_t* out) {
    constexpr int COG = P::CO / P::GROUPS;
    constexpr int FA = P::FRAC_IN + P::FRAC_W;
    static data_t buf[P::CI / P::GROUPS][P::TIY][P::TIX];
tiles_y:
    for (int ty = 0; ty < P::HO; ty += P::TOY) {
    tiles_x:
        for (int tx = 0; tx < P::WO; tx += P::TOX) {
        groups:
            for (int g = 0; g < P::GROUPS; ++g) {
                conv_load_tile<P>(in, g, ty, tx, buf);
            out_blocks:
                for (int co0 = 0; co0 < COG; co0 += P::POF) {
                pixels_y:
                    for (int oy = 0; oy < P::TOY && ty + oy < P::HO; ++oy) {
                    pixels_x:
                        for (int ox = 0; ox < P::TOX && tx + ox < P::WO; ++ox) {
                            acc_t acc[P::POF];
#pragma HLS ARRAY_PARTITION variable=acc complete
                            conv_pixel<P>(buf, weight, bias, g, co0, oy, ox, acc);
                        write:
                            for (int po = 0; po < P::POF; ++po) {
#pragma HLS UNROLL
                                if (co0 + po >= COG) continue;
                                const int co = g * COG + co0 + po;
                                out[(co * P::HO + ty + oy) * P::WO + tx + ox] =
                                    requantize(acc[po], FA - P::FRAC_OUT, !P::CLAMPED);
                            }
                        }
                    }
                }
            }
        }
    }
}

/* out[o] = b[o] + sum_c W[o, c] * in[c]; weights [CO][CI]. */
template <class P>
void linear(const data_t* in, const data_t* weight, const data_t* bias, data_t* out) {
    constexpr int FA = P::FRAC_IN + P::FRAC_W;
out_blocks:
    for (int co0 = 0; co0 < P::CO; co0 += P::POF) {
        acc_t acc[P::POF];
#pragma HLS ARRAY_PARTITION variable=acc complete
    init:
        for (int po = 0; po < P::POF; ++po) {
#pragma HLS UNROLL
            const int co = co0 + po;
            acc[po] = (P::BIAS && co < P::CO) ? widen(bias[co], P::FRAC_B, FA) : (acc_t)0;
        }
    in_blocks:
        for (int ci0 = 0; ci0 < P::CI; ci0 += P::PIF) {
#pragma HLS PIPELINE II=1
        unroll_of:
            for (int po = 0; po < P::POF; ++po) {
#pragma HLS UNROLL
                if (co0 + po >= P::CO) continue;
            unroll_if:
                for (int pi = 0; pi < P::PIF; ++pi) {
#pragma HLS UNROLL
                    const int ci = ci0 + pi;
                    if (ci < P::CI) acc[po] += (acc_t)in[ci] * weight[(co0 + po) * P::CI + ci];
                }
            }
        }
    write:
        for (int po = 0; po < P::POF; ++po) {
#pragma HLS UNROLL
            if (co0 + po < P::CO) out[co0 + po] = requantize(acc[po], FA - P::FRAC_OUT);
        }
    }
}

}  // namespace segc

#endif /* SEGC_CONV_H */
