// Launchers of the CUDA local-attention kernels: raw device pointers and a stream, no torch.
//
// Every tensor is a contiguous NCHW device buffer of `dtype`, except `attn` and the
// `grad_logits` workspace: [B, k*k, H, W] in float32 (float64 for float64 inputs).
#pragma once

#include <cuda_runtime_api.h>

#include "local_attention_dims.h"

namespace atrc::cuda {

enum class DType { kFloat32, kFloat16, kBFloat16, kFloat64 };

// out = softmax-weighted sum over the window of v; attn = the softmax weights.
cudaError_t launch_forward(DType dtype, const LocalAttnDims& dims, const void* q, const void* k,
                           const void* v, void* out, void* attn, cudaStream_t stream);

// Gradients of q, k and v; grad_logits is a scratch buffer shaped like attn.
cudaError_t launch_backward(DType dtype, const LocalAttnDims& dims, const void* grad_out,
                            const void* q, const void* k, const void* v, const void* attn,
                            void* grad_logits, void* grad_q, void* grad_k, void* grad_v,
                            cudaStream_t stream);

}  // namespace atrc::cuda
