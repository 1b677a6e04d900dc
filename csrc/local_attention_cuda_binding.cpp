// CUDA binding of atrc::local_attention_fwd / atrc::local_attention_bwd: argument checks,
// contiguous operands, output allocation and the current stream; kernels live in the .cu file.

#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "local_attention_common.h"
#include "local_attention_cuda.h"

namespace atrc {
namespace {

cuda::DType dtype_code(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return cuda::DType::kFloat32;
    case at::kHalf:
      return cuda::DType::kFloat16;
    case at::kBFloat16:
      return cuda::DType::kBFloat16;
    case at::kDouble:
      return cuda::DType::kFloat64;
    default:
      TORCH_CHECK(false, "local_attention on CUDA supports float32, float16, bfloat16 and "
                         "float64; got ", t);
  }
}

LocalAttnDims check_cuda(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                         int64_t kernel_size, int64_t dilation) {
  const LocalAttnDims d = check_inputs(q, k, v, kernel_size, dilation);
  TORCH_CHECK(q.is_cuda(), "local_attention CUDA kernel got a ", q.device(), " tensor");
  TORCH_CHECK(d.batch <= 65535, "local_attention on CUDA supports batch <= 65535, got ", d.batch);
  TORCH_CHECK(d.height * d.width < (int64_t{1} << 31),
              "local_attention on CUDA supports H * W < 2^31");
  return d;
}

void check_launch(cudaError_t err, const char* what) {
  TORCH_CHECK(err == cudaSuccess, "local_attention CUDA ", what, " failed: ",
              cudaGetErrorString(err));
}

std::tuple<at::Tensor, at::Tensor> forward_cuda(const at::Tensor& q, const at::Tensor& k,
                                                const at::Tensor& v, int64_t kernel_size,
                                                int64_t dilation) {
  const LocalAttnDims d = check_cuda(q, k, v, kernel_size, dilation);
  const c10::cuda::CUDAGuard guard(q.device());
  const at::Tensor qc = q.contiguous();
  const at::Tensor kc = k.contiguous();
  const at::Tensor vc = v.contiguous();
  at::Tensor out = at::empty(vc.sizes(), vc.options());
  at::Tensor attn = at::empty({d.batch, kernel_size * kernel_size, d.height, d.width},
                              q.options().dtype(attn_dtype(q.scalar_type())));
  check_launch(cuda::launch_forward(dtype_code(q.scalar_type()), d, qc.data_ptr(), kc.data_ptr(),
                                    vc.data_ptr(), out.data_ptr(), attn.data_ptr(),
                                    c10::cuda::getCurrentCUDAStream().stream()),
               "forward");
  return {out, attn};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const at::Tensor& attn, int64_t kernel_size, int64_t dilation) {
  const LocalAttnDims d = check_cuda(q, k, v, kernel_size, dilation);
  check_backward_inputs(grad_out, attn, q, v, d);
  const c10::cuda::CUDAGuard guard(q.device());
  const at::Tensor gc = grad_out.to(v.scalar_type()).contiguous();
  const at::Tensor qc = q.contiguous();
  const at::Tensor kc = k.contiguous();
  const at::Tensor vc = v.contiguous();
  const at::Tensor ac = attn.contiguous();
  at::Tensor grad_logits = at::empty_like(ac);
  at::Tensor gq = at::empty(qc.sizes(), qc.options());
  at::Tensor gk = at::empty(kc.sizes(), kc.options());
  at::Tensor gv = at::empty(vc.sizes(), vc.options());
  check_launch(cuda::launch_backward(dtype_code(q.scalar_type()), d, gc.data_ptr(), qc.data_ptr(),
                                     kc.data_ptr(), vc.data_ptr(), ac.data_ptr(),
                                     grad_logits.data_ptr(), gq.data_ptr(), gk.data_ptr(),
                                     gv.data_ptr(), c10::cuda::getCurrentCUDAStream().stream()),
               "backward");
  return {gq, gk, gv};
}

}  // namespace
}  // namespace atrc

TORCH_LIBRARY_IMPL(atrc, CUDA, m) {
  m.impl("local_attention_fwd", &atrc::forward_cuda);
  m.impl("local_attention_bwd", &atrc::backward_cuda);
}
