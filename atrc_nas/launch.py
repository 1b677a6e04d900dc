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

from atrc_nas.cli import EXIT_INTERRUPTED, config_command
from atrc_nas.config import config_dict
from atrc_nas.platform.config import ExperimentConfig
from atrc_nas.platform.plan import SweepPlan
from atrc_nas.platform.records import RUNNING

log = logging.getLogger("atrc_nas.launch")


def _prepare_data(experiment: ExperimentConfig) -> None:
    """Generate (synthetic) or check (real) the dataset once, before any trial needs it."""
    from atrc_nas.training.run import build_datamodule

    build_datamodule(experiment.data, seed=0).prepare_data()


def run(experiment: ExperimentConfig) -> int:
    from atrc_nas.platform.experiment import experiment_folder

    with experiment_folder(experiment) as folder:
        print(f"experiment {experiment.name}: {folder}", flush=True)
        _prepare_data(experiment)
        from atrc_nas.platform.cluster import ray_cluster

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
                print("the search stage was interrupted: run the same command again to "
                      "continue it", file=sys.stderr)
                return EXIT_INTERRUPTED
    return 0


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
