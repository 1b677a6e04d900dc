"""Training-step time and peak memory of the ATRC network vs the multi-task baseline, in fp32
and bf16-mixed.

    python benchmarks/train_step.py [--device cuda] [--backbone hrnet18s] [--size 425x560]
        [--batch 8] [--networks atrc multi_task] [--precisions fp32 bf16-mixed]
        [--steps 5] [--warmup 3] [--json PATH]

Networks come from the project's builders (``build_network`` with the NYUD dataset spec):
``atrc`` with the published NYUD hrnet18s genotype, and the ``multi_task`` baseline. Inputs
are random images with random but valid labels of every NYUD task (semseg 0..39 with some
255, depth > 0 with a few invalid zeros, unit normals, binary edges), so no dataset is
needed. One step is what the LightningModule does: forward and losses (``bf16-mixed``: both
under ``torch.autocast`` in bfloat16, as Lightning's ``bf16-mixed`` precision), the
divergence check, backward and an SGD step (the reference recipe's momentum and weight
decay). Reported: median and best step time over ``--steps`` timed steps after ``--warmup``
untimed ones (synchronised on a GPU), peak memory (on a GPU ``max_memory_allocated`` from
the model's creation on: weights, gradients, momentum and activations; on a CPU the
process's peak resident memory so far) and the local-attention kernels in use. Every
configuration runs in this one process, one after the other, each with its own peak. Prints
a table and writes JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from atrc_nas.data.registry import get_dataset_spec
from atrc_nas.fileio import atomic_write_json
from atrc_nas.models.registry import build_network
from atrc_nas.tasks import IGNORE_INDEX
from atrc_nas.training.objective import MultiTaskObjective, ensure_finite

GENOTYPE = "published:nyud_hrnet18s"
SPEC = get_dataset_spec("nyud")
NETWORKS = ("atrc", "multi_task")
PRECISIONS = ("fp32", "bf16-mixed")


def parse_size(text: str) -> tuple[int, int]:
    """'425x560' (or '425,560') -> (425, 560)."""
    parts = text.lower().replace(",", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 425x560; got {text!r}")
    return int(parts[0]), int(parts[1])


def random_batch(batch: int, size: tuple[int, int], device: torch.device,
                 seed: int = 0) -> dict[str, torch.Tensor]:
    """An image batch with valid labels of every NYUD task (layouts of atrc_nas.tasks)."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    semseg = torch.randint(0, SPEC.num_classes["semseg"], (batch, h, w), generator=g)
    semseg[torch.rand(batch, h, w, generator=g) < 0.05] = IGNORE_INDEX
    low, high = SPEC.depth_range
    depth = torch.rand(batch, 1, h, w, generator=g) * (high - low) + low
    depth[torch.rand(batch, 1, h, w, generator=g) < 0.02] = 0.0  # invalid (no reading)
    normals = torch.nn.functional.normalize(torch.randn(batch, 3, h, w, generator=g), dim=1)
    edge = (torch.rand(batch, 1, h, w, generator=g) < 0.1).float()
    out = {
        "image": torch.randn(batch, 3, h, w, generator=g),
        "semseg": semseg, "depth": depth, "normals": normals, "edge": edge,
    }
    return {k: v.to(device) for k, v in out.items()}


def normals_centroids(seed: int = 1) -> torch.Tensor:
    """Unit vectors standing in for the k-means clusters of the training normals."""
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(SPEC.normals_clusters, 3, generator=g),
                                         dim=1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(network_name: str, precision: str, args: argparse.Namespace,
            device: torch.device) -> dict[str, Any]:
    """Build ``network_name`` and time ``args.steps`` training steps after ``args.warmup``."""
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    genotype = GENOTYPE if network_name == "atrc" else None
    network = build_network(network_name, SPEC, args.backbone, genotype=genotype)
    network = network.to(device).train()
    objective = MultiTaskObjective(SPEC, normals_centroids()).to(device)
    optimizer = torch.optim.SGD(network.parameters(), lr=SPEC.lr, momentum=0.9,
                                weight_decay=5e-4)
    data = random_batch(args.batch, args.size, device)
    autocast = precision == "bf16-mixed"

    def step(index: int) -> float:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            loss, parts = objective(network(data["image"]), data)
        ensure_finite(index, loss, parts)  # one sync per step, as in training
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    losses = [step(i) for i in range(args.warmup)]
    times = []
    for i in range(args.steps):
        _sync(device)
        start = time.perf_counter()
        step(args.warmup + i)
        _sync(device)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    result: dict[str, Any] = {
        "network": network_name, "precision": precision,
        "params": sum(p.numel() for p in network.parameters()),
        "median_ms": median * 1e3, "best_ms": min(times) * 1e3,
        "times_ms": [t * 1e3 for t in times],
        "images_per_s": args.batch / median,
        "first_loss": losses[0] if losses else None,
    }
    if network_name == "atrc":
        genotype_obj = network.genotype
        result["context_ops"] = {f"{t}<-{s}": op.name for t in SPEC.tasks
                                 for s, op in genotype_obj.sources(t)}
    if device.type == "cuda":
        result["peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        result["peak_rss_mib"] = _peak_rss_mib()
    return result  # the network, its optimizer and the batch go with this frame


def _machine(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "torch": torch.__version__, "cuda": torch.version.cuda,
        "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(), "load_average": os.getloadavg(),
    }
    if device.type == "cuda":
        info.update({
            "gpu": torch.cuda.get_device_name(device),
            "cudnn": torch.backends.cudnn.version(),
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
        })
    return info


def _local_attention_backend() -> dict[str, Any]:
    from atrc_nas.ops import ensure_backend

    info = ensure_backend()
    return {"name": info.name, "compiled_devices": list(info.compiled_devices),
            "reason": info.reason}


def _table(results: list[dict[str, Any]], device: torch.device) -> str:
    peak = "peak_mib" if device.type == "cuda" else "peak_rss_mib"
    base = {r["precision"]: r for r in results
            if r.get("network") == "multi_task" and "error" not in r}
    lines = [f"| network | precision | median ms | best ms | img/s | {peak} | x baseline time "
             "| x baseline memory |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['network']} | {r['precision']} | error: {r['error']} "
                         "| | | | | |")
            continue
        ref = base.get(r["precision"])
        if ref:
            r["time_vs_baseline"] = r["median_ms"] / ref["median_ms"]
            r["memory_vs_baseline"] = r[peak] / ref[peak]
        lines.append(
            f"| {r['network']} | {r['precision']} | {r['median_ms']:.1f} | {r['best_ms']:.1f} "
            f"| {r['images_per_s']:.1f} | {r[peak]:.0f} "
            f"| {r.get('time_vs_baseline', float('nan')):.2f} "
            f"| {r.get('memory_vs_baseline', float('nan')):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backbone", default="hrnet18s")
    parser.add_argument("--size", type=parse_size, default=(425, 560), metavar="HxW")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", type=Path,
                        help="output (default benchmarks/results/train_step_<device>.json)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda but torch sees no CUDA device")
        torch.zeros(1, device=device)  # the CUDA context, before any peak is reset
    backend = _local_attention_backend()
    results: list[dict[str, Any]] = []
    for precision in args.precisions:
        for network_name in args.networks:
            started = time.perf_counter()
            try:
                result = measure(network_name, precision, args, device)
            except Exception as exc:  # one failed configuration does not stop the others
                result = {"network": network_name, "precision": precision,
                          "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
            result["wall_s"] = time.perf_counter() - started
            print(f"{network_name} {precision}: {json.dumps(result)[:300]}", file=sys.stderr)
            results.append(result)
    h, w = args.size
    print(f"{args.backbone}, batch {args.batch} at {h}x{w}, {device}, local attention: "
          f"{backend['name']} ({'+'.join(backend['compiled_devices']) or 'no'} kernels "
          "compiled)")
    print(_table(results, device))
    report = {
        "backbone": args.backbone, "input_size": [h, w], "batch": args.batch,
        "device": str(device), "genotype": GENOTYPE, "dataset_spec": SPEC.name,
        "steps": args.steps, "warmup": args.warmup, "machine": _machine(device),
        "local_attention": backend, "results": results,
    }
    out = args.json or Path(__file__).parent / "results" / f"train_step_{device.type}.json"
    atomic_write_json(out, report)
    print(f"wrote {out}", file=sys.stderr)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
