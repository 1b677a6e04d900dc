// Shape of one local-attention call; shared by the CPU kernels and the CUDA launchers.
// Torch-free so that nvcc can compile the CUDA kernels without torch headers.
#pragma once

#include <cstdint>

namespace atrc {

struct LocalAttnDims {
  int64_t batch;
  int64_t qk_channels;  // d: channels of query and key
  int64_t v_channels;   // C: channels of value and output
  int64_t height;
  int64_t width;
  int kernel_size;      // odd window side k
  int dilation;         // >= 1
};

}  // namespace atrc
