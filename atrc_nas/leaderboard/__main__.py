"""``python -m atrc_nas.leaderboard FOLDER [...] [--format csv|md|json|html] [--out PATH]``:
the leaderboard of experiments (finished or interrupted) and of folders of standalone
training runs (``python -m atrc_nas.train`` run folders: mean +- std over seeds), from
their files (offline: no Ray cluster is needed)."""

from __future__ import annotations

import sys
from pathlib import Path

from atrc_nas.cli import ArgumentParser, run_command
from atrc_nas.config import ConfigError
from atrc_nas.fileio import atomic_write_text
from atrc_nas.leaderboard import FORMATS, build
from atrc_nas.leaderboard.collect import standalone_runs
from atrc_nas.platform.layout import ExperimentLayout


def _check(folder: Path) -> None:
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder")
    if not (ExperimentLayout.holds_experiment(folder) or standalone_runs(folder)):
        raise ConfigError(f"{folder}: neither an experiment folder (no "
                          f"{ExperimentLayout.EXPERIMENT}) nor a folder of finished training "
                          "runs (sub-folders with config.json and metrics.json)")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m atrc_nas.leaderboard",
                            description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, metavar="FOLDER",
                        help="experiment folders (e.g. runs/quickstart) or folders of "
                        "training runs (e.g. runs)")
    parser.add_argument("--format", choices=list(FORMATS), default="md")
    parser.add_argument("--out", type=Path, help="file to write (default: print)")
    parser.add_argument("--references", type=Path, action="append", default=[],
                        metavar="FILE", help="published rows to show beside the measured "
                        "ones (YAML, e.g. experiments/reproduce/paper_references.yaml); "
                        "repeatable")
    args = parser.parse_args(argv)

    def action() -> int:
        for folder in args.folders:
            _check(folder)
        from atrc_nas.leaderboard.references import reference_rows

        published = [row for path in args.references for row in reference_rows(path)]
        text = FORMATS[args.format](build(args.folders, published))
        if args.out is None:
            sys.stdout.write(text)
        else:
            atomic_write_text(args.out, text)
            print(f"wrote {args.out}")
        return 0

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
