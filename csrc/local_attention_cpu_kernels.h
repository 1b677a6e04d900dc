// Torch-free CPU kernels of local attention (row kernels and the two passes).
//
// Layout: every operand is NCHW. Inputs are copied into zero-padded planes (pad = (k/2) *
// dilation on every side, plus extra columns so that each row is a whole number of SIMD
// vectors); zero padding then gives exactly the op's semantics (out-of-image neighbours have
// logit 0 and value 0) without a single bounds check in the inner loops. Work is split over
// image rows (the caller's parallel_for); inner loops run along x in SIMD vectors and keep
// several accumulators in registers (window taps for the dot products, channels for the
// weighted sums).
//
// Backward: dL/dlogits = P * (dL/dP - sum_n P dL/dP). dq is a weighted sum over each pixel's own
// window; dk and dv are written as gathers (pixel j collects from every i whose window holds j),
// so rows never race and no atomics are needed.

#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "local_attention_dims.h"

namespace atrc::cpu {

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#else
constexpr int kVecBytes = 32;
#endif

template <typename T>
struct Simd;
template <>
struct Simd<float> {
  typedef float type __attribute__((vector_size(kVecBytes)));
  typedef int32_t itype __attribute__((vector_size(kVecBytes)));
};
template <>
struct Simd<double> {
  typedef double type __attribute__((vector_size(kVecBytes)));
};
template <typename T>
using Vec = typename Simd<T>::type;
template <typename T>
constexpr int64_t kLanes = kVecBytes / sizeof(T);

template <typename T>
inline Vec<T> load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <typename T>
inline void store(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof(v));
}
template <typename V>
inline V vmax(V a, V b) {
  return a > b ? a : b;
}

// exp for float vectors: 2^n * p(r) with r = x - n ln2, |r| <= ln2/2 and a degree-6 Taylor
// polynomial (relative error about 2e-7). Branch-free, so it stays in SIMD registers.
inline Vec<float> vexp(Vec<float> x) {
  using V = Vec<float>;
  using VI = Simd<float>::itype;
  const V lo = V{} - 87.0f;
  const V hi = V{} + 88.0f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const float round_magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to the nearest integer
  const V n = (x * 1.44269504088896341f + round_magic) - round_magic;
  const V r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  V p = V{} + (1.0f / 720);
  p = p * r + (1.0f / 120);
  p = p * r + (1.0f / 24);
  p = p * r + (1.0f / 6);
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const VI bits = (__builtin_convertvector(n, VI) + 127) << 23;
  V scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

inline Vec<double> vexp(Vec<double> x) {
  for (int64_t i = 0; i < kLanes<double>; ++i) x[i] = std::exp(x[i]);
  return x;
}

// Calls f(start, std::integral_constant<int, N>) over [0, total) in chunks of MAX, then one
// chunk of the remainder, so that chunk sizes (and register arrays) are compile-time.
template <int N, typename F>
inline void run_tail(int64_t rest, int64_t start, F& f) {
  if constexpr (N >= 1) {
    if (rest == N) {
      f(start, std::integral_constant<int, N>{});
    } else {
      run_tail<N - 1>(rest, start, f);
    }
  }
}
template <int MAX, typename F>
inline void for_each_chunk(int64_t total, F&& f) {
  int64_t i = 0;
  for (; i + MAX <= total; i += MAX) f(i, std::integral_constant<int, MAX>{});
  if (i < total) run_tail<MAX - 1>(total - i, i, f);
}

// Geometry of the padded planes.
struct Geometry {
  LocalAttnDims d;
  int64_t taps;   // k * k
  int64_t pad;    // (k / 2) * dilation
  int64_t wr;     // width rounded up to whole vectors
  int64_t wp;     // padded row stride: wr + 2 pad
  int64_t plane;  // padded plane size: (height + 2 pad) * wp

  Geometry(const LocalAttnDims& dims, int64_t lanes) : d(dims) {
    taps = static_cast<int64_t>(d.kernel_size) * d.kernel_size;
    pad = static_cast<int64_t>(d.kernel_size / 2) * d.dilation;
    wr = (d.width + lanes - 1) / lanes * lanes;
    wp = wr + 2 * pad;
    plane = (d.height + 2 * pad) * wp;
  }
  // Offset, inside a padded plane, of window tap n of the pixel at (y, x = 0).
  int64_t tap_offset(int64_t y, int64_t n) const {
    return (y + n / d.kernel_size * d.dilation) * wp + n % d.kernel_size * d.dilation;
  }
  // Offset of the pixel whose window tap n lands on (y, x = 0): the gather direction.
  int64_t source_offset(int64_t y, int64_t n) const {
    const int64_t last = d.kernel_size - 1;
    return (y + (last - n / d.kernel_size) * d.dilation) * wp +
           (last - n % d.kernel_size) * d.dilation;
  }
};

// dots[n * wr + x] = sum_c a[c * plane + x] * b[c * plane + tap_offset(y, n) + x]
// a points at pixel (y, 0) of channel 0; b at channel 0 of the padded plane. Channels run in
// slices so that the rows one window row touches stay in L1; partial sums live in dots.
template <typename T>
void window_dot_row(const T* a, const T* b, int64_t channels, int64_t y, const Geometry& g,
                    T* dots) {
  constexpr int64_t L = kLanes<T>;
  constexpr int64_t kMaxSlice = 16;
  const int ks = g.d.kernel_size;
  const int dil = g.d.dilation;
  const int64_t slices = (channels + kMaxSlice - 1) / kMaxSlice;
  const int64_t slice = (channels + slices - 1) / slices;
  for (int dy = 0; dy < ks; ++dy) {
    const T* brow = b + (y + static_cast<int64_t>(dy) * dil) * g.wp;
    for (int64_t c0 = 0; c0 < channels; c0 += slice) {
      const int64_t c1 = std::min(channels, c0 + slice);
      for_each_chunk<9>(ks, [&](int64_t dx0, auto width) {
        constexpr int NDX = decltype(width)::value;
        T* drow = dots + (dy * ks + dx0) * g.wr;
        for (int64_t x = 0; x < g.wr; x += L) {
          Vec<T> acc[NDX] = {};
          if (c0 > 0) {
#pragma GCC unroll 16
            for (int j = 0; j < NDX; ++j) acc[j] = load(drow + j * g.wr + x);
          }
          const T* ap = a + c0 * g.plane + x;
          const T* bp = brow + c0 * g.plane + x + dx0 * dil;
          for (int64_t c = c0; c < c1; ++c, ap += g.plane, bp += g.plane) {
            const Vec<T> av = load(ap);
#pragma GCC unroll 16
            for (int j = 0; j < NDX; ++j) acc[j] += av * load(bp + j * dil);
          }
#pragma GCC unroll 16
          for (int j = 0; j < NDX; ++j) store(drow + j * g.wr + x, acc[j]);
        }
      });
    }
  }
}

// out[c * wr + x] = sum_n w[n][x] * src[n][c * plane + x] for c < channels. Taps run one
// window row at a time so that the rows they touch stay in L1; partial sums live in out.
template <typename T>
void window_sum_row(const T* const* w, const T* const* src, int64_t channels, const Geometry& g,
                    T* out) {
  constexpr int64_t L = kLanes<T>;
  const int ks = g.d.kernel_size;
  for_each_chunk<8>(channels, [&](int64_t c0, auto count) {
    constexpr int NC = decltype(count)::value;
    T* orow = out + c0 * g.wr;
    for (int dy = 0; dy < ks; ++dy) {
      const T* const* wn = w + dy * ks;
      const T* const* sn = src + dy * ks;
      for (int64_t x = 0; x < g.wr; x += L) {
        Vec<T> acc[NC] = {};
        if (dy > 0) {
#pragma GCC unroll 16
          for (int j = 0; j < NC; ++j) acc[j] = load(orow + j * g.wr + x);
        }
        for (int dx = 0; dx < ks; ++dx) {
          const Vec<T> wv = load(wn[dx] + x);
          const T* sp = sn[dx] + c0 * g.plane + x;
#pragma GCC unroll 16
          for (int j = 0; j < NC; ++j) acc[j] += wv * load(sp + j * g.plane);
        }
#pragma GCC unroll 16
        for (int j = 0; j < NC; ++j) store(orow + j * g.wr + x, acc[j]);
      }
    }
  });
}

// In place over rows[n * wr + x]: softmax over n for every x.
template <typename T>
void softmax_taps(T* rows, const Geometry& g) {
  constexpr int64_t L = kLanes<T>;
  for (int64_t x = 0; x < g.wr; x += L) {
    Vec<T> m = load(rows + x);
    for (int64_t n = 1; n < g.taps; ++n) m = vmax(m, load(rows + n * g.wr + x));
    Vec<T> sum = {};
    for (int64_t n = 0; n < g.taps; ++n) {
      const Vec<T> e = vexp(load(rows + n * g.wr + x) - m);
      store(rows + n * g.wr + x, e);
      sum += e;
    }
    const Vec<T> inv = T(1) / sum;
    for (int64_t n = 0; n < g.taps; ++n) {
      store(rows + n * g.wr + x, load(rows + n * g.wr + x) * inv);
    }
  }
}

// Copies rows[r * wr .. + W) to dst + r * stride for r < count.
template <typename T>
void copy_rows(const T* rows, int64_t count, const Geometry& g, T* dst, int64_t stride) {
  for (int64_t r = 0; r < count; ++r) {
    std::memcpy(dst + r * stride, rows + r * g.wr, g.d.width * sizeof(T));
  }
}

// parallel_for(begin, end, body) runs body(first, last) over sub-ranges, possibly in parallel.
template <typename T, typename ParallelFor>
void forward_kernel(const Geometry& g, const T* qp, const T* kp, const T* vp, T* out, T* attn,
                    ParallelFor&& parallel_for) {
  const LocalAttnDims& d = g.d;
  const int64_t hw = d.height * d.width;
  parallel_for(0, d.batch * d.height, [&](int64_t begin, int64_t end) {
    std::vector<T> probs(g.taps * g.wr);
    std::vector<T> acc(d.v_channels * g.wr);
    std::vector<const T*> w(g.taps), src(g.taps);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / d.height;
      const int64_t y = row % d.height;
      const T* qb = qp + b * d.qk_channels * g.plane;
      const T* kb = kp + b * d.qk_channels * g.plane;
      const T* vb = vp + b * d.v_channels * g.plane;
      window_dot_row(qb + (y + g.pad) * g.wp + g.pad, kb, d.qk_channels, y, g, probs.data());
      softmax_taps(probs.data(), g);
      for (int64_t n = 0; n < g.taps; ++n) {
        w[n] = probs.data() + n * g.wr;
        src[n] = vb + g.tap_offset(y, n);
      }
      window_sum_row(w.data(), src.data(), d.v_channels, g, acc.data());
      copy_rows(acc.data(), d.v_channels, g, out + b * d.v_channels * hw + y * d.width, hw);
      copy_rows(probs.data(), g.taps, g, attn + b * g.taps * hw + y * d.width, hw);
    }
  });
}

// Pass 1 (per row): dL/dP, then dL/dlogits into a padded buffer, then dq.
// Pass 2 (per row, after pass 1): dk and dv as gathers over the padded buffers.
template <typename T, typename ParallelFor>
void backward_kernel(const Geometry& g, const T* gp, const T* qp, const T* kp, const T* vp,
                     const T* pp, T* glp, T* gq, T* gk, T* gv, ParallelFor&& parallel_for) {
  const LocalAttnDims& d = g.d;
  const int64_t hw = d.height * d.width;
  constexpr int64_t L = kLanes<T>;
  parallel_for(0, d.batch * d.height, [&](int64_t begin, int64_t end) {
    std::vector<T> glog(g.taps * g.wr);
    std::vector<T> acc(d.qk_channels * g.wr);
    std::vector<const T*> w(g.taps), src(g.taps);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / d.height;
      const int64_t y = row % d.height;
      const int64_t centre = (y + g.pad) * g.wp + g.pad;
      const T* kb = kp + b * d.qk_channels * g.plane;
      const T* pb = pp + b * g.taps * g.plane + centre;
      T* glb = glp + b * g.taps * g.plane + centre;
      window_dot_row(gp + b * d.v_channels * g.plane + centre, vp + b * d.v_channels * g.plane,
                     d.v_channels, y, g, glog.data());
      for (int64_t x = 0; x < g.wr; x += L) {
        Vec<T> delta = {};
        for (int64_t n = 0; n < g.taps; ++n) {
          delta += load(pb + n * g.plane + x) * load(glog.data() + n * g.wr + x);
        }
        for (int64_t n = 0; n < g.taps; ++n) {
          T* gl = glog.data() + n * g.wr + x;
          const Vec<T> value = load(pb + n * g.plane + x) * (load(gl) - delta);
          store(gl, value);
          store(glb + n * g.plane + x, value);  // zero beyond the width: P is zero there
        }
      }
      for (int64_t n = 0; n < g.taps; ++n) {
        w[n] = glog.data() + n * g.wr;
        src[n] = kb + g.tap_offset(y, n);
      }
      window_sum_row(w.data(), src.data(), d.qk_channels, g, acc.data());
      copy_rows(acc.data(), d.qk_channels, g, gq + b * d.qk_channels * hw + y * d.width, hw);
    }
  });
  parallel_for(0, d.batch * d.height, [&](int64_t begin, int64_t end) {
    std::vector<T> acc(std::max(d.qk_channels, d.v_channels) * g.wr);
    std::vector<const T*> w(g.taps), src(g.taps);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / d.height;
      const int64_t y = row % d.height;
      const T* qb = qp + b * d.qk_channels * g.plane;
      const T* gb = gp + b * d.v_channels * g.plane;
      for (int64_t n = 0; n < g.taps; ++n) {
        w[n] = glp + b * g.taps * g.plane + n * g.plane + g.source_offset(y, n);
        src[n] = qb + g.source_offset(y, n);
      }
      window_sum_row(w.data(), src.data(), d.qk_channels, g, acc.data());
      copy_rows(acc.data(), d.qk_channels, g, gk + b * d.qk_channels * hw + y * d.width, hw);
      for (int64_t n = 0; n < g.taps; ++n) {
        w[n] = pp + b * g.taps * g.plane + n * g.plane + g.source_offset(y, n);
        src[n] = gb + g.source_offset(y, n);
      }
      window_sum_row(w.data(), src.data(), d.v_channels, g, acc.data());
      copy_rows(acc.data(), d.v_channels, g, gv + b * d.v_channels * hw + y * d.width, hw);
    }
  });
}

}  // namespace atrc::cpu
