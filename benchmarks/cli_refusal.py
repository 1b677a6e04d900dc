"""How fast every command refuses a bad input (target: 1.5 s on 2 cores): each command is
started as a user starts it, with one bad config value, override, option or folder, and
timed to its exit (status 2, checked). Prints a table and writes JSON (default
benchmarks/results/cli_refusal_cpu.json).

    python benchmarks/cli_refusal.py [--repeat 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from atrc_nas.fileio import atomic_write_json

DEFAULT_JSON = Path(__file__).parent / "results" / "cli_refusal_cpu.json"
CASES = {
    "train (bad override)": ["atrc_nas.train", "experiments/train_synthetic.yaml",
                             "optim.lr=-1"],
    "train (unknown key in the file)": ["atrc_nas.train", "{bad}"],
    "search (bad override)": ["atrc_nas.search", "experiments/search_synthetic.yaml",
                              "budget.fraction=2"],
    "launch (bad override)": ["atrc_nas.launch", "experiments/quickstart.yaml",
                              "search.seeds=[0, 0]"],
    "launch (bad address)": ["atrc_nas.launch", "experiments/quickstart.yaml",
                             "ray.address=nowhere"],
    "data (bad option)": ["atrc_nas.data", "show", "--option", "num_imgs=3"],
    "data (missing folder)": ["atrc_nas.data", "check", "--dataset", "nyud", "/no/such"],
    "ops (bad command)": ["atrc_nas.ops", "rebuild"],
    "leaderboard (not an experiment)": ["atrc_nas.leaderboard", "/no/such"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    bad = Path("/tmp/atrc_nas_cli_refusal.yaml")
    bad.write_text("name: x\noptim: {lrr: 0.1}\n")
    rows = {}
    for name, command in CASES.items():
        command = [c.replace("{bad}", str(bad)) for c in command]
        seconds = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", *command], capture_output=True,
                                  text=True, timeout=120)
            seconds.append(time.perf_counter() - started)
            if done.returncode != 2 or "Traceback" in done.stderr:
                raise RuntimeError(f"{name}: exit {done.returncode}: {done.stderr[-500:]}")
        rows[name] = {"median_s": statistics.median(seconds), "max_s": max(seconds),
                      "command": " ".join(["python -m", *command])}
        print(f"{name:<34} {rows[name]['median_s']:>6.2f} s (max {max(seconds):.2f} s)")
    bad.unlink()
    atomic_write_json(args.json, {
        "target_s": 1.5, "repeat": args.repeat, "cases": rows,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform(), "load_average": os.getloadavg()}})
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
