"""``python -m atrc_nas.search CONFIG [KEY=VALUE ...] [--resume]``: run one search."""

from __future__ import annotations

import argparse
import json
import sys

from atrc_nas.cli import config_command
from atrc_nas.search.config import SearchConfig


def _search(cfg: SearchConfig, args: argparse.Namespace) -> str:
    from atrc_nas.search.callbacks import GENOTYPE_FILE
    from atrc_nas.search.report import format_report
    from atrc_nas.search.run import run_search

    result = run_search(cfg, resume=args.resume)
    paths = {"run_dir": str(result.run_dir),
             "genotype": str(result.run_dir / GENOTYPE_FILE)}
    return f"{format_report(result.report)}\n{json.dumps(paths, indent=2)}"


def main(argv: list[str] | None = None) -> int:
    return config_command(
        argv, prog="python -m atrc_nas.search", schema=SearchConfig, run=_search,
        description="Search ATRC context blocks per task pair (optionally under a FLOPs "
        "budget) from a YAML config; writes atrc_genotype.json after every validation, the "
        "probability history, checkpoints and search_report.json under <output_dir>/<name>/.",
        example_config="experiments/search_synthetic.yaml",
        example_overrides="optim.max_steps=200 budget.fraction=0.5",
    )


if __name__ == "__main__":
    sys.exit(main())
