// Deformable convolution forward on CPU, the compiled path of segc's
// backends/torch/deform_compiled.py (the math: deform.py's docstring; the
// pure-torch path in deform_fused.py is the reference).
//
// The input is read channels-last, [H·W, C], so that every neighbour of a
// sample is a contiguous row of channels.  Per output pixel, tap and offset
// group the R neighbours (4 bilinear, 1 rounded) and their weights are found
// once (a corner outside the image gets weight 0); then
//   depthwise: out[p, c] = Σ_k w[c, k] · Σ_r a_r · x[row_r, c]   (one pass)
//   otherwise: cols[p, (group, k, c)] = Σ_r a_r · x[row_r, c], chunk by chunk,
//              then one matrix product per convolution group into the output.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace {

struct Geometry {
  int64_t channels, height, width, out_h, out_w, kh, kw, sh, sw, ph, pw, dh, dw, offset_groups;
  bool interpolate;
  int64_t taps() const { return kh * kw; }
  int64_t pixels() const { return out_h * out_w; }
  int64_t corners() const { return interpolate ? 4 : 1; }
};

// Rows (into the [H·W + 1, C] table, the last row zeros) and weights of the corners of sample (pixel, tap, group).
template <typename T>
void corners(const Geometry& g, const T* offset, int64_t pixel, int64_t tap, int64_t group, int64_t* rows,
             T* weights) {
  const int64_t oy = pixel / g.out_w, ox = pixel % g.out_w;
  const T* pair = offset + ((group * g.taps() + tap) * 2) * g.pixels() + pixel;
  const T y = static_cast<T>(oy * g.sh - g.ph + tap / g.kw * g.dh) + pair[0];
  const T x = static_cast<T>(ox * g.sw - g.pw + tap % g.kw * g.dw) + pair[g.pixels()];
  auto put = [&](int r, int64_t yy, int64_t xx, T weight) {
    const bool inside = yy >= 0 && yy < g.height && xx >= 0 && xx < g.width;
    rows[r] = inside ? yy * g.width + xx : g.height * g.width;  // outside: the zero row after the image
    weights[r] = inside ? weight : T(0);
  };
  // outside (−1, H) × (−1, W), or NaN: every neighbour is outside (and far points are never made integers)
  if (!(y > -1 && y < g.height && x > -1 && x < g.width)) {
    for (int r = 0; r < g.corners(); ++r) put(r, -1, -1, T(0));
    return;
  }
  if (!g.interpolate) {
    put(0, static_cast<int64_t>(std::nearbyint(y)), static_cast<int64_t>(std::nearbyint(x)), T(1));
    return;
  }
  const T y0 = std::floor(y), x0 = std::floor(x);
  const T ly = y - y0, lx = x - x0, hy = 1 - ly, hx = 1 - lx;
  const int64_t iy = static_cast<int64_t>(y0), ix = static_cast<int64_t>(x0);
  put(0, iy, ix, hy * hx);
  put(1, iy, ix + 1, hy * lx);
  put(2, iy + 1, ix, ly * hx);
  put(3, iy + 1, ix + 1, ly * lx);
}

// The vector loops, compiled for several x86-64 instruction sets (GCC), chosen by the CPU at load time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SEGC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SEGC_CLONES
#endif

// target[c] += scale[c] · Σ_r weights[r] · table[rows[r] · stride + c] for c in [0, count).
template <typename T>
SEGC_CLONES void accumulate(T* __restrict__ target, const T* __restrict__ scale, const T* __restrict__ table,
                            int64_t stride, const int64_t* rows, const T* weights, int64_t corners,
                            int64_t count) {
  const T* a = table + rows[0] * stride;
  if (corners == 1) {
    const T w0 = weights[0];
    for (int64_t c = 0; c < count; ++c) target[c] += scale[c] * (w0 * a[c]);
    return;
  }
  const T *b = table + rows[1] * stride, *d = table + rows[2] * stride, *e = table + rows[3] * stride;
  const T w0 = weights[0], w1 = weights[1], w2 = weights[2], w3 = weights[3];
  for (int64_t c = 0; c < count; ++c) target[c] += scale[c] * (w0 * a[c] + w1 * b[c] + w2 * d[c] + w3 * e[c]);
}

// target[c] = Σ_r weights[r] · table[rows[r] · stride + c] for c in [0, count).
template <typename T>
SEGC_CLONES void sample(T* __restrict__ target, const T* __restrict__ table, int64_t stride, const int64_t* rows,
                        const T* weights, int64_t corners, int64_t count) {
  const T* a = table + rows[0] * stride;
  if (corners == 1) {
    const T w0 = weights[0];
    for (int64_t c = 0; c < count; ++c) target[c] = w0 * a[c];
    return;
  }
  const T *b = table + rows[1] * stride, *d = table + rows[2] * stride, *e = table + rows[3] * stride;
  const T w0 = weights[0], w1 = weights[1], w2 = weights[2], w3 = weights[3];
  for (int64_t c = 0; c < count; ++c) target[c] = w0 * a[c] + w1 * b[c] + w2 * d[c] + w3 * e[c];
}

template <typename T>
void depthwise_image(const Geometry& g, const T* table, const T* offset, const T* tap_weights, T* out) {
  const int64_t group_channels = g.channels / g.offset_groups;
  at::parallel_for(0, g.pixels(), 16, [&](int64_t begin, int64_t end) {
    int64_t rows[4];
    T weights[4];
    for (int64_t p = begin; p < end; ++p) {
      T* target = out + p * g.channels;
      std::fill(target, target + g.channels, T(0));
      for (int64_t k = 0; k < g.taps(); ++k)
        for (int64_t og = 0; og < g.offset_groups; ++og) {
          corners(g, offset, p, k, og, rows, weights);
          const int64_t first = og * group_channels;
          accumulate(target + first, tap_weights + k * g.channels + first, table + first, g.channels, rows,
                     weights, g.corners(), group_channels);
        }
    }
  });
}

// Columns [stop − start, groups · K · C/groups] of pixels start..stop−1.
template <typename T>
void columns_chunk(const Geometry& g, int64_t groups, const T* table, const T* offset, int64_t start, int64_t stop,
                   T* cols) {
  const int64_t group_channels = g.channels / g.offset_groups, conv_channels = g.channels / groups;
  const int64_t width = g.taps() * g.channels;
  at::parallel_for(start, stop, 16, [&](int64_t begin, int64_t end) {
    int64_t rows[4];
    T weights[4];
    for (int64_t p = begin; p < end; ++p) {
      T* row = cols + (p - start) * width;
      for (int64_t k = 0; k < g.taps(); ++k)
        for (int64_t og = 0; og < g.offset_groups; ++og) {
          corners(g, offset, p, k, og, rows, weights);
          const int64_t first = og * group_channels, last = first + group_channels;
          for (int64_t c = first; c < last;) {  // runs of channels within one convolution group
            const int64_t group = c / conv_channels, run_end = std::min(last, (group + 1) * conv_channels);
            // column of channel c: group · K · Cg + k · Cg + (c − group · Cg)
            T* base = row + group * g.taps() * conv_channels + k * conv_channels - group * conv_channels;
            sample(base + c, table + c, g.channels, rows, weights, g.corners(), run_end - c);
            c = run_end;
          }
        }
    }
  });
}

Geometry make_geometry(const at::Tensor& x, const at::Tensor& offset, const at::Tensor& weight,
                       std::vector<int64_t> params, bool interpolate) {
  // params: stride (2), padding (2), dilation (2), offset groups
  return Geometry{x.size(1), x.size(2), x.size(3), offset.size(2), offset.size(3), weight.size(2), weight.size(3),
                  params[0], params[1], params[2], params[3], params[4], params[5], params[6], interpolate};
}

// The input as rows [N, H·W + 1, C], channels-last, then a row of zeros that outside corners read (so that an
// infinite or NaN pixel never meets a zero weight).
at::Tensor channels_last_table(const at::Tensor& x) {
  const int64_t n = x.size(0), channels = x.size(1), pixels = x.size(2) * x.size(3);
  auto table = at::empty({n, pixels + 1, channels}, x.options());
  table.narrow(1, 0, pixels).view({n, x.size(2), x.size(3), channels}).copy_(x.permute({0, 2, 3, 1}));
  table.narrow(1, pixels, 1).zero_();
  return table;
}

}  // namespace

at::Tensor depthwise_forward(const at::Tensor& x, const at::Tensor& offset, const at::Tensor& weight,
                             std::vector<int64_t> params, bool interpolate) {
  const Geometry g = make_geometry(x, offset, weight, params, interpolate);
  const auto table = channels_last_table(x);
  const auto off = offset.contiguous();
  const auto tap_weights = weight.reshape({g.channels, g.taps()}).t().contiguous();  // [K, C]
  auto out = at::empty({x.size(0), g.pixels(), g.channels}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "segc_deform_depthwise", [&] {
    for (int64_t n = 0; n < x.size(0); ++n)
      depthwise_image<scalar_t>(g, table[n].data_ptr<scalar_t>(), off[n].data_ptr<scalar_t>(),
                                tap_weights.data_ptr<scalar_t>(), out[n].data_ptr<scalar_t>());
  });
  return out.transpose(1, 2).reshape({x.size(0), g.channels, g.out_h, g.out_w});
}

at::Tensor columns_forward(const at::Tensor& x, const at::Tensor& offset, const at::Tensor& weight,
                           std::vector<int64_t> params, bool interpolate, int64_t groups, int64_t chunk_elements) {
  const Geometry g = make_geometry(x, offset, weight, params, interpolate);
  const auto table = channels_last_table(x);
  const auto off = offset.contiguous();
  const int64_t out_channels = weight.size(0), per_group = out_channels / groups;
  const int64_t group_width = g.taps() * (g.channels / groups);
  // [groups, O/groups, K·Cg], each tap's channels contiguous as in the columns
  const auto flat_weight = weight.permute({0, 2, 3, 1}).reshape({groups, per_group, group_width}).contiguous();
  const int64_t chunk = std::max<int64_t>(1, std::min(g.pixels(), chunk_elements / (g.taps() * g.channels)));
  auto cols = at::empty({chunk, groups * group_width}, x.options());
  auto out = at::empty({x.size(0), out_channels, g.pixels()}, x.options());
  for (int64_t n = 0; n < x.size(0); ++n)
    for (int64_t start = 0; start < g.pixels(); start += chunk) {
      const int64_t stop = std::min(g.pixels(), start + chunk);
      AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "segc_deform_columns", [&] {
        columns_chunk<scalar_t>(g, groups, table[n].data_ptr<scalar_t>(), off[n].data_ptr<scalar_t>(), start,
                                stop, cols.data_ptr<scalar_t>());
      });
      for (int64_t group = 0; group < groups; ++group) {
        auto target = out[n].narrow(0, group * per_group, per_group).narrow(1, start, stop - start);
        auto operand = cols.narrow(0, 0, stop - start).narrow(1, group * group_width, group_width);
        at::mm_out(target, flat_weight[group], operand.t());
      }
    }
  return out.view({x.size(0), out_channels, g.out_h, g.out_w});
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("depthwise_forward", &depthwise_forward, "depthwise deformable convolution, one pass");
  m.def("columns_forward", &columns_forward, "deformable convolution: sampled columns, then a matrix product");
}
