"""``python -m atrc_nas.train CONFIG [KEY=VALUE ...] [--resume]``: train one network."""

from __future__ import annotations

import argparse
import json
import sys

from atrc_nas.cli import config_command
from atrc_nas.training.config import TrainConfig


def _train(cfg: TrainConfig, args: argparse.Namespace) -> str:
    from atrc_nas.training.run import train

    result = train(cfg, resume=args.resume)
    return json.dumps({"run_dir": str(result.run_dir), "test": result.metrics["test"]}, indent=2)


def main(argv: list[str] | None = None) -> int:
    return config_command(
        argv, prog="python -m atrc_nas.train", schema=TrainConfig, run=_train,
        description="Train one multi-task network (baseline, ATRC genotype, PAD-Net...) "
        "from a YAML config; writes checkpoints, logs, edge predictions and metrics.json "
        "under <output_dir>/<name>/.",
        example_config="experiments/train_synthetic.yaml",
        example_overrides="optim.max_steps=200 model.network=multi_task",
    )


if __name__ == "__main__":
    sys.exit(main())
