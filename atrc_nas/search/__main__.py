"""``python -m atrc_nas.search CONFIG [KEY=VALUE ...] [--resume]``: run one search."""

from __future__ import annotations

import argparse
import json
import sys

from atrc_nas.config import ConfigError, load_config
from atrc_nas.search.config import SearchConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m atrc_nas.search",
        description="Search ATRC context blocks per task pair (optionally under a FLOPs "
        "budget) from a YAML config; writes atrc_genotype.json after every validation, the "
        "probability history, checkpoints and search_report.json under <output_dir>/<name>/.",
    )
    parser.add_argument("config", help="YAML config, e.g. experiments/search_synthetic.yaml")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides, e.g. optim.max_steps=200 budget.fraction=0.5")
    parser.add_argument("--resume", action="store_true",
                        help="continue the search in <output_dir>/<name> from its last checkpoint")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, SearchConfig, args.overrides)
        from atrc_nas.search.report import format_report
        from atrc_nas.search.run import run_search

        result = run_search(cfg, resume=args.resume)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_report(result.report))
    print(json.dumps({"run_dir": str(result.run_dir),
                      "genotype": str(result.run_dir / "atrc_genotype.json")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
