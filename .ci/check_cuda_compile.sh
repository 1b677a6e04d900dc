#!/usr/bin/env bash
# Compile-checks the CUDA sources of the local-attention extension: the kernels with nvcc
# (sm_90 code plus portable compute_80 PTX) and, when torch's headers are found, the C++
# binding with the host compiler. Skips with a message when nvcc is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."

NVCC="${NVCC:-$(command -v nvcc || true)}"
if [[ -z "$NVCC" && -x /usr/local/cuda/bin/nvcc ]]; then NVCC=/usr/local/cuda/bin/nvcc; fi
if [[ -z "$NVCC" ]]; then
  echo "check_cuda_compile: nvcc not found; skipping the CUDA compile check"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for cu in csrc/*.cu; do
  "$NVCC" -std=c++17 -O3 -Icsrc \
    -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=compute_80 \
    -Xcompiler -Wall,-Wextra -Werror all-warnings \
    -c "$cu" -o "$work/$(basename "$cu").o"
  echo "check_cuda_compile: $cu compiles for sm_90 and compute_80"
done

PY="${PYTHON:-.venv/bin/python}"
[[ -x "$PY" ]] || PY=python3
torch_includes="$("$PY" -c 'from torch.utils.cpp_extension import include_paths as p
print(" ".join(p()))' 2>/dev/null || true)"
cuda_include=""
for dir in "${CUDA_HOME:-}" "$(dirname "$(dirname "$(readlink -f "$NVCC")")")" /usr/local/cuda; do
  if [[ -n "$dir" && -f "$dir/include/cuda_runtime.h" ]]; then
    cuda_include="$dir/include"
    break
  fi
done
if [[ -z "$torch_includes" || -z "$cuda_include" ]]; then
  echo "check_cuda_compile: torch or the CUDA headers not found; skipping the binding check"
  exit 0
fi
# CPU builds of torch ship the CUDA headers but not this generated one.
mkdir -p "$work/stub/c10/cuda/impl"
echo '#define C10_CUDA_BUILD_SHARED_LIBS' > "$work/stub/c10/cuda/impl/cuda_cmake_macros.h"
flags=(-std=c++17 -fsyntax-only -Wall -Wextra -Icsrc -isystem "$cuda_include")
for inc in $torch_includes; do flags+=(-isystem "$inc"); done
flags+=(-isystem "$work/stub")
for cpp in csrc/*_cuda_binding.cpp; do
  "${CXX:-c++}" "${flags[@]}" "$cpp"
  echo "check_cuda_compile: $cpp passes a syntax check against torch's CUDA headers"
done
