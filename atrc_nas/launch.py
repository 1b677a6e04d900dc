"""``python -m atrc_nas.launch EXPERIMENT.yaml [KEY=VALUE ...]``: run an experiment.

The experiment file is validated completely (every composed search config, the data on
disk) before Ray starts; then the search stage runs as a Ray Tune sweep on a fresh local
cluster bound to 127.0.0.1 (or on the cluster named by ``ray.address`` / ``$RAY_ADDRESS``).
Running the same command again continues an interrupted experiment: nothing finished is
redone. See README "Experiments" and docs/platform.md.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from atrc_nas.cli import EXIT_INTERRUPTED, config_command
from atrc_nas.config import config_dict
from atrc_nas.fileio import atomic_write_json
from atrc_nas.platform.config import ExperimentConfig
from atrc_nas.platform.plan import SweepPlan
from atrc_nas.platform.provenance import write_provenance
from atrc_nas.platform.records import RUNNING

TRAINING_SUMMARY = "training_summary.json"

log = logging.getLogger("atrc_nas.launch")


def _prepare_data(experiment: ExperimentConfig) -> None:
    """Generate (synthetic) or check (real) the dataset once, before any trial needs it."""
    from atrc_nas.training.run import build_datamodule

    build_datamodule(experiment.data, seed=0).prepare_data()


def run(experiment: ExperimentConfig) -> int:
    from atrc_nas.platform.experiment import experiment_folder

    with experiment_folder(experiment) as folder:
        print(f"experiment {experiment.name}: {folder}", flush=True)
        write_provenance(folder, config_dict(experiment))
        try:
            return _stages(experiment, folder)
        finally:
            _leaderboard(experiment, folder)


def _leaderboard(experiment: ExperimentConfig, folder: Path) -> None:
    """All leaderboard formats of what has finished so far; the Markdown one printed."""
    from atrc_nas.leaderboard import write_leaderboard

    paths = write_leaderboard(folder, experiment.leaderboard.formats)
    if "md" in paths:
        print("\nleaderboard:\n" + paths["md"].read_text(), flush=True)
    print("leaderboard files: " + ", ".join(str(p) for p in paths.values()), flush=True)


def _stages(experiment: ExperimentConfig, folder: Path) -> int:
    from atrc_nas.platform.cluster import ray_cluster

    _prepare_data(experiment)
    ray = experiment.ray
    with ray_cluster(ray.address, experiment_dir=folder, dashboard=ray.dashboard,
                     dashboard_port=ray.dashboard_port, num_cpus=ray.num_cpus,
                     num_gpus=ray.num_gpus) as cluster:
        from atrc_nas.platform.search_stage import STUDY_FILE, run_search_stage
        from atrc_nas.platform.tune_callbacks import summary_table

        print(cluster.dashboard_help())
        print(f"Optuna study: optuna-dashboard {folder / STUDY_FILE}")
        print(f"TensorBoard:  tensorboard --logdir {folder}", flush=True)
        records = run_search_stage(experiment, cluster)
        print("\nsearch stage:\n" + summary_table(records), flush=True)
        if not stage_complete(records, SweepPlan(config_dict(experiment)).total_trials):
            return _interrupted("search")
        if experiment.train.enabled:
            runs = _training_stage(experiment, cluster, records)
            if not stage_complete(runs, len(runs) or -1):
                return _interrupted("training")
    return 0


def _interrupted(stage: str) -> int:
    print(f"the {stage} stage was interrupted: run the same command again to continue it",
          file=sys.stderr)
    return EXIT_INTERRUPTED


def _training_stage(experiment: ExperimentConfig, cluster: Any,
                    records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Select genotypes, train them and the baselines, write and print the results."""
    from atrc_nas.platform.selection import select, write_selection
    from atrc_nas.platform.train_stage import run_train_stage
    from atrc_nas.platform.training_results import run_delta_m, single_task_references

    folder = experiment.folder
    mode = SweepPlan(config_dict(experiment)).objective[1]
    chosen = select(records, folder, mode, **experiment.train.select.model_dump())
    write_selection(folder, chosen, mode)
    print("\nselected genotypes:")
    for candidate in chosen:
        print(f"  {candidate.genotype_hash}  head {candidate.head_gflops:.3g} GFLOPs  "
              f"{'; '.join(candidate.reasons)}")
    runs = run_train_stage(experiment, cluster, [
        {"genotype_hash": c.genotype_hash, "genotype_file": c.genotype_file} for c in chosen])
    refs = single_task_references(runs, experiment.train.references)
    summary = {"references": refs,
               "runs": {r["key"]: {"status": r["status"], "delta_m": run_delta_m(r, refs)}
                        for r in runs}}
    atomic_write_json(folder / TRAINING_SUMMARY, summary)
    print("\ntraining stage:\n" + runs_table(runs, summary["runs"]), flush=True)
    return runs


def runs_table(runs: list[dict[str, Any]], results: dict[str, dict[str, Any]]) -> str:
    """One line per training run: status, primary test metrics, Delta_m."""
    from atrc_nas.platform.training_results import test_primaries

    lines = []
    for run in runs:
        metrics = run.get("metrics")
        primaries = test_primaries(metrics) if metrics else {}
        shown = "  ".join(f"{t} {v:.4g}" for t, v in primaries.items()) or "-"
        delta = results[run["key"]]["delta_m"]
        text = "" if delta is None else f"  delta_m {delta:+.2f}%"
        error = f"  ({run['error']})" if run.get("error") else ""
        lines.append(f"  {run['key']:<40} {run['status']:<9} {shown}{text}{error}")
    return "\n".join(lines)


def stage_complete(records: list[dict], total: int) -> bool:
    """Whether every trial of a stage has ended (finished, stopped early or failed)."""
    return len(records) == total and all(r["status"] != RUNNING for r in records)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return config_command(
        argv, prog="python -m atrc_nas.launch", schema=ExperimentConfig,
        run=lambda experiment, _: run(experiment), resume_flag=False,
        description=__doc__, example_config="experiments/quickstart.yaml",
        example_overrides="search.num_samples=4",
    )


if __name__ == "__main__":
    sys.exit(main())
