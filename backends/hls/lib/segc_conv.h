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

#include "segc_csim.h"
#include "segc_epilogue.h"
#include "segc_fixed.h"
#include "segc_loops.h"
#include "segc_pe.h"
#ifndef __SYNTHESIS__
#include <vector>
#endif

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

/* The convolution as synthesised: the PE array's loops. */
template <class P, class E>
void conv2d_pe(const data_t* in, const data_t* weight, const data_t* bias, E& epilogue) {
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
                            mac_write<P>(acc, COG - co0, g * COG + co0, !P::CLAMPED, [&](data_t v, int po) {
                                epilogue(v, g * COG + co0 + po, ty + oy, tx + ox);
                            });
                        }
                    }
                }
            }
        }
    }
}

#ifndef __SYNTHESIS__
/* The `rows` x `cols` output pixels of a tile as columns: col[p] holds the
 * CIG x KH x KW words of buf that pixel p (row-major) multiplies, in the
 * order of the weights, as conv_pixel reads them. */
template <class P>
void conv_columns(const data_t buf[P::CI / P::GROUPS][P::TIY][P::TIX], int rows, int cols, data_t* col) {
    for (int oy = 0; oy < rows; ++oy)
        for (int ox = 0; ox < cols; ++ox)
            for (int ci = 0; ci < P::CI / P::GROUPS; ++ci)
                for_each_tap<P::KH, P::KW>([&](int ky, int kx) {
                    *col++ = buf[ci][oy * P::SH + ky * P::BDY][ox * P::SW + kx * P::BDX];
                });
}

/* Output tile (ty, tx) of the convolution in C simulation: per group the
 * tile buffer, its columns, then each word one dot product of a weight row
 * with a column. */
template <class P, class E>
void conv_tile_csim(const data_t* in, const data_t* weight, const data_t* bias, int ty, int tx,
                    data_t buf[P::CI / P::GROUPS][P::TIY][P::TIX], data_t* col, E& epilogue) {
    constexpr int COG = P::CO / P::GROUPS;
    constexpr long TAPS = (long)P::CI / P::GROUPS * P::KH * P::KW;
    const int rows = P::HO - ty < P::TOY ? P::HO - ty : P::TOY, cols = P::WO - tx < P::TOX ? P::WO - tx : P::TOX;
    for (int g = 0; g < P::GROUPS; ++g) {
        conv_load_tile<P>(in, g, ty, tx, buf);
        conv_columns<P>(buf, rows, cols, col);
        for (int co = g * COG; co < (g + 1) * COG; ++co) {
            const acc_t start = mac_start<P>(bias, co);
            for (int p = 0; p < rows * cols; ++p) {
                const acc_t sum = start + dot(weight + co * TAPS, col + p * TAPS, TAPS);
                epilogue(mac_word<P>(sum, co, !P::CLAMPED), co, ty + p / cols, tx + p % cols);
            }
        }
    }
}

/* The convolution in C simulation (segc_csim.h): the tiles of conv2d_pe
 * shared among threads, each with its own tile buffer and columns. */
template <class P, class E>
void conv2d_csim(const data_t* in, const data_t* weight, const data_t* bias, E& epilogue) {
    constexpr int TILES_X = (P::WO + P::TOX - 1) / P::TOX, TILES = (P::HO + P::TOY - 1) / P::TOY * TILES_X;
    typedef data_t tile_t[P::TIY][P::TIX];
#pragma omp parallel if (TILES > 1)
    {
        std::vector<data_t> buf((long)P::CI / P::GROUPS * P::TIY * P::TIX);
        std::vector<data_t> col((long)P::TOY * P::TOX * (P::CI / P::GROUPS) * P::KH * P::KW);
#pragma omp for schedule(static)
        for (int t = 0; t < TILES; ++t)
            conv_tile_csim<P>(in, weight, bias, t / TILES_X * P::TOY, t % TILES_X * P::TOX,
                              reinterpret_cast<tile_t*>(buf.data()), col.data(), epilogue);
    }
}
#endif

/* The convolution: the PE array's loops in synthesis (and in C simulation
 * with SEGC_PE_LOOPS), conv2d_csim otherwise. */
template <class P, class E>
void conv2d(const data_t* in, const data_t* weight, const data_t* bias, E& epilogue) {
#if defined(__SYNTHESIS__) || defined(SEGC_PE_LOOPS)
    conv2d_pe<P>(in, weight, bias, epilogue);
#else
    conv2d_csim<P>(in, weight, bias, epilogue);
#endif
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
        mac_write<P>(acc, active, co0, true, [&](data_t v, int po) { epilogue(v, co0 + po, 0, 0); });
    }
}

template <class P>
void linear(const data_t* in, const data_t* weight, const data_t* bias, data_t* out) {
    writer<1, 1> store{out};
    linear<P>(in, weight, bias, store);
}

}  // namespace segc

#endif /* SEGC_CONV_H */
