/* segc HLS kernel library: the loop nests and window arithmetic the kernels
 * share.  Each helper takes its body as a function object (a lambda), which
 * g++ and Vitis HLS inline into the loop, so a pragma written here applies
 * to every kernel that uses the helper:
 *
 *   for_each_word<C, H, W>   every word of a [C][H][W] tensor, pipelined
 *                            over columns (PIPELINE II=1);
 *   for_each_index<N>        0 .. N-1, pipelined (PIPELINE II=1);
 *   for_each_tap<KH, KW>     the taps (i, j) of a kernel window, inside a
 *                            pipelined loop (so unrolled by it);
 *   lanes<N>                 N parallel lanes of the PE array (UNROLL), the
 *                            lanes past the end idle;
 *   tap, inside, at          where a tap of an output pixel lies, whether
 *                            it lies in the image, the word's index.
 */
#ifndef SEGC_LOOPS_H
#define SEGC_LOOPS_H

namespace segc {

/* Input row (or column) of tap k of output pixel o: o*S - P + k*D; it lies
 * in the padding when outside [0, H). */
constexpr int tap(int o, int k, int S, int P, int D = 1) { return o * S - P + k * D; }

/* Whether (y, x) lies in an H x W image. */
template <int H, int W>
bool inside(long y, long x) {
    return y >= 0 && y < H && x >= 0 && x < W;
}

/* The index of word (c, y, x) of a [C][H][W] tensor. */
template <int H, int W>
long at(long c, long y, long x) {
    return (c * H + y) * W + x;
}

/* body(c, y, x) for every word of a [C][H][W] tensor, in memory order. */
template <int C, int H, int W, class F>
void for_each_word(const F& body) {
channels:
    for (int c = 0; c < C; ++c) {
    rows:
        for (int y = 0; y < H; ++y) {
        cols:
            for (int x = 0; x < W; ++x) {
#pragma HLS PIPELINE II=1
                body(c, y, x);
            }
        }
    }
}

/* body(i) for i = 0 .. N-1. */
template <long N, class F>
void for_each_index(const F& body) {
elements:
    for (long i = 0; i < N; ++i) {
#pragma HLS PIPELINE II=1
        body(i);
    }
}

/* body(i, j) for the taps of a KH x KW window, row by row. */
template <int KH, int KW, class F>
void for_each_tap(const F& body) {
window_rows:
    for (int i = 0; i < KH; ++i) {
    window_cols:
        for (int j = 0; j < KW; ++j) {
            body(i, j);
        }
    }
}

/* body(k) for k = first .. first+N-1 below end: N lanes run in parallel,
 * those past the end (a partial block of channels or taps) stay idle. */
template <int N, class F>
void lanes(int first, int end, const F& body) {
unroll:
    for (int p = 0; p < N; ++p) {
#pragma HLS UNROLL
        if (first + p < end) body(first + p);
    }
}

}  // namespace segc

#endif /* SEGC_LOOPS_H */
