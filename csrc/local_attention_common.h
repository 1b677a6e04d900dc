// Argument checks and tensor helpers shared by the CPU kernels and the CUDA binding.
#pragma once

#include <ATen/ATen.h>

#include "local_attention_dims.h"

namespace atrc {

// Softmax weights are kept in float32 for reduced-precision inputs, else in the input dtype.
inline at::ScalarType attn_dtype(at::ScalarType t) {
  return (t == at::kHalf || t == at::kBFloat16) ? at::kFloat : t;
}

inline LocalAttnDims check_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  int64_t kernel_size, int64_t dilation) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
              "local_attention: query, key and value must be 4-D [B, C, H, W]; got ", q.sizes(),
              ", ", k.sizes(), ", ", v.sizes());
  TORCH_CHECK(q.sizes() == k.sizes(), "local_attention: query ", q.sizes(), " and key ", k.sizes(),
              " must have the same shape");
  TORCH_CHECK(v.size(0) == q.size(0) && v.size(2) == q.size(2) && v.size(3) == q.size(3),
              "local_attention: value ", v.sizes(),
              " must share batch, height and width with query ", q.sizes());
  TORCH_CHECK(q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type(),
              "local_attention: query, key and value must share a dtype");
  TORCH_CHECK(q.device() == k.device() && q.device() == v.device(),
              "local_attention: query, key and value must be on one device");
  TORCH_CHECK(kernel_size >= 1 && kernel_size % 2 == 1,
              "local_attention: kernel_size must be a positive odd integer, got ", kernel_size);
  TORCH_CHECK(dilation >= 1, "local_attention: dilation must be >= 1, got ", dilation);
  return LocalAttnDims{q.size(0), q.size(1), v.size(1), q.size(2), q.size(3),
                       static_cast<int>(kernel_size), static_cast<int>(dilation)};
}

// The extra inputs of the backward: the saved attention weights and the output gradient.
inline void check_backward_inputs(const at::Tensor& grad_out, const at::Tensor& attn,
                                  const at::Tensor& q, const at::Tensor& v,
                                  const LocalAttnDims& d) {
  TORCH_CHECK(grad_out.sizes() == v.sizes(), "local_attention backward: grad_out ",
              grad_out.sizes(), " must match value ", v.sizes());
  const int64_t taps = static_cast<int64_t>(d.kernel_size) * d.kernel_size;
  TORCH_CHECK(attn.dim() == 4 && attn.size(0) == d.batch && attn.size(1) == taps &&
                  attn.size(2) == d.height && attn.size(3) == d.width,
              "local_attention backward: attn must be [B, k*k, H, W]; got ", attn.sizes());
  TORCH_CHECK(attn.scalar_type() == attn_dtype(q.scalar_type()),
              "local_attention backward: attn dtype ", attn.scalar_type(), " does not match ",
              attn_dtype(q.scalar_type()));
}

}  // namespace atrc
