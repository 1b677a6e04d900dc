"""``python -m atrc_nas.leaderboard EXPERIMENT_DIR [...] [--format csv|md|json|html]
[--out PATH]``: the leaderboard of finished or interrupted experiments, from their files
(offline: no Ray cluster is needed)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atrc_nas.fileio import atomic_write_text
from atrc_nas.leaderboard import FORMATS, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atrc_nas.leaderboard",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="+", type=Path, metavar="EXPERIMENT_DIR",
                        help="experiment folders, e.g. runs/quickstart")
    parser.add_argument("--format", choices=list(FORMATS), default="md")
    parser.add_argument("--out", type=Path, help="file to write (default: print)")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.experiments if not (p / "experiment.json").is_file()]
    if missing:
        print(f"error: not an experiment folder (no experiment.json): {', '.join(missing)}",
              file=sys.stderr)
        return 2
    text = FORMATS[args.format](build(args.experiments))
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
