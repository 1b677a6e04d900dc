"""Training-step time and peak memory of the search supernet vs the distillation network.

    python benchmarks/search_step.py [--backbone hrnet18s] [--size 425 560] [--batch 2]
                                     [--steps 5] [--device cpu] [--json PATH]

Configurations (NYUD tasks, random inputs and labels):

- ``distill``: the ATRC network of the published NYUD hrnet18s genotype; forward, losses,
  backward, SGD step.
- ``supernet_open``: the search supernet with no block fixed (every candidate of every
  pair runs, as in the reference search at every step); a full search step: Gumbel
  sample, forward, losses + entropy, backward, clip, SGD and Adam steps, fixing check.
- ``supernet_half``: the first half of the pairs fixed to the published genotype's ops.
- ``supernet_fixed``: every pair fixed (the supernet then runs one op per pair).

Each configuration runs in its own process, so its peak resident memory (CPU; peak
allocated memory on CUDA) is its own. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from atrc_nas.data.registry import get_dataset_spec
from atrc_nas.fileio import atomic_write_json
from atrc_nas.models.backbones import create_backbone
from atrc_nas.models.genotype import resolve_genotype
from atrc_nas.models.registry import build_network
from atrc_nas.models.space import SearchSpace
from atrc_nas.search.arch import Architecture
from atrc_nas.search.config import SearchOptimConfig
from atrc_nas.search.module import SearchModule
from atrc_nas.search.schedules import Schedule
from atrc_nas.search.supernet import SearchNetwork
from atrc_nas.training.objective import MultiTaskObjective

CONFIGS = ("distill", "supernet_open", "supernet_half", "supernet_fixed")
GENOTYPE = "published:nyud_hrnet18s"
SPEC = get_dataset_spec("nyud")


def _batch(batch: int, size: tuple[int, int], device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    h, w = size
    normals = torch.nn.functional.normalize(torch.randn(batch, 3, h, w, generator=g), dim=1)
    out = {
        "image": torch.randn(batch, 3, h, w, generator=g),
        "semseg": torch.randint(0, 40, (batch, h, w), generator=g),
        "depth": torch.rand(batch, 1, h, w, generator=g) * 5 + 0.8,
        "normals": normals,
        "edge": (torch.rand(batch, 1, h, w, generator=g) < 0.1).float(),
    }
    return {k: v.to(device) for k, v in out.items()}


def _centroids() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.nn.functional.normalize(torch.randn(SPEC.normals_clusters, 3, generator=g),
                                         dim=1)


def _distill_step(backbone: str, device: torch.device):
    network = build_network("atrc", SPEC, backbone, genotype=GENOTYPE).to(device).train()
    blocks = sum(len(network.genotype.sources(t)) for t in SPEC.tasks)
    objective = MultiTaskObjective(SPEC, _centroids()).to(device)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9,
                                weight_decay=5e-4)

    def step(batch: dict[str, torch.Tensor], index: int) -> dict[str, Any]:
        loss, _ = objective(network(batch["image"]), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"blocks_run": blocks}

    return step


def _supernet_step(backbone: str, device: torch.device, fixed_fraction: float):
    space = SearchSpace.reference(SPEC.tasks)
    network = SearchNetwork(create_backbone(backbone), SPEC, space)
    arch = Architecture(space)
    genotype = resolve_genotype(GENOTYPE)
    n_fixed = round(fixed_fraction * len(arch.pairs))
    for row, pair in enumerate(arch.pairs[:n_fixed]):
        arch.fixed[row] = True
        arch.fixed_index[row] = arch.candidates[row].index(genotype.op(*pair))
    optim = SearchOptimConfig(lr=0.01, max_steps=40000)
    module = SearchModule(network, arch, SPEC, optim, Schedule(40000),
                          normals_centroids=_centroids()).to(device).train()
    (weight_opt, arch_opt), _ = module.configure_optimizers()
    params = [*network.parameters(), arch.logits]

    def step(batch: dict[str, torch.Tensor], index: int) -> dict[str, Any]:
        loss, stats = module.search_loss(batch, index)
        weight_opt.zero_grad()
        arch_opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, optim.grad_clip)
        weight_opt.step()
        arch_opt.step()
        arch.fix_confident(module.schedule.fix_gap)
        return {"blocks_run": int(stats["search/ops_run"])}

    return step


def _current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(config: str, backbone: str, size: tuple[int, int], batch: int, steps: int,
            warmup: int, device: torch.device) -> dict[str, Any]:
    """Time ``steps`` training steps of ``config`` after ``warmup`` untimed ones."""
    torch.manual_seed(0)
    if config == "distill":
        step = _distill_step(backbone, device)
    else:
        fraction = {"supernet_open": 0.0, "supernet_half": 0.5, "supernet_fixed": 1.0}[config]
        step = _supernet_step(backbone, device, fraction)
    data = _batch(batch, size, device)
    rss_before = _current_rss_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    info: dict[str, Any] = {}
    for i in range(warmup):
        info = step(data, i)
    times = []
    for i in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        info = step(data, warmup + i)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    result = {"config": config, "best_s": min(times), "median_s": sorted(times)[len(times) // 2],
              "times_s": times, **info}
    if device.type == "cuda":
        result["peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        result["peak_mib"] = peak
        result["peak_over_model_mib"] = peak - rss_before
    return result


def _run_isolated(config: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--only", config, "--backbone", args.backbone,
               "--size", *map(str, args.size), "--batch", str(args.batch),
               "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--device", args.device]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="hrnet18s")
    parser.add_argument("--size", type=int, nargs=2, default=[425, 560], metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5,
                        help="timed steps; ratios use the best (contention only slows a step)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path,
                        help="output (default benchmarks/results/search_step_<device>.json)")
    parser.add_argument("--only", choices=CONFIGS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.only:
        print(json.dumps(measure(args.only, args.backbone, tuple(args.size), args.batch,
                                 args.steps, args.warmup, device)))
        return 0
    results = [_run_isolated(config, args) for config in CONFIGS]
    base = results[0]
    print(f"{args.backbone}, batch {args.batch} at {args.size[0]}x{args.size[1]}, "
          f"{args.device}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}")
    print(f"{'config':<16}{'blocks':>7}{'best s':>9}{'median s':>10}{'x distill':>11}"
          f"{'peak MiB':>10}{'x distill':>11}")
    for r in results:
        r["time_ratio"] = r["best_s"] / base["best_s"]
        r["memory_ratio"] = r["peak_mib"] / base["peak_mib"]
        print(f"{r['config']:<16}{r['blocks_run']:>7}{r['best_s']:>9.3f}{r['median_s']:>10.3f}"
              f"{r['time_ratio']:>11.2f}{r['peak_mib']:>10.0f}{r['memory_ratio']:>11.2f}")
    fixed = results[-1]["time_ratio"]
    print(f"fully fixed supernet: {fixed:.2f}x the distillation step "
          f"(target <= 1.30: {'met' if fixed <= 1.3 else 'NOT met'})")
    report = {
        "backbone": args.backbone, "input_size": args.size, "batch": args.batch,
        "device": args.device, "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
        "torch": torch.__version__, "genotype": GENOTYPE, "results": results,
        "fixed_within_target": fixed <= 1.3,
    }
    out = args.json or Path(__file__).parent / "results" / f"search_step_{args.device}.json"
    atomic_write_json(out, report)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
