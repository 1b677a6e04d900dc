#!/usr/bin/env bash
# GPU check of the local-attention extension and of training, in one go (about 4-5 minutes
# on one H200; every step has its own time limit and the whole run ends within 400 s):
#   wheels       install carried wheels (.whl/*.whl: pydantic and its needs) into /tmp/site
#   environment  python, torch, CUDA, nvcc, package versions; nvidia-smi
#   build        python -m atrc_nas.ops build --verbose (CUDA variant, TORCH_CUDA_ARCH_LIST=9.0)
#                while flex_warm_* compile the FlexAttention graphs of the benchmark in
#                parallel (filling the Inductor cache the benchmark then loads from)
#   tests        tests/ops, CUDA tests included, -m "not slow" (parity of extension,
#                PyTorch fallback and unfold in fp32/fp16/bf16, opcheck, fp64 gradcheck...)
#   bench        benchmarks/local_attention.py: extension, unfold, FlexAttention at B=8
#                NYUD hrnet18s (C=33, 107x140) and PASCAL hrnet48 (C=90, 128x128), fp32 and
#                bf16: times, kernel times, peak memory, FLOP/byte bounds, parity vs fp64
#   train_step   benchmarks/train_step.py: ATRC (published NYUD genotype) vs multi-task
#                baseline, hrnet18s, 425x560, batch 8, fp32 and bf16-mixed
#   train_run    python -m atrc_nas.train on the synthetic quickstart config, bf16-mixed
# then writes one JSON summary, OUTPUT_DIR/gpu_check.json, packs the logs into
# OUTPUT_DIR/logs.tgz (with tests.xml: three files in all) and prints the summary as the
# last line of stdout. Exit status 0 only when every step and every test passed.
#
# Usage: benchmarks/gpu_check.sh [--cpu-dry-run] [OUTPUT_DIR]
#   OUTPUT_DIR defaults to $OUT, else benchmarks/results/gpu (dry run: a temporary folder).
#   --cpu-dry-run (or GPU_CHECK_DRY_RUN=1) runs every step on the CPU with tiny sizes (skipping
#   only nvidia-smi), ray and optuna blocked, to check the pipeline, the summary and packing.
# Needs python3 with torch (CUDA build for the real run), ninja, pytest, lightning; no network.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

DRY="${GPU_CHECK_DRY_RUN:-0}"
if [[ "${1:-}" == "--cpu-dry-run" ]]; then
  DRY=1
  shift
fi
START=$(date +%s)
WORK="$(mktemp -d /tmp/gpu_check.XXXXXX)"
if [[ "$DRY" == 1 ]]; then
  OUTDIR="${1:-$WORK/out}"
else
  OUTDIR="${1:-${OUT:-benchmarks/results/gpu}}"
fi
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
LOGS="$OUTDIR/logs"
rm -rf "$LOGS" "$OUTDIR/logs.tgz" "$OUTDIR/logs.txt" "$OUTDIR/tests.xml" "$OUTDIR/gpu_check.json"
mkdir -p "$LOGS"
STEPS="$LOGS/steps.tsv"
: > "$STEPS"

PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x .venv/bin/python ]]; then PY="$REPO/.venv/bin/python"; else PY=python3; fi
fi
export PYTHONUNBUFFERED=1
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export ATRC_NAS_EXT_DIR="${ATRC_NAS_EXT_DIR:-$REPO/build/gpu_ext_cache}"
export ATRC_NAS_CACHE="${ATRC_NAS_CACHE:-$WORK/cache}"
export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-$WORK/inductor}"
export GPU_CHECK_MODE
if [[ "$DRY" == 1 ]]; then
  GPU_CHECK_MODE=cpu-dry-run
  DEVICE=cpu
  # The GPU machine has neither ray nor optuna: nothing run here may import them.
  for mod in ray optuna; do
    mkdir -p "$WORK/block/$mod"
    echo "raise ImportError('$mod is not installed on the GPU machine (gpu_check dry run)')" \
      > "$WORK/block/$mod/__init__.py"
  done
  export PYTHONPATH="$WORK/block:$PYTHONPATH"
else
  GPU_CHECK_MODE=gpu
  DEVICE=cuda
  export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"  # H100/H200: sm_90 code only
fi

# Planned end of each step, in seconds after the start (cumulative budgets: wheels 15,
# environment 20, build 120 with the FlexAttention warm-up alongside, tests 75, bench 80,
# train_step 35, train_run 40; summary and packing 10). A step may use the time that the
# steps before it left unused, never the time planned for the steps after it; the dry run
# on two busy CPU cores gets twice the time (GPU_CHECK_TIME_PCT overrides: percent of the plan).
SCALE_PCT="${GPU_CHECK_TIME_PCT:-$([[ "$DRY" == 1 ]] && echo 200 || echo 100)}"
declare -A PLAN_END=([wheels]=15 [environment]=35 [build]=155 [tests]=230 [bench]=310
                     [train_step]=345 [train_run]=385)

limit_for() {  # seconds left until the planned end of step $1
  echo $(( START + PLAN_END[$1] * SCALE_PCT / 100 - $(date +%s) ))
}

# step NAME PLAN CMD...: runs CMD (time limit: until the planned end of PLAN) with its output
# in $LOGS/NAME.log, and records NAME, exit status, milliseconds and the limit.
step() {
  local name=$1 plan=$2
  shift 2
  local limit start rc
  limit=$(limit_for "$plan")
  if (( limit < 3 )); then
    echo "no time left (limit ${limit} s)" > "$LOGS/$name.log"
    printf '%s\t%s\t%s\t%s\n' "$name" 125 0 "$limit" >> "$STEPS"
    echo "gpu_check: $name skipped: no time left" >&2
    return 125
  fi
  start=$(date +%s%N)
  timeout -k 5 "$limit" "$@" > "$LOGS/$name.log" 2>&1
  rc=$?
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(( ($(date +%s%N) - start) / 1000000 ))" "$limit" \
    >> "$STEPS"
  echo "gpu_check: $name exit $rc after $(( $(date +%s) - START )) s" \
    "($(tail -n 1 "$LOGS/$name.log" | cut -c1-150))" >&2
  return $rc
}

skip() {  # skip NAME WHY
  echo "skipped: $2" > "$LOGS/$1.log"
  printf '%s\t%s\t%s\t%s\n' "$1" skipped 0 0 >> "$STEPS"
}

# --- wheels: pydantic and its needs (not on the GPU machine's image) -------------------------
shopt -s nullglob
wheels=(.whl/*.whl)
shopt -u nullglob
if (( ${#wheels[@]} == 0 )); then
  skip wheels "no .whl/*.whl (carry .whl)"
elif [[ "$DRY" == 1 ]]; then
  # Here only check that the wheels install for the GPU machine's Python 3.12.
  step wheels wheels "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$WORK/site312" --only-binary=:all: --python-version 3.12 \
    --implementation cp --abi cp312 --platform manylinux2014_x86_64 --platform any "${wheels[@]}"
else
  if step wheels wheels "$PY" -m pip install -q --no-index --no-deps --no-compile \
      --no-cache-dir --upgrade --target /tmp/site "${wheels[@]}"; then
    export PYTHONPATH="/tmp/site:$PYTHONPATH"
  fi
fi

# --- environment ---------------------------------------------------------------------------
read -r -d '' ENV_PY <<'EOF'
import importlib, importlib.metadata, json, os, platform, shutil, subprocess, sys
info = {"python": sys.version.split()[0], "executable": sys.executable,
        "cpu_count": os.cpu_count(), "platform": platform.platform(),
        "TORCH_CUDA_ARCH_LIST": os.environ.get("TORCH_CUDA_ARCH_LIST")}
import torch
from torch.utils import cpp_extension
info.update(torch=torch.__version__, torch_cuda=torch.version.cuda,
            cuda_available=torch.cuda.is_available(), cuda_home=cpp_extension.CUDA_HOME,
            ninja=cpp_extension.is_ninja_available())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    info.update(gpu=p.name, capability=list(torch.cuda.get_device_capability(0)),
                sm_count=p.multi_processor_count, gpu_memory_gib=round(p.total_memory / 2**30, 1),
                cudnn=torch.backends.cudnn.version(), device_count=torch.cuda.device_count())
nvcc = shutil.which("nvcc") or (os.path.join(cpp_extension.CUDA_HOME, "bin", "nvcc")
                                if cpp_extension.CUDA_HOME else None)
if nvcc and os.path.exists(nvcc):
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    info["nvcc"] = [nvcc, out.strip().splitlines()[-1] if out.strip() else None]
for mod, dist in (("pydantic", "pydantic"), ("pydantic_core", "pydantic-core"),
                  ("typing_extensions", "typing-extensions"), ("lightning", "lightning"),
                  ("torchmetrics", "torchmetrics"), ("triton", "triton"), ("numpy", "numpy"),
                  ("scipy", "scipy"), ("cv2", "opencv-python-headless"), ("yaml", "pyyaml"),
                  ("matplotlib", "matplotlib"), ("pytest", "pytest"),
                  ("pytest_timeout", "pytest-timeout")):
    try:
        m = importlib.import_module(mod)
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = getattr(m, "__version__", "?")
        info[mod] = f"{version} ({os.path.dirname(m.__file__ or '')})" if mod.startswith(
            ("pydantic", "typing")) else version
    except Exception as exc:
        info[mod] = f"MISSING: {type(exc).__name__}: {exc}"[:120]
for mod in ("ray", "optuna"):  # must be absent: nothing here may need them
    try:
        importlib.import_module(mod)
        info[mod] = "present"
    except ImportError as exc:
        info[mod] = f"absent ({type(exc).__name__})"
print(json.dumps(info))
if os.environ.get("GPU_CHECK_MODE") == "gpu" and not torch.cuda.is_available():
    sys.exit("no CUDA device")
EOF
step environment environment "$PY" -c "$ENV_PY"
if [[ "$DRY" == 1 ]]; then
  skip nvidia_smi "dry run (no GPU)"
else
  step nvidia_smi environment bash -c 'nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit,temperature.gpu,utilization.gpu --format=csv'
fi

# --- build, with the FlexAttention graphs compiled alongside (nvcc leaves most cores idle) ----
if [[ "$DRY" == 1 ]]; then
  BENCH_SHAPES=(tiny)
  BENCH_BUDGET=0.05
else
  BENCH_SHAPES=(nyud-hrnet18s-b8 pascal-hrnet48-b8)
  BENCH_BUDGET=0.3
fi
BENCH_DTYPES=(float32 bfloat16)
warm_pids=()
for dtype in "${BENCH_DTYPES[@]}"; do
  for shape in "${BENCH_SHAPES[@]}"; do
    step "flex_warm_${shape}_${dtype}" build "$PY" benchmarks/local_attention.py \
      --worker flex --device "$DEVICE" --shapes "$shape" --dtype "$dtype" --budget 0 \
      --no-profile &
    warm_pids+=($!)
  done
done
step build build "$PY" -m atrc_nas.ops build --verbose
step ops_info build "$PY" -m atrc_nas.ops info
wait "${warm_pids[@]}"

# --- tests ---------------------------------------------------------------------------------
step tests tests "$PY" -m pytest -q -p no:cacheprovider -m "not slow" tests/ops \
  --junitxml="$OUTDIR/tests.xml" --durations=15

# --- kernel benchmark (extension, unfold, FlexAttention; fp32 and bf16) -------------------------
bench_limit=$(limit_for bench)
step bench bench "$PY" benchmarks/local_attention.py --device "$DEVICE" \
  --shapes "${BENCH_SHAPES[@]}" --dtype "${BENCH_DTYPES[@]}" --backends extension unfold flex \
  --budget "$BENCH_BUDGET" --timeout "$(( bench_limit > 40 ? bench_limit - 15 : 25 ))" \
  --json "$LOGS/bench.json"

# --- training step: ATRC vs multi-task baseline, fp32 and bf16-mixed --------------------------
if [[ "$DRY" == 1 ]]; then
  TS_ARGS=(--device cpu --backbone hrnet_tiny --size 64x80 --batch 2 --steps 2 --warmup 1)
else
  TS_ARGS=(--device cuda --backbone hrnet18s --size 425x560 --batch 8 --steps 5 --warmup 3)
fi
step train_step train_step "$PY" benchmarks/train_step.py "${TS_ARGS[@]}" \
  --json "$LOGS/train_step.json"

# --- a short training run through the train CLI (synthetic data) ------------------------------
if [[ "$DRY" == 1 ]]; then
  RUN_ARGS=(trainer.accelerator=cpu trainer.precision=32-true optim.max_steps=4
            trainer.val_every_n_steps=2 data.options.num_images=16 data.options.num_workers=2
            "data.options.image_size=[64,80]" data.crop_size=64x80 data.batch_size=2
            model.backbone=hrnet_tiny trainer.log_every_n_steps=1)
else
  RUN_ARGS=(trainer.accelerator=gpu trainer.precision=bf16-mixed optim.max_steps=60
            trainer.val_every_n_steps=30 data.options.num_images=96 data.options.num_workers=8
            trainer.log_every_n_steps=10)
fi
step train_run train_run "$PY" -m atrc_nas.train experiments/train_synthetic.yaml "${RUN_ARGS[@]}" \
  name=gpu_smoke output_dir="$WORK/runs" trainer.progress_bar=false \
  "trainer.val_metric_options={edge: {num_thresholds: 19}}" \
  "trainer.test_metric_options={edge: {num_thresholds: 19}}"
cp "$WORK/runs/gpu_smoke/metrics.json" "$LOGS/train_run_metrics.json" 2>/dev/null
cp "$WORK/runs/gpu_smoke/logs/version_0/metrics.csv" "$LOGS/train_run_metrics.csv" 2>/dev/null

# --- summary -------------------------------------------------------------------------------
read -r -d '' SUMMARY_PY <<'EOF'
import json, sys, time
import xml.etree.ElementTree as ET
from pathlib import Path

out, mode, started = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
logs = out / "logs"
summary = {"mode": mode, "steps": {}}
problems = []


def section(name):
    def wrap(fn):
        try:
            fn()
        except Exception as exc:  # a broken section must not cost the others
            summary[f"{name}_summary_error"] = f"{type(exc).__name__}: {exc}"[:300]
        return fn
    return wrap


def rounded(value):
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def tail(name, lines=4):
    path = logs / f"{name}.log"
    if not path.is_file():
        return None
    return [line[-240:] for line in path.read_text(errors="replace").strip().splitlines()[-lines:]]


@section("steps")
def _():
    for line in (logs / "steps.tsv").read_text().splitlines():
        name, rc, ms, limit = line.split("\t")
        entry = {"exit": rc if rc == "skipped" else int(rc), "seconds": round(int(ms) / 1000, 1)}
        if rc not in ("0", "skipped"):
            entry["limit_s"] = int(limit)
            entry["log_tail"] = tail(name)
            problems.append(f"step {name} exit {rc}")
        summary["steps"][name] = entry


@section("environment")
def _():
    lines = (logs / "environment.log").read_text().strip().splitlines()
    found = [line for line in lines if line.startswith("{")]
    summary["environment"] = json.loads(found[-1]) if found else lines[-3:]
    smi = logs / "nvidia_smi.log"
    if smi.is_file():
        summary["nvidia_smi"] = smi.read_text().strip().splitlines()


@section("build")
def _():
    lines = (logs / "build.log").read_text(errors="replace").strip().splitlines()
    summary["build"] = [line for line in lines if line.startswith(("cpu", "cuda"))][-3:] or lines[-3:]
    info = logs / "ops_info.log"
    if info.is_file():
        summary["ops_info"] = info.read_text().strip().splitlines()


@section("tests")
def _():
    path = out / "tests.xml"
    if not path.is_file():
        summary["tests"] = None
        problems.append("no test report")
        return
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root[0]
    failed, skipped_reasons = [], {}
    for case in suite.iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        for kind in ("failure", "error"):
            node = case.find(kind)
            if node is not None:
                failed.append({"id": test_id, "kind": kind,
                               "message": (node.get("message") or "")[:300]})
        node = case.find("skipped")
        if node is not None:
            reason = (node.get("message") or "")[:80]
            skipped_reasons[reason] = skipped_reasons.get(reason, 0) + 1
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    cuda_cases = [c for c in suite.iter("testcase") if "cuda" in (c.get("name") or "")]
    counts["cuda_cases"] = len(cuda_cases)
    counts["cuda_skipped"] = sum(c.find("skipped") is not None for c in cuda_cases)
    summary["tests"] = {**counts, "seconds": float(suite.get("time", 0)), "failed": failed,
                        "skipped_reasons": skipped_reasons}
    if failed:
        problems.append(f"{len(failed)} failed tests")


# per row in the summary (everything else, e.g. saved MB and FLOP bounds: logs/bench.json)
KEEP = ("forward_ms", "forward_backward_ms", "forward_kernel_ms", "forward_backward_kernel_ms",
        "forward_peak_mb", "peak_mb", "forward_byte_bound_fraction",
        "forward_backward_byte_bound_fraction", "forward_kernel_byte_bound_fraction",
        "forward_backward_kernel_byte_bound_fraction", "forward_backward_speedup_vs_unfold",
        "kernel_profile_error", "forward_backward_error", "error")


def bench_row(row):
    entry = {k: row[k] for k in ("shape", "dtype", "backend") if k in row}
    entry.update({k: row[k] for k in KEEP if k in row})
    parity = row.get("parity")
    if isinstance(parity, dict):
        errs = [v for k, v in parity.items() if k in ("out", "dq", "dk", "dv")]
        entry["parity_ok"] = parity.get("ok")
        entry["parity_max_rel_err"] = max(errs) if errs else parity.get("error")
    return rounded(entry)


@section("bench")
def _():
    path = logs / "bench.json"
    if not path.is_file():
        summary["bench"] = None
        return
    report = json.loads(path.read_text())
    summary["bench"] = {  # the models of the bounds and of FlexAttention: logs/bench.json
        "peaks": rounded(report["peaks"]), "min_bytes_model": report.get("min_bytes_model"),
        "rows": [bench_row(r) for r in report["results"]],
    }
    bad = [f"{r['shape']}/{r['dtype']}/{r['backend']}" for r in report["results"]
           if "error" in r or not r.get("parity", {}).get("ok", False)]
    summary["bench_issues"] = [f"rows with errors or parity failures: {bad}"] if bad else []
    # the goals: faster than FlexAttention, within 3x of the memory-traffic bound
    goals = []
    by = {(r["shape"], r["dtype"], r["backend"]): r for r in report["results"]}
    for (shape, dtype, backend), r in by.items():
        if backend != "extension" or "error" in r:
            continue
        flex = by.get((shape, dtype, "flex"), {})
        goal = {"shape": shape, "dtype": dtype}
        for key in ("forward", "forward_backward"):
            if f"{key}_ms" in flex and f"{key}_ms" in r:
                goal[f"{key}_x_faster_than_flex"] = flex[f"{key}_ms"] / r[f"{key}_ms"]
            if f"{key}_byte_bound_fraction" in r:
                goal[f"{key}_x_of_byte_bound"] = 1 / r[f"{key}_byte_bound_fraction"]
            if f"{key}_kernel_byte_bound_fraction" in r:
                goal[f"{key}_kernel_x_of_byte_bound"] = 1 / r[f"{key}_kernel_byte_bound_fraction"]
        goals.append(rounded(goal))
    summary["bench_goals"] = goals


@section("flex_warm")
def _():
    rows = []
    for path in sorted(logs.glob("flex_warm_*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                row["backend"] = "flex"
                rows.append(rounded({k: v for k, v in bench_row(row).items() if k in (
                    "shape", "dtype", "forward_ms", "forward_backward_ms", "parity_ok",
                    "parity_max_rel_err", "forward_backward_error", "error")}))
    summary["flex_warm_rows"] = rows  # measured while nvcc ran (a backup of the bench's flex rows)


@section("train_step")
def _():
    path = logs / "train_step.json"
    if not path.is_file():
        summary["train_step"] = None
        return
    report = json.loads(path.read_text())
    keep = ("network", "precision", "median_ms", "best_ms", "images_per_s", "peak_mib",
            "peak_rss_mib", "params", "time_vs_baseline", "memory_vs_baseline", "error")
    summary["train_step"] = {
        "setup": {k: report[k] for k in ("backbone", "input_size", "batch", "device", "genotype",
                                         "steps", "warmup")},
        "local_attention": report.get("local_attention", {}).get("name"),
        "local_attention_devices": report.get("local_attention", {}).get("compiled_devices"),
        "rows": [rounded({k: r[k] for k in keep if k in r}) for r in report["results"]],
    }


@section("train_run")
def _():
    path = logs / "train_run_metrics.json"
    if not path.is_file():
        summary["train_run"] = None
        problems.append("no train_run metrics.json")
        return
    metrics = json.loads(path.read_text())
    summary["train_run"] = rounded({k: metrics.get(k) for k in (
        "network", "backbone", "steps", "params", "gflops", "input_size", "wall_time_s",
        "test", "val")})


summary["wall_s"] = int(time.time()) - started
summary["problems"] = problems
summary["ok"] = not problems
(out / "gpu_check.json").write_text(json.dumps(summary, separators=(",", ":")) + "\n")
EOF
if ! timeout -k 2 15 "$PY" -c "$SUMMARY_PY" "$OUTDIR" "$GPU_CHECK_MODE" "$START" \
    > "$LOGS/summary.log" 2>&1; then
  # The summary writer itself failed: still leave a JSON summary with the raw step table.
  steps_json=$(awk -F'\t' 'BEGIN{printf "{"} NR>1{printf ","} {printf "\"%s\":{\"exit\":\"%s\",\"ms\":%s}", $1, $2, $3} END{printf "}"}' "$STEPS")
  printf '{"mode":"%s","summary_error":true,"ok":false,"steps":%s}\n' "$GPU_CHECK_MODE" \
    "$steps_json" > "$OUTDIR/gpu_check.json"
fi

# --- pack the logs into one file (only 8 files come back) -----------------------------------
if tar czf "$OUTDIR/logs.tgz" -C "$OUTDIR" logs 2>/dev/null; then
  rm -rf "$LOGS"
else
  for f in "$LOGS"/*; do echo "=== $f"; cat "$f"; done > "$OUTDIR/logs.txt" 2>&1
  rm -rf "$LOGS"
fi
rm -rf "$WORK/runs" "$WORK/cache" "$WORK/block" "$WORK/site312" "$WORK/inductor"

cat "$OUTDIR/gpu_check.json"
grep -q '"ok":true}$' "$OUTDIR/gpu_check.json"
