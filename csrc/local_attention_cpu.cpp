// CPU binding of atrc::local_attention_fwd / atrc::local_attention_bwd: argument checks,
// zero-padded copies of the operands, dtype dispatch and at::parallel_for over image rows.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>

#include "local_attention_common.h"
#include "local_attention_cpu_kernels.h"

namespace atrc {
namespace {

using cpu::Geometry;
using cpu::kLanes;

// Zero-padded contiguous copy [B, C, H + 2 pad, wp] of a [B, C, H, W] tensor.
at::Tensor padded(const Geometry& g, const at::Tensor& t) {
  return at::constant_pad_nd(t.contiguous(), {g.pad, g.pad + g.wr - g.d.width, g.pad, g.pad})
      .contiguous();
}

// Image rows are independent work items of a few hundred microseconds each. Threads claim
// small blocks of rows from a shared counter instead of one fixed share each, so that a
// thread slowed down by other processes on a shared core does not hold up the others.
const auto parallel_rows = [](int64_t begin, int64_t end, const auto& body) {
  constexpr int64_t kBlock = 4;
  std::atomic<int64_t> next{begin};
  at::parallel_for(0, at::get_num_threads(), 1, [&](int64_t, int64_t) {
    for (int64_t row = next.fetch_add(kBlock); row < end; row = next.fetch_add(kBlock)) {
      body(row, std::min(end, row + kBlock));
    }
  });
};

// Half and bfloat16 inputs are computed in float32 on CPU.
at::ScalarType compute_dtype(at::ScalarType t) {
  return (t == at::kDouble) ? at::kDouble : at::kFloat;
}

std::tuple<at::Tensor, at::Tensor> forward_cpu(const at::Tensor& q, const at::Tensor& k,
                                               const at::Tensor& v, int64_t kernel_size,
                                               int64_t dilation) {
  const LocalAttnDims d = check_inputs(q, k, v, kernel_size, dilation);
  const at::ScalarType ct = compute_dtype(q.scalar_type());
  const int64_t taps = kernel_size * kernel_size;
  at::Tensor out = at::empty({d.batch, d.v_channels, d.height, d.width}, q.options().dtype(ct));
  at::Tensor attn = at::empty({d.batch, taps, d.height, d.width}, q.options().dtype(ct));
  AT_DISPATCH_FLOATING_TYPES(ct, "local_attention_fwd_cpu", [&] {
    const Geometry g(d, kLanes<scalar_t>);
    const at::Tensor qp = padded(g, q.to(ct));
    const at::Tensor kp = padded(g, k.to(ct));
    const at::Tensor vp = padded(g, v.to(ct));
    cpu::forward_kernel<scalar_t>(g, qp.data_ptr<scalar_t>(), kp.data_ptr<scalar_t>(),
                             vp.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
                             attn.data_ptr<scalar_t>(), parallel_rows);
  });
  return {out.to(q.scalar_type()), attn.to(attn_dtype(q.scalar_type()))};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const at::Tensor& attn, int64_t kernel_size, int64_t dilation) {
  const LocalAttnDims d = check_inputs(q, k, v, kernel_size, dilation);
  check_backward_inputs(grad_out, attn, q, v, d);
  const at::ScalarType ct = compute_dtype(q.scalar_type());
  const auto opts = q.options().dtype(ct);
  at::Tensor gq = at::empty({d.batch, d.qk_channels, d.height, d.width}, opts);
  at::Tensor gk = at::empty_like(gq);
  at::Tensor gv = at::empty({d.batch, d.v_channels, d.height, d.width}, opts);
  AT_DISPATCH_FLOATING_TYPES(ct, "local_attention_bwd_cpu", [&] {
    const Geometry g(d, kLanes<scalar_t>);
    const at::Tensor gp = padded(g, grad_out.to(ct));
    const at::Tensor qp = padded(g, q.to(ct));
    const at::Tensor kp = padded(g, k.to(ct));
    const at::Tensor vp = padded(g, v.to(ct));
    const at::Tensor pp = padded(g, attn.to(ct));
    at::Tensor glp = at::zeros_like(pp);
    cpu::backward_kernel<scalar_t>(g, gp.data_ptr<scalar_t>(), qp.data_ptr<scalar_t>(),
                              kp.data_ptr<scalar_t>(), vp.data_ptr<scalar_t>(),
                              pp.data_ptr<scalar_t>(), glp.data_ptr<scalar_t>(),
                              gq.data_ptr<scalar_t>(), gk.data_ptr<scalar_t>(),
                              gv.data_ptr<scalar_t>(), parallel_rows);
  });
  const at::ScalarType t = q.scalar_type();
  return {gq.to(t), gk.to(t), gv.to(t)};
}

}  // namespace
}  // namespace atrc

TORCH_LIBRARY_IMPL(atrc, CPU, m) {
  m.impl("local_attention_fwd", &atrc::forward_cpu);
  m.impl("local_attention_bwd", &atrc::backward_cpu);
}
