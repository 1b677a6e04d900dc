"""Local attention: time, memory and efficiency of every backend at the ATRC shapes.

    python benchmarks/local_attention.py [--device cpu|cuda] [--dtype float32|bfloat16|float16]
        [--shapes NAME ...] [--backends NAME ...] [--json PATH]

Backends: ``extension`` (the compiled kernels), ``torch`` (the pure-PyTorch kernels, through
the same op), ``unfold`` (the F.unfold reference) and, on a GPU, ``flex`` (FlexAttention with a
sliding-window block mask over the zero-padded image, which reproduces the zero-padding
semantics). Each backend runs in its own process, because the kernels behind the op are
chosen per process (ATRC_NAS_LOCAL_ATTN_BACKEND). Prints a table and writes JSON.

Reported per run: median forward time (no grad) and forward+backward time, bytes saved for
backward (unique storages packed by autograd, inputs included), on a GPU the peak memory
allocated by forward+backward, the speed-up and saved-memory ratio against unfold, and the
fraction of the FLOP lower bound (``flops``) at the measured fp32 matmul rate; on a GPU also
the fraction of the memory-traffic lower bound (``min_bytes``) at the measured copy bandwidth.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from atrc_nas.ops.backend import ENV_BACKEND
from atrc_nas.ops.library import forward_flops

KERNEL_SIZE = 9


@dataclass(frozen=True)
class Shape:
    batch: int
    channels: int  # d = C: the ATRC local block projects q, k and v to the attention width
    height: int
    width: int


SHAPES = {
    "nyud-hrnet18s": Shape(2, 33, 107, 140),
    "nyud-hrnet48": Shape(2, 90, 107, 140),
    "pascal-hrnet18s": Shape(2, 33, 128, 128),
    "pascal-hrnet48": Shape(2, 90, 128, 128),
    "pascal-hrnet48-b8": Shape(8, 90, 128, 128),
}
DEFAULT_SHAPES = {
    "cpu": ["nyud-hrnet18s", "nyud-hrnet48", "pascal-hrnet18s"],
    "cuda": ["nyud-hrnet18s", "nyud-hrnet48", "pascal-hrnet48-b8"],
}
DEFAULT_BACKENDS = {
    "cpu": ["extension", "torch", "unfold"],
    "cuda": ["extension", "torch", "unfold", "flex"],
}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def flops(shape: Shape, backward: bool) -> int:
    """The op's registered FLOP formula (q.k and attn.v over the window); three times the
    forward with backward."""
    dims = (shape.batch, shape.channels, shape.height, shape.width)
    forward = forward_flops(dims, dims, KERNEL_SIZE)
    return 3 * forward if backward else forward


def min_bytes(shape: Shape, elem: int, backward: bool) -> int:
    """Memory traffic of a kernel that saves the fp32 softmax weights for backward."""
    plane = shape.batch * shape.height * shape.width
    tensor = plane * shape.channels * elem
    attn = plane * KERNEL_SIZE**2 * 4
    forward = 3 * tensor + tensor + attn  # read q, k, v; write out and attn
    return forward + (4 * tensor + attn + 3 * tensor if backward else 0)  # g,q,k,v,attn -> 3


# --- worker: one backend, one shape, in its own process -----------------------------------


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _median_ms(fn: Callable[[], object], device: str, budget_s: float) -> float:
    fn()
    fn()  # warm-up (builds, compiles, allocator)
    times: list[float] = []
    while len(times) < 3 or (sum(times) < budget_s and len(times) < 25):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _saved_bytes(fn: Callable[[], torch.Tensor]) -> int:
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(storages.values())


def _flex(shape: Shape, device: str) -> Callable[..., torch.Tensor]:
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    pad = KERNEL_SIZE // 2
    hp, wp = shape.height + 2 * pad, shape.width + 2 * pad
    length = hp * wp
    dim = max(16, 1 << (shape.channels - 1).bit_length())  # head dims padded to a power of 2

    def window(b, h, q_idx, kv_idx):
        dy = kv_idx // wp - q_idx // wp
        dx = kv_idx % wp - q_idx % wp
        return (dy.abs() <= pad) & (dx.abs() <= pad)

    mask = create_block_mask(window, None, None, length, length, device=device)
    attend = torch.compile(flex_attention, fullgraph=True)

    def tokens(x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (pad, pad, pad, pad))
        x = F.pad(x.flatten(2).transpose(1, 2), (0, dim - x.shape[1]))
        return x.unsqueeze(1)  # [B, 1, L, dim]

    def run(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        out = attend(tokens(q), tokens(k), tokens(v), block_mask=mask, scale=1.0)
        out = out[:, 0, :, : shape.channels].transpose(1, 2)
        out = out.reshape(shape.batch, shape.channels, hp, wp)
        return out[:, :, pad : pad + shape.height, pad : pad + shape.width]

    return run


def _implementation(backend: str, shape: Shape, device: str) -> Callable[..., torch.Tensor]:
    if backend in ("extension", "torch"):
        from atrc_nas.ops import ensure_backend, local_attention

        info = ensure_backend()
        if info.name != {"extension": "cpp", "torch": "torch"}[backend]:
            raise RuntimeError(f"wanted {backend}, got {info.name}: {info.reason}")
        if backend == "extension" and device not in info.compiled_devices:
            raise RuntimeError(f"no compiled {device} kernels: {info.reason}")
        return lambda q, k, v: local_attention(q, k, v, KERNEL_SIZE)
    if backend == "unfold":
        from atrc_nas.ops.reference import unfold_local_attention

        return lambda q, k, v: unfold_local_attention(q, k, v, KERNEL_SIZE, 1)
    if backend == "flex":
        return _flex(shape, device)
    raise ValueError(f"unknown backend {backend!r}")


def run_worker(backend: str, shape_name: str, device: str, dtype: torch.dtype,
               budget_s: float) -> dict[str, float]:
    shape = SHAPES[shape_name]
    fn = _implementation(backend, shape, device)
    gen = torch.Generator().manual_seed(0)
    size = (shape.batch, shape.channels, shape.height, shape.width)
    q, k, v, g = (torch.randn(size, generator=gen).to(device=device, dtype=dtype)
                  for _ in range(4))
    q = q / math.sqrt(shape.channels)
    with torch.no_grad():
        forward_ms = _median_ms(lambda: fn(q, k, v), device, budget_s)
    inputs = [t.clone().requires_grad_() for t in (q, k, v)]

    def forward_backward() -> None:
        fn(*inputs).backward(g)
        for t in inputs:
            t.grad = None

    result = {
        "forward_ms": forward_ms,
        "forward_backward_ms": _median_ms(forward_backward, device, budget_s),
        "saved_mb": _saved_bytes(lambda: fn(*inputs)) / 2**20,
    }
    if device == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        forward_backward()
        torch.cuda.synchronize()
        result["peak_mb"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    return result


# --- parent: machine peaks, one process per run, table and JSON ----------------------------


def measured_peaks(device: str) -> dict[str, float]:
    """fp32 matmul GFLOP/s (no TF32) and, on a GPU, copy bandwidth in GB/s."""
    n = 8192 if device == "cuda" else 2048
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    ms = _median_ms(lambda: a @ b, device, 1.0)
    peaks = {"matmul_gflops": 2 * n**3 / ms / 1e6}
    if device == "cuda":
        src = torch.empty(2**28, device=device)
        dst = torch.empty_like(src)
        ms = _median_ms(lambda: dst.copy_(src), device, 1.0)
        peaks["copy_gbs"] = 2 * src.numel() * 4 / ms / 1e6
    return peaks


def _spawn(backend: str, shape: str, args: argparse.Namespace) -> dict[str, object]:
    env = dict(os.environ)
    if backend in ("extension", "torch"):
        env[ENV_BACKEND] = "cpp" if backend == "extension" else "torch"
    cmd = [sys.executable, __file__, "--worker", backend, "--shapes", shape,
           "--device", args.device, "--dtype", args.dtype, "--budget", str(args.budget)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout} s"}
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _derive(row: dict, unfold: dict | None, shape: Shape, peaks: dict, elem: int) -> None:
    if "error" in row:
        return
    for key, backward in (("forward_ms", False), ("forward_backward_ms", True)):
        bound_ms = flops(shape, backward) / peaks["matmul_gflops"] / 1e6
        row[f"{key[:-3]}_flop_bound_fraction"] = bound_ms / row[key]
        if "copy_gbs" in peaks:
            byte_ms = min_bytes(shape, elem, backward) / peaks["copy_gbs"] / 1e6
            row[f"{key[:-3]}_byte_bound_fraction"] = byte_ms / row[key]
        if unfold and "error" not in unfold:
            row[f"{key[:-3]}_speedup_vs_unfold"] = unfold[key] / row[key]
    if unfold and "error" not in unfold:
        row["saved_reduction_vs_unfold"] = unfold["saved_mb"] / row["saved_mb"]


def _table(rows: list[dict], device: str) -> str:
    cols = [("shape", "shape", "{}"), ("backend", "backend", "{}"),
            ("fwd ms", "forward_ms", "{:.1f}"), ("fwd+bwd ms", "forward_backward_ms", "{:.1f}"),
            ("saved MB", "saved_mb", "{:.1f}"),
            ("x unfold (f+b)", "forward_backward_speedup_vs_unfold", "{:.1f}"),
            ("x less saved", "saved_reduction_vs_unfold", "{:.1f}"),
            ("FLOP bound (f+b)", "forward_backward_flop_bound_fraction", "{:.0%}")]
    if device == "cuda":
        cols += [("peak MB", "peak_mb", "{:.0f}"),
                 ("byte bound (f+b)", "forward_backward_byte_bound_fraction", "{:.0%}")]
    lines = ["| " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        if "error" in row:
            cells = [row["shape"], row["backend"], f"error: {row['error']}"]
            cells += [""] * (len(cols) - 3)
        else:
            cells = [fmt.format(row[key]) if key in row else "-" for _, key, fmt in cols]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def _machine(device: str) -> dict[str, object]:
    info: dict[str, object] = {
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
        "cpu": platform.processor() or platform.machine(), "load_average": os.getloadavg(),
    }
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dtype", choices=list(DTYPES), default="float32")
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES))
    parser.add_argument("--backends", nargs="+", choices=DEFAULT_BACKENDS["cuda"])
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of timing per number")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--json", type=Path, help="output (default benchmarks/results/...)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = run_worker(args.worker, args.shapes[0], args.device, DTYPES[args.dtype],
                            args.budget)
        print(json.dumps(result))
        return 0

    shapes = args.shapes or DEFAULT_SHAPES[args.device]
    backends = args.backends or DEFAULT_BACKENDS[args.device]
    machine = _machine(args.device)
    peaks = measured_peaks(args.device)
    elem = torch.empty((), dtype=DTYPES[args.dtype]).element_size()
    rows: list[dict] = []
    for shape_name in shapes:
        shape = SHAPES[shape_name]
        results = {b: _spawn(b, shape_name, args) for b in backends}
        for backend, result in results.items():
            row = {"shape": shape_name, **asdict(shape), "backend": backend, **result}
            _derive(row, results.get("unfold"), shape, peaks, elem)
            rows.append(row)
            print(f"{shape_name} {backend}: {json.dumps(result)}", file=sys.stderr)
    machine["load_average_after"] = os.getloadavg()
    table = _table(rows, args.device)
    print(table)
    out = args.json or Path(__file__).parent / "results" / f"local_attention_{args.device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"device": args.device, "dtype": args.dtype, "kernel_size": KERNEL_SIZE,
              "machine": machine, "peaks": peaks, "results": rows}
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
