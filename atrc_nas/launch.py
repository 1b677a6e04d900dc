"""``python -m atrc_nas.launch EXPERIMENT.yaml [KEY=VALUE ...] [--dry-run]``: run an
experiment.

The experiment file is validated completely (every config its stages compose, the data on
disk, whether a trial fits on a local cluster) before Ray starts; then each enabled stage
(the search sweep, then the training stage: ``atrc_nas.platform.stages.STAGES``) runs on
Ray Tune, on a fresh local cluster bound to 127.0.0.1 or on the cluster named by
``ray.address`` / ``$RAY_ADDRESS``, and the leaderboard is written. Running the same
command again continues an interrupted experiment: nothing finished is redone.
``--dry-run`` prints the plan (stages, trials, steps, resources) without starting Ray;
``--retry-failed`` also trains the failed training runs again.
See README "Experiments" and docs/platform.md.
"""

from __future__ import annotations

import argparse
import logging
import sys

from atrc_nas.cli import EXIT_INTERRUPTED, ArgumentParser, config_command
from atrc_nas.config import config_dict
from atrc_nas.platform.config import ExperimentConfig
from atrc_nas.platform.layout import ExperimentLayout
from atrc_nas.platform.records import TrialRecord
from atrc_nas.platform.stages import check_experiment, experiment_stages, uses_local_cluster

log = logging.getLogger("atrc_nas.launch")


def dry_run(experiment: ExperimentConfig) -> str:
    """The experiment's plan in words: nothing runs and Ray is not started."""
    lines = [f"experiment {experiment.name}: {experiment.folder} (plan only; nothing runs)"]
    cluster = ("a fresh local cluster on 127.0.0.1" if uses_local_cluster(experiment)
               else f"the cluster at {experiment.ray.address}")
    lines.append(f"cluster: {cluster}")
    for stage in experiment_stages(experiment):
        preview = stage.preview()
        lines.append(f"\nstage {stage.name} ({stage.title}):")
        lines += [f"  {line}" for line in preview]
    return "\n".join(lines)


def _prepare_data(experiment: ExperimentConfig) -> None:
    """Generate (synthetic) or check (real) the dataset once, before any trial needs it:
    both splits, as every run's data module builds them (from the dataset registry: no
    torch or Lightning needed here)."""
    from atrc_nas.data.registry import build_dataset, dataset_entry

    data = experiment.data
    for split in dataset_entry(data.dataset).splits:
        build_dataset(data.dataset, split, data.root, data.tasks, **data.options)


def run(experiment: ExperimentConfig, args: argparse.Namespace) -> int | str:
    if args.dry_run:
        return dry_run(experiment)
    from atrc_nas.platform.experiment import experiment_folder
    from atrc_nas.platform.provenance import write_provenance

    with experiment_folder(experiment) as layout:
        print(f"experiment {experiment.name}: {layout.root}", flush=True)
        write_provenance(layout, config_dict(experiment))
        try:
            return _stages(experiment, layout, args.retry_failed)
        finally:
            _leaderboard(experiment, layout)


def _leaderboard(experiment: ExperimentConfig, layout: ExperimentLayout) -> None:
    """All leaderboard formats of what has finished so far; the Markdown one printed."""
    from atrc_nas.leaderboard import write_leaderboard

    paths = write_leaderboard(layout.root, experiment.leaderboard.formats)
    if "md" in paths:
        print("\nleaderboard:\n" + paths["md"].read_text(), flush=True)
    print("leaderboard files: " + ", ".join(str(p) for p in paths.values()), flush=True)


def _stages(experiment: ExperimentConfig, layout: ExperimentLayout,
            retry_failed: bool = False) -> int:
    from atrc_nas.platform.cluster import ray_cluster

    _prepare_data(experiment)
    ray = experiment.ray
    with ray_cluster(ray.address, experiment_dir=layout.root, dashboard=ray.dashboard,
                     dashboard_port=ray.dashboard_port, num_cpus=ray.num_cpus,
                     num_gpus=ray.num_gpus) as cluster:
        from atrc_nas.platform.runner import run_stage  # imports ray: once the cluster is set

        print(cluster.dashboard_help())
        if experiment.search.enabled:
            print(f"Optuna study: optuna-dashboard {layout.study_file}")
        print(f"TensorBoard:  tensorboard --logdir {layout.root}", flush=True)
        done: dict[str, list[TrialRecord]] = {}
        for stage in experiment_stages(experiment):
            specs = stage.plan(done)
            records = run_stage(stage, specs, cluster, retry_failed=retry_failed)
            print(f"\n{stage.title}:\n{stage.summarise(specs, records)}", flush=True)
            if not stage.complete(specs, records):
                print(f"the {stage.title} was interrupted: run the same command again to "
                      "continue it", file=sys.stderr)
                return EXIT_INTERRUPTED
            done[stage.name] = records
    return 0


def _flags(parser: ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (stages, trials, steps, resources) and exit "
                        "without starting Ray")
    parser.add_argument("--retry-failed", action="store_true",
                        help="continue an experiment and train its failed training runs "
                        "again, each from its newest checkpoint (after fixing the cause; "
                        "failed search trials stay failed: Optuna has recorded them)")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return config_command(
        argv, prog="python -m atrc_nas.launch", schema=ExperimentConfig, run=run,
        resume_flag=False, checks=check_experiment, extra=_flags, description=__doc__,
        example_config="experiments/quickstart.yaml", example_overrides="search.num_samples=4",
    )


if __name__ == "__main__":
    sys.exit(main())
