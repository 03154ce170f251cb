/* segc HLS kernel library: deformable convolution (Dai et al., ICCV 2017)
 * in CoDeNet's hardware-friendly variants (EMC2 2019), with the semantics
 * of segc's torch backend (backends/torch/deform.py).
 *
 * The offset branch is an ordinary convolution (conv2d) run before this
 * kernel; its output `off` has fraction bits FRAC_OFF and is
 *   shape "full":   [2*KH*KW*OG][HO][WO], (dy, dx) per offset group and tap;
 *   shape "square": [OG][HO][WO], one scale s per offset group and pixel.
 * Tap (i, j) of output pixel (y, x) in offset group g samples at
 *   (y*SH - PH + i*DH + dy, x*SW - PW + j*DW + dx)
 * with, for "square", (dy, dx) = ((i - (KH-1)/2) (s - 1) DH, (j - (KW-1)/2) (s - 1) DW).
 * Bounded (BOUNDED): full offsets clamped to [BOUND_LO, BOUND_HI] (= [-b, b]),
 * square scales to [1 - b, b].  Rounded (ROUND): offsets rounded half to even
 * (the square step (s - 1)d first), samples read directly; otherwise bilinear
 * interpolation of the four neighbours, zero outside the image.  Positions
 * carry F = FRAC_OFF + 1 fraction bits (half taps of even square kernels are
 * exact); bilinear weights 2F bits; a sample is requantized to FRAC_IN before
 * the multiply-accumulate of the convolution (weights [CO][CI/GROUPS][KH][KW]).
 * Input channel c belongs to offset group c / (CI/OG).
 *
 * Bounded layers (LB_ROWS > 0) sample from an on-chip line buffer: before
 * output row y, input rows [y*SH - PH + LB_FIRST, ... + LB_ROWS) of every
 * channel are in it (the generator derives the window from the clamp, kernel
 * and dilation: backends/hls/linebuffer.py), loading only the rows the
 * previous output row did not hold.  A read outside it goes to DRAM (so it
 * cannot change a result) and is counted (line_buffer_misses).  Unbounded
 * layers, and the weights, are read from DRAM directly.  Each output word
 * goes through the layer's epilogue (segc_epilogue.h).
 */
#ifndef SEGC_DEFORM_H
#define SEGC_DEFORM_H

#include "segc_epilogue.h"
#include "segc_fixed.h"
#include "segc_loops.h"
#include "segc_pe.h"

namespace segc {

template <class P>
void deform_offset(const data_t* off, int g, int i, int j, int pixel, acc_t& dy, acc_t& dx) {
    constexpr int F = P::FRAC_OFF + 1;
    constexpr int PIXELS = P::HO * P::WO;
    if (!P::SQUARE) {
        const int k = i * P::KW + j;
        dy = off[((g * P::KH * P::KW + k) * 2) * PIXELS + pixel];
        dx = off[((g * P::KH * P::KW + k) * 2 + 1) * PIXELS + pixel];
        if (P::BOUNDED) {
            dy = clamp(dy, P::BOUND_LO, P::BOUND_HI);
            dx = clamp(dx, P::BOUND_LO, P::BOUND_HI);
        }
        if (P::ROUND) {
            dy = round_even(dy, P::FRAC_OFF) * ((acc_t)1 << F);
            dx = round_even(dx, P::FRAC_OFF) * ((acc_t)1 << F);
        } else {
            dy *= 2;
            dx *= 2;
        }
        return;
    }
    acc_t s = off[g * PIXELS + pixel];
    if (P::BOUNDED) s = clamp(s, P::BOUND_LO, P::BOUND_HI);
    const acc_t step_y = (s - ((acc_t)1 << P::FRAC_OFF)) * P::DH;
    const acc_t step_x = (s - ((acc_t)1 << P::FRAC_OFF)) * P::DW;
    const int tap_y = 2 * i - (P::KH - 1), tap_x = 2 * j - (P::KW - 1);  /* twice the tap's distance */
    if (P::ROUND) {
        dy = round_even(tap_y * round_even(step_y, P::FRAC_OFF), 1) * ((acc_t)1 << F);
        dx = round_even(tap_x * round_even(step_x, P::FRAC_OFF), 1) * ((acc_t)1 << F);
    } else {
        dy = tap_y * step_y;
        dx = tap_x * step_x;
    }
}

/* The line buffer: input rows [first, first + ROWS) of every channel, row r
 * in slot r mod ROWS (a circular buffer of rows). */
template <class P>
struct row_window {
    static constexpr int ROWS = P::LB_ROWS > 0 ? P::LB_ROWS : 1;
    data_t rows[P::CI][ROWS][P::W];
    int first = 0, held = 0;  /* rows [first, first + held) are loaded */

    static int slot(int r) { return ((r % ROWS) + ROWS) % ROWS; }

    /* Hold the window of output row y, loading the rows not held yet. */
    void move_to(const data_t* in, int y) {
        const int lo = y * P::SH - P::PH + P::LB_FIRST;
        const int from = (lo >= first && lo < first + held) ? first + held : lo;
    load_rows:
        for (int r = from; r < lo + ROWS; ++r) {
            if (r < 0 || r >= P::H) continue;
        load_channels:
            for (int c = 0; c < P::CI; ++c) {
            load_cols:
                for (int x = 0; x < P::W; ++x) {
#pragma HLS PIPELINE II=1
                    rows[c][slot(r)][x] = in[at<P::H, P::W>(c, r, x)];
                }
            }
        }
        first = lo;
        held = ROWS;
    }
};

template <class P>
acc_t deform_read(const data_t* in, const row_window<P>& window, int c, acc_t y, acc_t x) {
    if (!inside<P::H, P::W>(y, x)) return 0;
    if (P::LB_ROWS > 0) {
        if (y >= window.first && y < window.first + window.held) return window.rows[c][window.slot(y)][x];
#ifndef __SYNTHESIS__
        ++line_buffer_misses();
#endif
    }
    return in[at<P::H, P::W>(c, y, x)];
}

/* The sample of channel c at position (py, px) (F fraction bits), as a word
 * with FRAC_IN fraction bits.  The row below is not read when its weight
 * ly is zero (its terms are zero whatever it holds). */
template <class P>
data_t deform_sample(const data_t* in, const row_window<P>& window, int c, acc_t py, acc_t px) {
    constexpr int F = P::FRAC_OFF + 1;
    const acc_t y0 = py >> F, x0 = px >> F;
    if (P::ROUND) return (data_t)deform_read<P>(in, window, c, y0, x0);
    const acc_t one = (acc_t)1 << F;
    const acc_t ly = py - y0 * one, lx = px - x0 * one;
    acc_t sum = deform_read<P>(in, window, c, y0, x0) * ((one - ly) * (one - lx))
              + deform_read<P>(in, window, c, y0, x0 + 1) * ((one - ly) * lx);
    if (ly != 0)
        sum += deform_read<P>(in, window, c, y0 + 1, x0) * (ly * (one - lx))
             + deform_read<P>(in, window, c, y0 + 1, x0 + 1) * (ly * lx);
    return requantize(sum, 2 * F);
}

template <class P>
void deform_columns(const data_t* in, const row_window<P>& window, const data_t* off, int y, int x,
                    data_t col[P::CI][P::KH * P::KW]) {
    constexpr int F = P::FRAC_OFF + 1;
    constexpr int PER_GROUP = P::CI / P::OFFSET_GROUPS;
sample_groups:
    for (int g = 0; g < P::OFFSET_GROUPS; ++g) {
        for_each_tap<P::KH, P::KW>([&](int i, int j) {
            acc_t dy, dx;
            deform_offset<P>(off, g, i, j, y * P::WO + x, dy, dx);
            const acc_t py = (acc_t)tap(y, i, P::SH, P::PH, P::DH) * ((acc_t)1 << F) + dy;
            const acc_t px = (acc_t)tap(x, j, P::SW, P::PW, P::DW) * ((acc_t)1 << F) + dx;
        sample_channels:
            for (int c = g * PER_GROUP; c < (g + 1) * PER_GROUP; ++c) {
#pragma HLS PIPELINE II=1
                col[c][i * P::KW + j] = deform_sample<P>(in, window, c, py, px);
            }
        });
    }
}

/* The sums of output channels co_first .. (the `active` lanes of a block of
 * group g) over the pixel's columns: each pipelined step multiplies a
 * POF x PIF x PKX block of weights with samples. */
template <class P>
void deform_pixel(const data_t col[P::CI][P::KH * P::KW], const data_t* weight, const data_t* bias, int g,
                  int co_first, int active, acc_t acc[P::POF]) {
    constexpr int CIG = P::CI / P::GROUPS, K = P::KH * P::KW;
    mac_init<P>(acc, P::BIAS ? bias + co_first : bias, active);
in_blocks:
    for (int ci0 = 0; ci0 < CIG; ci0 += P::PIF) {
    taps:
        for (int k0 = 0; k0 < K; k0 += P::PKX) {
#pragma HLS PIPELINE II=1
            lanes<P::POF>(0, active, [&](int po) {
                const data_t* w = weight + (long)(co_first + po) * CIG * K;
                lanes<P::PIF>(ci0, CIG, [&](int ci) {
                    const data_t* samples = col[g * CIG + ci];
                    lanes<P::PKX>(k0, K, [&](int k) { acc[po] += (acc_t)samples[k] * w[ci * K + k]; });
                });
            });
        }
    }
}

template <class P, class E>
void deform_conv2d(const data_t* in, const data_t* off, const data_t* weight, const data_t* bias, E& epilogue) {
    constexpr int COG = P::CO / P::GROUPS;
    static data_t col[P::CI][P::KH * P::KW];
    static row_window<P> window;
    window.held = 0;
tiles_y:
    for (int ty = 0; ty < P::HO; ty += P::TOY) {
    tiles_x:
        for (int tx = 0; tx < P::WO; tx += P::TOX) {
        pixels_y:
            for (int y = ty; y < ty + P::TOY && y < P::HO; ++y) {
                if (P::LB_ROWS > 0) window.move_to(in, y);
            pixels_x:
                for (int x = tx; x < tx + P::TOX && x < P::WO; ++x) {
                    deform_columns<P>(in, window, off, y, x, col);
                groups:
                    for (int g = 0; g < P::GROUPS; ++g) {
                    out_blocks:
                        for (int co0 = 0; co0 < COG; co0 += P::POF) {
                            const int active = COG - co0, co_first = g * COG + co0;
                            acc_t acc[P::POF];
#pragma HLS ARRAY_PARTITION variable=acc complete
                            deform_pixel<P>(col, weight, bias, g, co_first, active, acc);
                            mac_write<P>(acc, active, co_first, true,
                                         [&](data_t v, int po) { epilogue(v, co_first + po, y, x); });
                        }
                    }
                }
            }
        }
    }
}

/* A deformable convolution with nothing fused: its words written to out. */
template <class P>
void deform_conv2d(const data_t* in, const data_t* off, const data_t* weight, const data_t* bias, data_t* out) {
    writer<P::HO, P::WO> store{out};
    deform_conv2d<P>(in, off, weight, bias, store);
}

}  // namespace segc

#endif /* SEGC_DEFORM_H */
