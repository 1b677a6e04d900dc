"""Local attention: time, memory, efficiency and parity of every backend at the ATRC shapes.

    python benchmarks/local_attention.py [--device cpu|cuda] [--dtype float32 bfloat16 ...]
        [--shapes NAME ...] [--backends NAME ...] [--json PATH]

Backends: ``extension`` (the compiled kernels), ``torch`` (the pure-PyTorch kernels, through
the same op), ``unfold`` (the F.unfold reference) and ``flex`` (FlexAttention with a
sliding-window block mask over the zero-padded image, which reproduces the zero-padding
semantics; compiled on a GPU; eager and forward-only on a CPU, a check of the semantics).
Each backend runs in its own process (every shape and dtype in that one process), because
the kernels behind the op are chosen per process (ATRC_NAS_LOCAL_ATTN_BACKEND). Prints a
table and writes JSON, after every backend (a killed run keeps what it measured).

Reported per run: median forward time (no grad) and forward+backward time (on a GPU, calls
queued back to back between synchronisations, so launch latency hides behind earlier work as
in training), on a GPU also the summed time of the GPU kernels per call (torch.profiler), the
bytes saved for backward (unique storages packed by autograd, inputs included), on a GPU the
peak memory allocated by forward and by forward+backward, the speed-up and saved-memory ratio
against unfold, the fraction of the FLOP lower bound (``flops``) at the measured fp32 matmul
rate, on a GPU the fraction of the memory-traffic lower bound (``min_bytes``, stated in the
JSON as ``min_bytes_model``) at the measured copy bandwidth, and the parity of the output and
of dq, dk, dv with the unfold reference computed in float64 on the same (rounded) inputs.
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
    "nyud-hrnet18s-b8": Shape(8, 33, 107, 140),
    "nyud-hrnet48": Shape(2, 90, 107, 140),
    "pascal-hrnet18s": Shape(2, 33, 128, 128),
    "pascal-hrnet48": Shape(2, 90, 128, 128),
    "pascal-hrnet48-b8": Shape(8, 90, 128, 128),
    "tiny": Shape(2, 6, 11, 13),  # dry runs of the whole pipeline on a CPU
}
DEFAULT_SHAPES = {
    "cpu": ["nyud-hrnet18s", "nyud-hrnet48", "pascal-hrnet18s"],
    "cuda": ["nyud-hrnet18s-b8", "pascal-hrnet48-b8"],
}
BACKENDS = ["extension", "torch", "unfold", "flex"]
DEFAULT_BACKENDS = {
    "cpu": ["extension", "torch", "unfold"],
    "cuda": ["extension", "unfold", "flex"],
}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Parity: max |got - fp64 reference| / max |reference|, per output and gradient.
PARITY_TOLERANCE = {"float32": 1e-4, "float16": 1.5e-2, "bfloat16": 1e-1}
PARITY_BATCH = 2  # images of each batch compared with the float64 reference

MIN_BYTES_MODEL = (
    "bytes a kernel that saves the fp32 softmax weights must move, each byte once (window "
    "neighbours re-read from cache are free): forward reads q, k (B*d*H*W each) and v "
    "(B*C*H*W) and writes out (B*C*H*W) in the input dtype and attn (B*k*k*H*W float32); "
    "backward reads grad_out, q, k, v and attn and writes dq, dk, dv; forward+backward is the "
    "sum. Bound = min_bytes / measured device-to-device copy bandwidth (read+write bytes/s)"
)
FLOP_MODEL = (
    "the op's registered FLOP formula 2*B*(d+C)*k*k*H*W forward, 3x that with backward; "
    "bound = flops / measured fp32 matmul rate (TF32 off), whatever the dtype"
)
FLEX_MODEL = (
    "FlexAttention over the zero-padded image as (H+2p)*(W+2p) tokens (p = k//2), one head, "
    "head dims zero-padded to a power of two (>= 16), scale 1, block mask |dy| <= p and "
    "|dx| <= p in padded coordinates: every in-image query sees exactly its k x k window, "
    "out-of-image taps are zero tokens (logit 0, value 0) that take softmax mass, as in the "
    "op; queries on the padding are computed and cropped (about 14% extra work at 107x140); "
    "times include the conversion to and from tokens (pad, transpose, crop)"
)


def flops(shape: Shape, backward: bool) -> int:
    """The op's registered FLOP formula (q.k and attn.v over the window); three times the
    forward with backward."""
    dims = (shape.batch, shape.channels, shape.height, shape.width)
    forward = forward_flops(dims, dims, KERNEL_SIZE)
    return 3 * forward if backward else forward


def min_bytes(shape: Shape, elem: int, backward: bool) -> int:
    """Memory traffic of a kernel that saves the fp32 softmax weights (MIN_BYTES_MODEL)."""
    plane = shape.batch * shape.height * shape.width
    tensor = plane * shape.channels * elem
    attn = plane * KERNEL_SIZE**2 * 4
    forward = 3 * tensor + tensor + attn  # read q, k, v; write out and attn
    return forward + (4 * tensor + attn + 3 * tensor if backward else 0)  # g,q,k,v,attn -> 3


# --- worker: one backend, every shape and dtype, in its own process -------------------------


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _median_ms(fn: Callable[[], object], device: str, budget_s: float) -> float:
    """Median time per call. On a GPU each sample queues several calls back to back (about
    1 ms of work) between synchronisations."""
    fn()
    fn()  # warm-up (builds, compiles, allocator)
    inner = 1
    if device == "cuda":
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        inner = max(1, min(20, math.ceil(1e-3 / max(time.perf_counter() - start, 1e-6))))
    times: list[float] = []
    while len(times) < 3 or (sum(times) * inner < budget_s and len(times) < 25):
        _sync(device)
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        _sync(device)
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times) * 1e3


def _kernel_ms(fn: Callable[[], object], calls: int = 3) -> float:
    """Summed GPU time (kernels, copies, memsets) per call, from torch.profiler."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    total_us = sum(
        e.self_device_time_total for e in prof.events()
        if e.device_type == DeviceType.CUDA and not getattr(e, "is_user_annotation", False)
    )
    if total_us <= 0:
        raise RuntimeError("the profiler recorded no GPU time")
    return total_us / calls / 1e3


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
    """FlexAttention with FLEX_MODEL's mask; compiled (static shapes) on a GPU."""
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
    if device == "cuda":
        torch._dynamo.reset()  # every shape and dtype compiles afresh, static
        attend = torch.compile(flex_attention, fullgraph=True, dynamic=False)
    else:
        attend = flex_attention  # eager: a check of the semantics, not a speed

    def tokens(x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (pad, pad, pad, pad))
        x = F.pad(x.flatten(2).transpose(1, 2), (0, dim - x.shape[1]))
        return x.unsqueeze(1)  # [B, 1, L, dim]

    def run(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        out = attend(tokens(q), tokens(k), tokens(v), block_mask=mask, scale=1.0)
        out = out[:, 0, :, : v.shape[1]].transpose(1, 2)
        out = out.reshape(v.shape[0], v.shape[1], hp, wp)
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


def parity(fn: Callable[..., torch.Tensor], q: torch.Tensor, k: torch.Tensor,
           v: torch.Tensor, g: torch.Tensor, dtype_name: str,
           backward: bool = True) -> dict[str, object]:
    """Output and (with ``backward``) gradients of ``fn`` against the unfold reference in
    float64 on the same rounded inputs (the first PARITY_BATCH images): max error / max
    |reference|."""
    from atrc_nas.ops.reference import unfold_local_attention

    n = min(PARITY_BATCH, q.shape[0])
    inputs = [t.detach().clone().requires_grad_(backward) for t in (q, k, v)]
    ref_inputs = [t[:n].detach().double().requires_grad_(backward) for t in (q, k, v)]
    out = fn(*inputs)
    ref_out = unfold_local_attention(*ref_inputs, KERNEL_SIZE, 1)
    got, want = [out], [ref_out]
    if backward:
        got += torch.autograd.grad(out, inputs, g)
        want += torch.autograd.grad(ref_out, ref_inputs, g[:n].double())
    errors: dict[str, object] = {}
    for name, a, b in zip(("out", "dq", "dk", "dv"), got, want, strict=False):
        scale = b.abs().max().item()
        err = (a[:n].double() - b).abs().max().item()
        errors[name] = err / scale if scale > 0 else err
    tol = PARITY_TOLERANCE[dtype_name]
    worst = max(float(e) for e in errors.values())
    return {**errors, "tolerance": tol, "ok": bool(math.isfinite(worst) and worst <= tol)}


def run_worker(backend: str, shape_name: str, device: str, dtype_name: str,
               budget_s: float, profile_kernels: bool) -> dict[str, object]:
    shape = SHAPES[shape_name]
    dtype = DTYPES[dtype_name]
    fn = _implementation(backend, shape, device)
    gen = torch.Generator().manual_seed(0)
    size = (shape.batch, shape.channels, shape.height, shape.width)
    q, k, v, g = (torch.randn(size, generator=gen).to(device=device, dtype=dtype)
                  for _ in range(4))
    q = q / math.sqrt(shape.channels)

    def forward() -> None:
        with torch.no_grad():
            fn(q, k, v)

    inputs = [t.clone().requires_grad_() for t in (q, k, v)]

    def forward_backward() -> None:
        fn(*inputs).backward(g)
        for t in inputs:
            t.grad = None

    # eager FlexAttention has no backward on a CPU: forward time and parity only
    backward = not (backend == "flex" and device == "cpu")
    result: dict[str, object] = {"forward_ms": _median_ms(forward, device, budget_s)}
    if backward:
        try:
            result["forward_backward_ms"] = _median_ms(forward_backward, device, budget_s)
        except Exception as exc:  # keep the forward numbers
            result["forward_backward_error"] = f"{type(exc).__name__}: {exc}"[:300]
            backward = False
    if device == "cuda":
        steps = [("forward", forward)] + ([("forward_backward", forward_backward)]
                                          if backward else [])
        for key, step in steps:
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            step()
            torch.cuda.synchronize()
            result[f"{key}_peak_mb" if key == "forward" else "peak_mb"] = (
                torch.cuda.max_memory_allocated() - base) / 2**20
        if profile_kernels:
            try:
                result["forward_kernel_ms"] = _kernel_ms(forward)
                if backward:
                    result["forward_backward_kernel_ms"] = _kernel_ms(forward_backward)
            except Exception as exc:  # the profiler is a nice-to-have
                result["kernel_profile_error"] = f"{type(exc).__name__}: {exc}"[:300]
    try:
        result["parity"] = parity(fn, q, k, v, g, dtype_name, backward)
    except Exception as exc:
        result["parity"] = {"error": f"{type(exc).__name__}: {exc}"[:300], "ok": False}
    if backward:  # last: saved-tensor hooks around a compiled function may recompile it
        try:
            result["saved_mb"] = _saved_bytes(lambda: fn(*inputs)) / 2**20
        except Exception as exc:
            result["saved_mb_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return result


def worker_main(args: argparse.Namespace) -> int:
    """One JSON line per (shape, dtype), printed as soon as it is measured."""
    for dtype_name in args.dtype:
        for shape_name in args.shapes:
            row: dict[str, object] = {"shape": shape_name, "dtype": dtype_name}
            try:
                row.update(run_worker(args.worker, shape_name, args.device, dtype_name,
                                      args.budget, not args.no_profile))
            except Exception as exc:
                row["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            if args.device == "cuda":
                torch.cuda.empty_cache()
            print(json.dumps(row), flush=True)
    return 0


# --- parent: machine peaks, one process per backend, table and JSON -------------------------


def measured_peaks(device: str) -> dict[str, float]:
    """fp32 matmul GFLOP/s (no TF32) and, on a GPU, copy bandwidth in GB/s (read + write)."""
    n = 8192 if device == "cuda" else 2048
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    ms = _median_ms(lambda: a @ b, device, 0.5)
    peaks = {"matmul_gflops": 2 * n**3 / ms / 1e6}
    if device == "cuda":
        src = torch.empty(2**28, device=device)
        dst = torch.empty_like(src)
        ms = _median_ms(lambda: dst.copy_(src), device, 0.5)
        peaks["copy_gbs"] = 2 * src.numel() * 4 / ms / 1e6
    return peaks


def _spawn(backend: str, args: argparse.Namespace) -> dict[tuple[str, str], dict]:
    """Runs one backend's worker; returns its rows by (shape, dtype), errors included."""
    env = dict(os.environ)
    if backend in ("extension", "torch"):
        env[ENV_BACKEND] = "cpp" if backend == "extension" else "torch"
    cmd = [sys.executable, __file__, "--worker", backend, "--shapes", *args.shapes,
           "--device", args.device, "--dtype", *args.dtype, "--budget", str(args.budget)]
    if args.no_profile:
        cmd.append("--no-profile")
    failure = None
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
        stdout, stderr = proc.stdout, proc.stderr
        if proc.returncode != 0:
            lines = (stderr or stdout).strip().splitlines()
            failure = lines[-1] if lines else f"exit status {proc.returncode}"
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        failure = f"timed out after {args.timeout} s"
    if stderr.strip():
        print(f"--- {backend} worker stderr (last lines) ---\n"
              + "\n".join(stderr.strip().splitlines()[-15:]), file=sys.stderr)
    rows: dict[tuple[str, str], dict] = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            rows[(row.pop("shape"), row.pop("dtype"))] = row
    for dtype_name in args.dtype:
        for shape_name in args.shapes:
            rows.setdefault((shape_name, dtype_name), {"error": failure or "no result"})
    return rows


def _derive(row: dict, unfold: dict | None, shape: Shape, peaks: dict, elem: int) -> None:
    row["forward_flops"] = flops(shape, False)
    row["forward_backward_flops"] = flops(shape, True)
    if "copy_gbs" in peaks:
        row["forward_min_bytes"] = min_bytes(shape, elem, False)
        row["forward_backward_min_bytes"] = min_bytes(shape, elem, True)
    if "error" in row:
        return
    unfold_ok = unfold is not None and "error" not in unfold
    for key, backward in (("forward", False), ("forward_backward", True)):
        if f"{key}_ms" not in row:
            continue
        bound_ms = flops(shape, backward) / peaks["matmul_gflops"] / 1e6
        row[f"{key}_flop_bound_fraction"] = bound_ms / row[f"{key}_ms"]
        if "copy_gbs" in peaks:
            byte_ms = min_bytes(shape, elem, backward) / peaks["copy_gbs"] / 1e6
            row[f"{key}_byte_bound_ms"] = byte_ms
            row[f"{key}_byte_bound_fraction"] = byte_ms / row[f"{key}_ms"]
            if f"{key}_kernel_ms" in row:
                row[f"{key}_kernel_byte_bound_fraction"] = byte_ms / row[f"{key}_kernel_ms"]
        if unfold_ok:
            row[f"{key}_speedup_vs_unfold"] = unfold[f"{key}_ms"] / row[f"{key}_ms"]
    if unfold_ok and "saved_mb" in row:
        row["saved_reduction_vs_unfold"] = unfold["saved_mb"] / row["saved_mb"]


def _fmt(fmt: str, value: object) -> str:
    return fmt.format(value) if isinstance(value, (int, float)) else str(value)


def _table(rows: list[dict], device: str) -> str:
    cols = [("shape", "shape", "{}"), ("dtype", "dtype", "{}"), ("backend", "backend", "{}"),
            ("fwd ms", "forward_ms", "{:.3f}"), ("fwd+bwd ms", "forward_backward_ms", "{:.3f}"),
            ("saved MB", "saved_mb", "{:.1f}"),
            ("x unfold (f+b)", "forward_backward_speedup_vs_unfold", "{:.1f}"),
            ("x less saved", "saved_reduction_vs_unfold", "{:.1f}"),
            ("FLOP bound (f+b)", "forward_backward_flop_bound_fraction", "{:.0%}")]
    if device == "cuda":
        cols += [("peak MB", "peak_mb", "{:.0f}"),
                 ("kernel fwd ms", "forward_kernel_ms", "{:.3f}"),
                 ("kernel f+b ms", "forward_backward_kernel_ms", "{:.3f}"),
                 ("byte bound (fwd)", "forward_byte_bound_fraction", "{:.0%}"),
                 ("byte bound (f+b)", "forward_backward_byte_bound_fraction", "{:.0%}")]
    cols += [("parity", "parity_text", "{}")]
    lines = ["| " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        if "error" in row:
            cells = [row["shape"], row["dtype"], row["backend"], f"error: {row['error']}"]
            cells += [""] * (len(cols) - 4)
        else:
            p = row.get("parity", {})
            row = {**row, "parity_text": ("ok" if p.get("ok") else "FAIL") + (
                f" ({max(p.get(n, 0.0) for n in ('out', 'dq', 'dk', 'dv')):.1e})"
                if "out" in p else f" ({p.get('error', '')})")}
            cells = [_fmt(fmt, row[key]) if key in row else "-" for _, key, fmt in cols]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def _machine(device: str) -> dict[str, object]:
    info: dict[str, object] = {
        "torch": torch.__version__, "cuda": torch.version.cuda,
        "threads": torch.get_num_threads(),
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
        info["matmul_allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dtype", nargs="+", choices=list(DTYPES), default=["float32"])
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES))
    parser.add_argument("--backends", nargs="+", choices=BACKENDS)
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of timing per number")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per backend")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the per-kernel GPU times (torch.profiler)")
    parser.add_argument("--json", type=Path, help="output (default benchmarks/results/...)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.shapes = args.shapes or DEFAULT_SHAPES[args.device]
    if args.worker:
        return worker_main(args)

    backends = args.backends or DEFAULT_BACKENDS[args.device]
    machine = _machine(args.device)
    peaks = measured_peaks(args.device)
    out = args.json or Path(__file__).parent / "results" / f"local_attention_{args.device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[tuple[str, str], dict]] = {}
    rows: list[dict] = []
    for backend in backends:
        started = time.perf_counter()
        results[backend] = _spawn(backend, args)
        print(f"{backend}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        rows = []
        for dtype_name in args.dtype:
            elem = torch.empty((), dtype=DTYPES[dtype_name]).element_size()
            for shape_name in args.shapes:
                shape = SHAPES[shape_name]
                unfold = results.get("unfold", {}).get((shape_name, dtype_name))
                for name in backends:
                    if name not in results:
                        continue
                    row = {"shape": shape_name, "dtype": dtype_name, **asdict(shape),
                           "backend": name, **results[name][(shape_name, dtype_name)]}
                    _derive(row, unfold, shape, peaks, elem)
                    rows.append(row)
        machine["load_average_after"] = os.getloadavg()
        report = {"device": args.device, "dtypes": args.dtype, "kernel_size": KERNEL_SIZE,
                  "machine": machine, "peaks": peaks, "min_bytes_model": MIN_BYTES_MODEL,
                  "flop_model": FLOP_MODEL, "flex_model": FLEX_MODEL,
                  "parity_tolerance": PARITY_TOLERANCE, "results": rows}
        out.write_text(json.dumps(report, indent=2) + "\n")
    print(_table(rows, args.device))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
