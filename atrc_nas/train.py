"""``python -m atrc_nas.train CONFIG [KEY=VALUE ...] [--resume]``: train one network."""

from __future__ import annotations

import argparse
import json
import sys

from atrc_nas.config import ConfigError, load_config
from atrc_nas.training.config import TrainConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m atrc_nas.train",
        description="Train one multi-task network (baseline, ATRC genotype, PAD-Net...) "
        "from a YAML config; writes checkpoints, logs, edge predictions and metrics.json "
        "under <output_dir>/<name>/.",
    )
    parser.add_argument("config", help="YAML config, e.g. experiments/train_synthetic.yaml")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides, e.g. optim.max_steps=200 model.network=multi_task")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in <output_dir>/<name> from its last checkpoint")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, TrainConfig, args.overrides)
        from atrc_nas.training.run import train

        result = train(cfg, resume=args.resume)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({"run_dir": str(result.run_dir), "test": result.metrics["test"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
