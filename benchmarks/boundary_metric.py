"""Time per image and agreement of the boundary F-measure's counting kernels.

    python benchmarks/boundary_metric.py [--size 425 560] [--images 2] [--threads 1]
        [--pyedgeeval-python PATH] [--json PATH]

Cases: the edge maps of synthetic NYUD-like test images at ``--size`` as ground truth,
with two predictions each: ``trained`` (the GT blurred, sigma 2 px, plus 20% uniform
noise: a network that found the edges) and ``untrained`` (uniform noise: the slowest
case, many short thinned curves); and the boundary metric tests' 16x18 random cases.
Every case is scored with 99 thresholds and NYUD's tolerance 0.011 by

- ``numpy``: the NumPy kernel of ``atrc::boundary_counts`` (the metric before the
  compiled kernel existed);
- ``compiled``: the extension's C++ kernel, on ``--threads`` threads;
- ``pyedgeeval``: ``pyEdgeEval.evaluate_boundaries_threshold`` (thinning by its own
  bwmorph table, the BSDS ``correspondPixels`` min-cost assignment), run in the
  interpreter given by ``--pyedgeeval-python`` (it is not a dependency of this project:
  its C++ is GPL-2.0, and it needs Cython to build).

Prints seconds per image and odsF per case and kernel, and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from atrc_nas.data.synthetic.dataset import render_sample
from atrc_nas.fileio import atomic_write_json
from atrc_nas.metrics.base import f_measure
from atrc_nas.metrics.boundary import edge_thresholds
from atrc_nas.ops import ensure_backend
from atrc_nas.ops.boundary import boundary_counts
from atrc_nas.ops.edge_counts import disk_offsets, numpy_counts

TOLERANCE = 0.011
THRESHOLDS = edge_thresholds(99)

# Runs in the pyEdgeEval interpreter: counts [4, T] (matched pred, pred, matched GT, GT)
# per case of an .npz file, written as JSON.
_PYEDGEEVAL = """
import json, sys, time
import numpy as np
from pyEdgeEval.common.binary_label.evaluate_boundaries import evaluate_boundaries_threshold
cases = np.load(sys.argv[1])
out = {}
for name in sorted(k[:-len("/prob")] for k in cases.files if k.endswith("/prob")):
    prob, gt = cases[name + "/prob"], cases[name + "/gt"]
    start = time.perf_counter()
    count_r, sum_r, count_p, sum_p = evaluate_boundaries_threshold(
        cases["thresholds"], prob, gt, max_dist=float(cases["tolerance"]))
    out[name] = {"seconds": time.perf_counter() - start,
                 "counts": np.stack([count_p, sum_p, count_r, sum_r]).tolist()}
json.dump(out, open(sys.argv[2], "w"))
"""


def cases(size: tuple[int, int], images: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (probability map float32, GT bool)."""
    rng = np.random.default_rng(0)
    out = {}
    for index in range(images):
        gt = render_sample(0, "test", index, size)["edge"] > 0.5
        blurred = ndimage.gaussian_filter(gt.astype(np.float32), 2.0)
        trained = np.clip(blurred / blurred.max() + 0.2 * rng.random(size), 0, 1)
        out[f"{size[0]}x{size[1]}/img{index}/trained"] = (trained.astype(np.float32), gt)
        out[f"{size[0]}x{size[1]}/img{index}/untrained"] = (
            rng.random(size).astype(np.float32), gt)
    for seed in range(3):  # the shape of tests/metrics/test_boundary.py's random batches
        small = np.random.default_rng(seed)
        prob = ndimage.gaussian_filter(small.random((16, 18)), 1)
        prob = (prob - prob.min()) / np.ptp(prob)
        out[f"16x18/seed{seed}"] = (prob.astype(np.float32), small.random((16, 18)) < 0.12)
    return out


def ods(counts: np.ndarray) -> float:
    """odsF x100 of counts [4, T] (matched pred, pred, matched GT, GT), as the metric
    computes it."""
    return 100 * float(f_measure(*torch.as_tensor(np.asarray(counts, dtype=np.float64)))
                       .max())


def _four(two: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return np.stack([two[0], two[1], two[0], np.full_like(two[0], int(gt.sum()))])


def _timed(fn, repeats: int) -> tuple[float, Any]:
    best, result = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def pyedgeeval(python: str, data: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        npz, out = Path(tmp) / "cases.npz", Path(tmp) / "out.json"
        arrays = {"thresholds": THRESHOLDS, "tolerance": np.array(TOLERANCE)}
        for name, (prob, gt) in data.items():
            arrays[name + "/prob"], arrays[name + "/gt"] = prob, gt
        np.savez(npz, **arrays)
        subprocess.run([python, "-c", _PYEDGEEVAL, str(npz), str(out)], check=True)
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, nargs=2, default=[425, 560])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="best of N for compiled")
    parser.add_argument("--pyedgeeval-python", help="an interpreter with pyEdgeEval")
    parser.add_argument("--json", type=Path,
                        default=Path(__file__).parent / "results" / "boundary_metric_cpu.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.pyedgeeval_python:  # before minutes of timing, not after
        try:
            subprocess.run([args.pyedgeeval_python, "-c", "import pyEdgeEval"], check=True,
                           capture_output=True)
        except (OSError, subprocess.CalledProcessError) as err:
            sys.exit(f"--pyedgeeval-python {args.pyedgeeval_python}: `import pyEdgeEval` "
                     f"fails there ({err})")
    backend = ensure_backend()
    if backend.name != "cpp":
        sys.exit(f"the compiled kernel is not available: {backend.reason}")
    data = cases(tuple(args.size), args.images)
    rows, predicted = [], {}
    for name, (prob, gt) in data.items():
        h, w = prob.shape
        radius = TOLERANCE * math.hypot(h, w)
        t_np, c_np = _timed(lambda p=prob, g=gt, r=radius: numpy_counts(
            p, g, THRESHOLDS, disk_offsets(r)), 1)
        t_cc, c_cc = _timed(lambda p=prob, g=gt, r=radius: boundary_counts(
            p, g, THRESHOLDS, r), args.repeats)
        predicted[name] = c_np[1].tolist()
        rows.append({"case": name, "numpy_s": t_np, "compiled_s": t_cc,
                     "speedup": t_np / t_cc, "counts_equal": bool(np.array_equal(c_np, c_cc)),
                     "odsf_numpy": ods(_four(c_np, gt)), "odsf_compiled": ods(_four(c_cc, gt))})
        print(f"{name}: numpy {t_np:.3f} s, compiled {t_cc:.3f} s", flush=True)
    if args.pyedgeeval_python:
        other = pyedgeeval(args.pyedgeeval_python, data)
        for row in rows:
            found = other[row["case"]]
            row["pyedgeeval_s"] = found["seconds"]
            row["odsf_pyedgeeval"] = ods(np.array(found["counts"]))
            # the same thinned maps: pyEdgeEval's thinning agrees with ours
            row["pred_pixels_equal"] = found["counts"][1] == predicted[row["case"]]
    header = (f"{'case':34s} {'numpy s':>8s} {'compiled s':>10s} {'x':>6s} {'equal':>5s} "
              f"{'odsF':>7s}")
    if args.pyedgeeval_python:
        header += f" {'pyEdgeEval s':>12s} {'its odsF':>8s} {'thin=':>5s}"
    print(header)
    for r in rows:
        line = (f"{r['case']:34s} {r['numpy_s']:8.3f} {r['compiled_s']:10.4f} "
                f"{r['speedup']:6.1f} {r['counts_equal']!s:>5s} {r['odsf_compiled']:7.3f}")
        if "pyedgeeval_s" in r:
            line += (f" {r['pyedgeeval_s']:12.3f} {r['odsf_pyedgeeval']:8.3f} "
                     f"{r['pred_pixels_equal']!s:>5s}")
        print(line)
    atomic_write_json(args.json, {
        "machine": platform.processor() or platform.machine(), "threads": args.threads,
        "torch": torch.__version__, "thresholds": len(THRESHOLDS), "tolerance": TOLERANCE,
        "backend": backend.reason, "rows": rows})
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
