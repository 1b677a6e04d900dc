// CUDA kernels of local attention, written against raw pointers and a stream (no torch), so
// that nvcc can compile-check them on machines without a GPU or a CUDA build of torch.
//
// Accumulation is float32 for float32/float16/bfloat16 inputs and float64 for float64. The
// softmax weights (attn) and the logit gradients are kept in that accumulation type.
//
// Forward:  logits_softmax (one thread per pixel: k*k dot products, then the softmax in place)
//           window_sum     (one thread per pixel and 8 channels: out = sum_n attn_n v_nbr(n)).
// Backward: grad_logits    (one thread per pixel: dL/dP_n = g . v_nbr(n), then
//                           dL/dlogit_n = P_n (dL/dP_n - sum_m P_m dL/dP_m)),
//           window_sum     (dq = sum_n dlogit_n k_nbr(n)),
//           window_gather  (dk_j = sum over i whose window holds j of dlogit q_i; dv likewise
//                           with P and g): gathers instead of scatters, so no atomics.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "local_attention_cuda.h"

namespace atrc::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kTapChunk = 9;      // window taps held in registers at once
constexpr int kChannelChunk = 8;  // channels per thread in the weighted sums

template <typename T>
struct AccOf {
  using type = float;
};
template <>
struct AccOf<double> {
  using type = double;
};
template <typename T>
using Acc = typename AccOf<T>::type;

__device__ __forceinline__ float to_acc(float x) { return x; }
__device__ __forceinline__ double to_acc(double x) { return x; }
__device__ __forceinline__ float to_acc(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 x) { return __bfloat162float(x); }

__device__ __forceinline__ void from_acc(float x, float* dst) { *dst = x; }
__device__ __forceinline__ void from_acc(double x, double* dst) { *dst = x; }
__device__ __forceinline__ void from_acc(float x, __half* dst) { *dst = __float2half(x); }
__device__ __forceinline__ void from_acc(float x, __nv_bfloat16* dst) {
  *dst = __float2bfloat16(x);
}

__device__ __forceinline__ float acc_exp(float x) { return expf(x); }
__device__ __forceinline__ double acc_exp(double x) { return exp(x); }

struct Geo {
  int height, width, ks, dil, radius;
  int64_t hw, taps;
};

Geo make_geo(const LocalAttnDims& d) {
  return Geo{static_cast<int>(d.height), static_cast<int>(d.width), d.kernel_size, d.dilation,
             d.kernel_size / 2, d.height * d.width,
             static_cast<int64_t>(d.kernel_size) * d.kernel_size};
}

// dst[n * hw] = sum_c a[c * hw] * b[c * hw + nbr_n(y, x)] for every window tap n, where a
// points at the pixel in channel 0 and b at channel 0; out-of-image taps get 0.
template <typename T>
__device__ void window_dots(const T* __restrict__ a, const T* __restrict__ b, int64_t channels,
                            int y, int x, const Geo& g, Acc<T>* __restrict__ dst) {
  using A = Acc<T>;
  for (int dy = 0; dy < g.ks; ++dy) {
    const int yy = y + (dy - g.radius) * g.dil;
    const bool row_in = yy >= 0 && yy < g.height;
    for (int dx0 = 0; dx0 < g.ks; dx0 += kTapChunk) {
      A acc[kTapChunk];
      int64_t off[kTapChunk];
      bool in[kTapChunk];
#pragma unroll
      for (int j = 0; j < kTapChunk; ++j) {
        const int xx = x + (dx0 + j - g.radius) * g.dil;
        in[j] = row_in && dx0 + j < g.ks && xx >= 0 && xx < g.width;
        off[j] = in[j] ? static_cast<int64_t>(yy) * g.width + xx : 0;
        acc[j] = A(0);
      }
      if (row_in) {
        for (int64_t c = 0; c < channels; ++c) {
          const A av = to_acc(a[c * g.hw]);
          const T* bc = b + c * g.hw;
#pragma unroll
          for (int j = 0; j < kTapChunk; ++j) {
            if (in[j]) acc[j] += av * to_acc(bc[off[j]]);
          }
        }
      }
#pragma unroll
      for (int j = 0; j < kTapChunk; ++j) {
        if (dx0 + j < g.ks) dst[(dy * g.ks + dx0 + j) * g.hw] = acc[j];
      }
    }
  }
}

template <typename T>
__global__ void logits_softmax_kernel(const T* __restrict__ q, const T* __restrict__ k,
                                      Acc<T>* __restrict__ attn, int64_t channels, Geo g) {
  using A = Acc<T>;
  const int64_t pix = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (pix >= g.hw) return;
  const int64_t b = blockIdx.y;
  A* p = attn + b * g.taps * g.hw + pix;
  window_dots(q + b * channels * g.hw + pix, k + b * channels * g.hw, channels,
              static_cast<int>(pix / g.width), static_cast<int>(pix % g.width), g, p);
  A m = p[0];
  for (int64_t n = 1; n < g.taps; ++n) m = max(m, p[n * g.hw]);
  A sum = A(0);
  for (int64_t n = 0; n < g.taps; ++n) {
    const A e = acc_exp(p[n * g.hw] - m);
    p[n * g.hw] = e;
    sum += e;
  }
  const A inv = A(1) / sum;
  for (int64_t n = 0; n < g.taps; ++n) p[n * g.hw] *= inv;
}

template <typename T>
__global__ void grad_logits_kernel(const T* __restrict__ grad_out, const T* __restrict__ v,
                                   const Acc<T>* __restrict__ attn,
                                   Acc<T>* __restrict__ grad_logits, int64_t channels, Geo g) {
  using A = Acc<T>;
  const int64_t pix = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (pix >= g.hw) return;
  const int64_t b = blockIdx.y;
  A* gl = grad_logits + b * g.taps * g.hw + pix;
  const A* p = attn + b * g.taps * g.hw + pix;
  window_dots(grad_out + b * channels * g.hw + pix, v + b * channels * g.hw, channels,
              static_cast<int>(pix / g.width), static_cast<int>(pix % g.width), g, gl);
  A delta = A(0);
  for (int64_t n = 0; n < g.taps; ++n) delta += p[n * g.hw] * gl[n * g.hw];
  for (int64_t n = 0; n < g.taps; ++n) gl[n * g.hw] = p[n * g.hw] * (gl[n * g.hw] - delta);
}

// GATHER = false: out[c][i] = sum_n w[n][i] * src[c][nbr_n(i)]            (own window)
// GATHER = true:  out[c][j] = sum_n w[n][j - o_n] * src[c][j - o_n]       (windows holding j)
// where o_n is tap n's offset; terms outside the image are 0.
template <typename T, bool GATHER>
__global__ void window_sum_kernel(const Acc<T>* __restrict__ w, const T* __restrict__ src,
                                  T* __restrict__ out, int64_t channels, Geo g) {
  using A = Acc<T>;
  const int64_t pix = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (pix >= g.hw) return;
  const int64_t b = blockIdx.z;
  const int64_t c0 = static_cast<int64_t>(blockIdx.y) * kChannelChunk;
  const int64_t count = min(static_cast<int64_t>(kChannelChunk), channels - c0);
  const int y = static_cast<int>(pix / g.width);
  const int x = static_cast<int>(pix % g.width);
  const A* wb = w + b * g.taps * g.hw;
  const T* sb = src + (b * channels + c0) * g.hw;
  A acc[kChannelChunk];
#pragma unroll
  for (int j = 0; j < kChannelChunk; ++j) acc[j] = A(0);
  for (int dy = 0; dy < g.ks; ++dy) {
    const int oy = (dy - g.radius) * g.dil;
    const int yy = GATHER ? y - oy : y + oy;
    if (yy < 0 || yy >= g.height) continue;
    for (int dx = 0; dx < g.ks; ++dx) {
      const int ox = (dx - g.radius) * g.dil;
      const int xx = GATHER ? x - ox : x + ox;
      if (xx < 0 || xx >= g.width) continue;
      const int64_t src_pix = static_cast<int64_t>(yy) * g.width + xx;
      const A wt = wb[(dy * g.ks + dx) * g.hw + (GATHER ? src_pix : pix)];
#pragma unroll
      for (int j = 0; j < kChannelChunk; ++j) {
        if (j < count) acc[j] += wt * to_acc(sb[j * g.hw + src_pix]);
      }
    }
  }
#pragma unroll
  for (int j = 0; j < kChannelChunk; ++j) {
    if (j < count) from_acc(acc[j], out + (b * channels + c0 + j) * g.hw + pix);
  }
}

dim3 pixel_grid(const LocalAttnDims& d) {
  return dim3(static_cast<unsigned>((d.height * d.width + kThreads - 1) / kThreads),
              static_cast<unsigned>(d.batch));
}

dim3 channel_grid(const LocalAttnDims& d, int64_t channels) {
  return dim3(static_cast<unsigned>((d.height * d.width + kThreads - 1) / kThreads),
              static_cast<unsigned>((channels + kChannelChunk - 1) / kChannelChunk),
              static_cast<unsigned>(d.batch));
}

bool empty(const LocalAttnDims& d) {
  return d.batch == 0 || d.height == 0 || d.width == 0;
}

template <typename T>
cudaError_t forward_impl(const LocalAttnDims& d, const T* q, const T* k, const T* v, T* out,
                         Acc<T>* attn, cudaStream_t stream) {
  if (empty(d)) return cudaSuccess;
  const Geo g = make_geo(d);
  logits_softmax_kernel<T><<<pixel_grid(d), kThreads, 0, stream>>>(q, k, attn, d.qk_channels, g);
  if (d.v_channels > 0) {
    window_sum_kernel<T, false><<<channel_grid(d, d.v_channels), kThreads, 0, stream>>>(
        attn, v, out, d.v_channels, g);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t backward_impl(const LocalAttnDims& d, const T* grad_out, const T* q, const T* k,
                          const T* v, const Acc<T>* attn, Acc<T>* grad_logits, T* grad_q,
                          T* grad_k, T* grad_v, cudaStream_t stream) {
  if (empty(d)) return cudaSuccess;
  const Geo g = make_geo(d);
  grad_logits_kernel<T><<<pixel_grid(d), kThreads, 0, stream>>>(grad_out, v, attn, grad_logits,
                                                                d.v_channels, g);
  if (d.qk_channels > 0) {
    window_sum_kernel<T, false><<<channel_grid(d, d.qk_channels), kThreads, 0, stream>>>(
        grad_logits, k, grad_q, d.qk_channels, g);
    window_sum_kernel<T, true><<<channel_grid(d, d.qk_channels), kThreads, 0, stream>>>(
        grad_logits, q, grad_k, d.qk_channels, g);
  }
  if (d.v_channels > 0) {
    window_sum_kernel<T, true><<<channel_grid(d, d.v_channels), kThreads, 0, stream>>>(
        attn, grad_out, grad_v, d.v_channels, g);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_forward(DType dtype, const LocalAttnDims& dims, const void* q, const void* k,
                           const void* v, void* out, void* attn, cudaStream_t stream) {
  switch (dtype) {
    case DType::kFloat32:
      return forward_impl(dims, static_cast<const float*>(q), static_cast<const float*>(k),
                          static_cast<const float*>(v), static_cast<float*>(out),
                          static_cast<float*>(attn), stream);
    case DType::kFloat16:
      return forward_impl(dims, static_cast<const __half*>(q), static_cast<const __half*>(k),
                          static_cast<const __half*>(v), static_cast<__half*>(out),
                          static_cast<float*>(attn), stream);
    case DType::kBFloat16:
      return forward_impl(dims, static_cast<const __nv_bfloat16*>(q),
                          static_cast<const __nv_bfloat16*>(k),
                          static_cast<const __nv_bfloat16*>(v), static_cast<__nv_bfloat16*>(out),
                          static_cast<float*>(attn), stream);
    case DType::kFloat64:
      return forward_impl(dims, static_cast<const double*>(q), static_cast<const double*>(k),
                          static_cast<const double*>(v), static_cast<double*>(out),
                          static_cast<double*>(attn), stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_backward(DType dtype, const LocalAttnDims& dims, const void* grad_out,
                            const void* q, const void* k, const void* v, const void* attn,
                            void* grad_logits, void* grad_q, void* grad_k, void* grad_v,
                            cudaStream_t stream) {
  switch (dtype) {
    case DType::kFloat32:
      return backward_impl(dims, static_cast<const float*>(grad_out),
                           static_cast<const float*>(q), static_cast<const float*>(k),
                           static_cast<const float*>(v), static_cast<const float*>(attn),
                           static_cast<float*>(grad_logits), static_cast<float*>(grad_q),
                           static_cast<float*>(grad_k), static_cast<float*>(grad_v), stream);
    case DType::kFloat16:
      return backward_impl(dims, static_cast<const __half*>(grad_out),
                           static_cast<const __half*>(q), static_cast<const __half*>(k),
                           static_cast<const __half*>(v), static_cast<const float*>(attn),
                           static_cast<float*>(grad_logits), static_cast<__half*>(grad_q),
                           static_cast<__half*>(grad_k), static_cast<__half*>(grad_v), stream);
    case DType::kBFloat16:
      return backward_impl(dims, static_cast<const __nv_bfloat16*>(grad_out),
                           static_cast<const __nv_bfloat16*>(q),
                           static_cast<const __nv_bfloat16*>(k),
                           static_cast<const __nv_bfloat16*>(v), static_cast<const float*>(attn),
                           static_cast<float*>(grad_logits), static_cast<__nv_bfloat16*>(grad_q),
                           static_cast<__nv_bfloat16*>(grad_k),
                           static_cast<__nv_bfloat16*>(grad_v), stream);
    case DType::kFloat64:
      return backward_impl(dims, static_cast<const double*>(grad_out),
                           static_cast<const double*>(q), static_cast<const double*>(k),
                           static_cast<const double*>(v), static_cast<const double*>(attn),
                           static_cast<double*>(grad_logits), static_cast<double*>(grad_q),
                           static_cast<double*>(grad_k), static_cast<double*>(grad_v), stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace atrc::cuda
