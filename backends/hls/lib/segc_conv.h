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
 *
 * On chip (Eq. 1-4): per output tile the input tile buf[CI/GROUPS][TIY][TIX];
 * per block of POF output channels the weight block wbuf[POF][CI/GROUPS][KH][KW]
 * and its biases, each loaded by a pipelined copy loop from the AXI ports; the
 * multiply-accumulate loops read only these buffers.  Each output word goes
 * through the layer's epilogue (segc_epilogue.h: the layers fused into the
 * convolution's pipeline) before it is written.
 */
#ifndef SEGC_CONV_H
#define SEGC_CONV_H

#include "segc_epilogue.h"
#include "segc_fixed.h"
#include "segc_loops.h"
#include "segc_pe.h"

namespace segc {

/* The input tile of output tile (ty, tx) for group g: buf[c][by][bx] holds
 * input row tap(ty, by, SH, PH, LDY), column tap(tx, bx, SW, PW, LDX) of the
 * group's channel c, zero in the padding. */
template <class P>
void conv_load_tile(const data_t* in, int g, int ty, int tx, data_t buf[P::CI / P::GROUPS][P::TIY][P::TIX]) {
    constexpr int CIG = P::CI / P::GROUPS;
    for_each_word<CIG, P::TIY, P::TIX>([&](int c, int by, int bx) {
        const int iy = tap(ty, by, P::SH, P::PH, P::LDY), ix = tap(tx, bx, P::SW, P::PW, P::LDX);
        buf[c][by][bx] = inside<P::H, P::W>(iy, ix) ? in[at<P::H, P::W>(g * CIG + c, iy, ix)] : (data_t)0;
    });
}

/* The weights (and biases) of output channels co0 .. co0+POF-1 of group g. */
template <class P>
void conv_load_weights(const data_t* weight, const data_t* bias, int g, int co0,
                       data_t wbuf[P::POF][P::CI / P::GROUPS][P::KH][P::KW], data_t bbuf[P::POF]) {
    constexpr int CIG = P::CI / P::GROUPS, COG = P::CO / P::GROUPS, KK = P::KH * P::KW;
load_weight_outs:
    for (int po = 0; po < P::POF; ++po) {
        const int co = g * COG + co0 + po;
        if (co0 + po >= COG) continue;
        bbuf[po] = P::BIAS ? bias[co] : (data_t)0;
        for_each_index<CIG * KK>([&](long i) {
            wbuf[po][i / KK][i % KK / P::KW][i % P::KW] = weight[(long)co * CIG * KK + i];
        });
    }
}

/* One output pixel (oy, ox) of the tile, the `active` output channels
 * co0 .. of the weight block: each pipelined step multiplies a
 * POF x PIF x PKY x PKX block of weights with input pixels. */
template <class P>
void conv_pixel(const data_t buf[P::CI / P::GROUPS][P::TIY][P::TIX],
                const data_t wbuf[P::POF][P::CI / P::GROUPS][P::KH][P::KW], const data_t bbuf[P::POF],
                int active, int oy, int ox, acc_t acc[P::POF]) {
    constexpr int CIG = P::CI / P::GROUPS;
    mac_init<P>(acc, bbuf, active);
in_blocks:
    for (int ci0 = 0; ci0 < CIG; ci0 += P::PIF) {
    kernel_rows:
        for (int ky0 = 0; ky0 < P::KH; ky0 += P::PKY) {
        kernel_cols:
            for (int kx0 = 0; kx0 < P::KW; kx0 += P::PKX) {
#pragma HLS PIPELINE II=1
                lanes<P::POF>(0, active, [&](int po) {
                    lanes<P::PIF>(ci0, CIG, [&](int ci) {
                        lanes<P::PKY>(ky0, P::KH, [&](int ky) {
                            const data_t* w = wbuf[po][ci][ky];
                            const data_t* row = buf[ci][oy * P::SH + ky * P::BDY] + ox * P::SW;
                            lanes<P::PKX>(kx0, P::KW, [&](int kx) { acc[po] += (acc_t)row[kx * P::BDX] * w[kx]; });
                        });
                    });
                });
            }
        }
    }
}

template <class P, class E>
void conv2d(const data_t* in, const data_t* weight, const data_t* bias, E& epilogue) {
    constexpr int CIG = P::CI / P::GROUPS, COG = P::CO / P::GROUPS;
    static data_t buf[CIG][P::TIY][P::TIX];
#pragma HLS ARRAY_PARTITION variable=buf cyclic factor=P::PIF dim=1
    static data_t wbuf[P::POF][CIG][P::KH][P::KW];
#pragma HLS ARRAY_PARTITION variable=wbuf complete dim=1
#pragma HLS ARRAY_PARTITION variable=wbuf cyclic factor=P::PIF dim=2
#pragma HLS ARRAY_PARTITION variable=wbuf cyclic factor=P::PKY dim=3
#pragma HLS ARRAY_PARTITION variable=wbuf cyclic factor=P::PKX dim=4
    static data_t bbuf[P::POF];
#pragma HLS ARRAY_PARTITION variable=bbuf complete
tiles_y:
    for (int ty = 0; ty < P::HO; ty += P::TOY) {
    tiles_x:
        for (int tx = 0; tx < P::WO; tx += P::TOX) {
        groups:
            for (int g = 0; g < P::GROUPS; ++g) {
                conv_load_tile<P>(in, g, ty, tx, buf);
            out_blocks:
                for (int co0 = 0; co0 < COG; co0 += P::POF) {
                    conv_load_weights<P>(weight, bias, g, co0, wbuf, bbuf);
                pixels_y:
                    for (int oy = 0; oy < P::TOY && ty + oy < P::HO; ++oy) {
                    pixels_x:
                        for (int ox = 0; ox < P::TOX && tx + ox < P::WO; ++ox) {
                            acc_t acc[P::POF];
#pragma HLS ARRAY_PARTITION variable=acc complete
                            conv_pixel<P>(buf, wbuf, bbuf, COG - co0, oy, ox, acc);
                            mac_write<P>(acc, COG - co0, !P::CLAMPED, [&](data_t v, int po) {
                                epilogue(v, g * COG + co0 + po, ty + oy, tx + ox);
                            });
                        }
                    }
                }
            }
        }
    }
}

/* A convolution with nothing fused: its words written to out. */
template <class P>
void conv2d(const data_t* in, const data_t* weight, const data_t* bias, data_t* out) {
    writer<P::HO, P::WO> store{out};
    conv2d<P>(in, weight, bias, store);
}

/* out[o] = b[o] + sum_c W[o, c] * in[c]; weights [CO][CI].  The input
 * vector is copied on chip once, each block of POF weight rows before its
 * multiply-accumulates. */
template <class P, class E>
void linear(const data_t* in, const data_t* weight, const data_t* bias, E& epilogue) {
    static data_t xbuf[P::CI];
#pragma HLS ARRAY_PARTITION variable=xbuf cyclic factor=P::PIF
    static data_t wbuf[P::POF][P::CI];
#pragma HLS ARRAY_PARTITION variable=wbuf complete dim=1
#pragma HLS ARRAY_PARTITION variable=wbuf cyclic factor=P::PIF dim=2
    for_each_index<P::CI>([&](long ci) { xbuf[ci] = in[ci]; });
out_blocks:
    for (int co0 = 0; co0 < P::CO; co0 += P::POF) {
        const int active = P::CO - co0;
        acc_t acc[P::POF];
#pragma HLS ARRAY_PARTITION variable=acc complete
        data_t bbuf[P::POF];
#pragma HLS ARRAY_PARTITION variable=bbuf complete
    load_weights:
        for (int po = 0; po < P::POF && po < active; ++po) {
            bbuf[po] = P::BIAS ? bias[co0 + po] : (data_t)0;
            for_each_index<P::CI>([&](long ci) { wbuf[po][ci] = weight[(long)(co0 + po) * P::CI + ci]; });
        }
        mac_init<P>(acc, bbuf, active);
    in_blocks:
        for (int ci0 = 0; ci0 < P::CI; ci0 += P::PIF) {
#pragma HLS PIPELINE II=1
            lanes<P::POF>(0, active, [&](int po) {
                lanes<P::PIF>(ci0, P::CI, [&](int ci) { acc[po] += (acc_t)xbuf[ci] * wbuf[po][ci]; });
            });
        }
        mac_write<P>(acc, active, true, [&](data_t v, int po) { epilogue(v, co0 + po, 0, 0); });
    }
}

template <class P>
void linear(const data_t* in, const data_t* weight, const data_t* bias, data_t* out) {
    writer<1, 1> store{out};
    linear<P>(in, weight, bias, store);
}

}  // namespace segc

#endif /* SEGC_CONV_H */
