#!/usr/bin/env bash
# GPU check of the local-attention extension, in one go on a machine with a CUDA GPU:
#   1. build the CUDA extension (python -m atrc_nas.ops build),
#   2. run the local-attention tests (the CUDA ones included; not the slow build test),
#   3. run the kernel benchmark (fp32 at two ATRC shapes with every backend, FlexAttention at
#      the B=8, C=90, 128x128 target; bf16 extension at the target),
# then print one JSON summary as the last line of stdout (also written to OUTPUT_DIR).
# Needs python3 with a CUDA build of torch, ninja and pytest; no network.
#
# Usage: benchmarks/gpu_check.sh [OUTPUT_DIR]    (default: $OUT, else benchmarks/results/gpu)
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
OUTDIR="${1:-${OUT:-benchmarks/results/gpu}}"
LOGS="$OUTDIR/logs"
mkdir -p "$LOGS"
export ATRC_NAS_EXT_DIR="${ATRC_NAS_EXT_DIR:-$PWD/build/gpu_ext_cache}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
STEPS="$LOGS/steps.tsv"
: > "$STEPS"

# step NAME TIMEOUT_S CMD...: runs CMD with its output in $LOGS/NAME.log, records status and time.
step() {
  local name=$1 limit=$2
  shift 2
  local start rc
  start=$(date +%s%N)
  timeout "$limit" "$@" > "$LOGS/$name.log" 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( ($(date +%s%N) - start) / 1000000 ))" >> "$STEPS"
  echo "gpu_check: $name exit $rc ($(tail -n 1 "$LOGS/$name.log" | cut -c1-160))" >&2
  return $rc
}

if step environment 60 "$PY" -c 'import torch
assert torch.cuda.is_available(), "no CUDA device"
print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())'
then
  step build 240 "$PY" -m atrc_nas.ops build --verbose
  step tests 180 "$PY" -m pytest -q -p no:cacheprovider -m "not slow" tests/ops \
    --junitxml="$OUTDIR/tests.xml"
  step bench_fp32_nyud 120 "$PY" benchmarks/local_attention.py --device cuda --budget 0.5 \
    --shapes nyud-hrnet18s --backends extension torch unfold --json "$OUTDIR/bench_fp32_nyud.json"
  step bench_fp32_target 240 "$PY" benchmarks/local_attention.py --device cuda --budget 0.5 \
    --shapes pascal-hrnet48-b8 --backends extension torch unfold flex \
    --json "$OUTDIR/bench_fp32_target.json"
  step bench_bf16_target 90 "$PY" benchmarks/local_attention.py --device cuda --budget 0.5 \
    --dtype bfloat16 --shapes pascal-hrnet48-b8 --backends extension \
    --json "$OUTDIR/bench_bf16_target.json"
fi

"$PY" - "$OUTDIR" <<'EOF'
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

out = Path(sys.argv[1])
logs = out / "logs"
summary = {"steps": {}, "tests": None, "benchmark": []}
for line in (logs / "steps.tsv").read_text().splitlines():
    name, rc, ms = line.split("\t")
    summary["steps"][name] = {"exit": int(rc), "seconds": round(int(ms) / 1000, 1)}
summary["environment"] = (logs / "environment.log").read_text().strip().splitlines()[-1:]
if (out / "tests.xml").is_file():
    suite = ET.parse(out / "tests.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    failed = [c.get("classname") + "::" + c.get("name") for c in suite.iter("testcase")
              if c.find("failure") is not None or c.find("error") is not None]
    summary["tests"] = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    summary["tests"]["failed"] = failed
keep = ("forward_ms", "forward_backward_ms", "saved_mb", "peak_mb",
        "forward_backward_speedup_vs_unfold", "forward_backward_flop_bound_fraction",
        "forward_backward_byte_bound_fraction", "error")
for path in sorted(out.glob("bench_*.json")):
    report = json.loads(path.read_text())
    summary.setdefault("gpu", report["machine"].get("gpu"))
    summary.setdefault("peaks", report["peaks"])
    for row in report["results"]:
        entry = {"dtype": report["dtype"], "shape": row["shape"], "backend": row["backend"]}
        entry.update({k: (round(row[k], 4) if isinstance(row[k], float) else row[k])
                      for k in keep if k in row})
        summary["benchmark"].append(entry)
(out / "gpu_check.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary))
tests_ok = summary["tests"] is not None and not summary["tests"]["failed"]
steps_ok = all(s["exit"] == 0 for s in summary["steps"].values())
sys.exit(0 if tests_ok and steps_ok else 1)
EOF
