"""``python -m atrc_nas.data {show, download, check}``: look at, fetch and validate datasets.

Exit status as every command (``atrc_nas.cli``): 2 for a bad option, dataset or folder, 1
when a check finds problems or a download fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from atrc_nas.cli import EXIT_FAILED, ArgumentParser, key_value, run_command
from atrc_nas.config import ConfigError
from atrc_nas.data.registry import DATASETS, build_dataset, dataset_entry


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _folder(dataset: str, root: str | None, flag: str) -> None:
    """A folder dataset's root must exist (a bad argument, not a failed run)."""
    entry = dataset_entry(dataset)
    if entry.in_folder and root is not None and not Path(root).is_dir():
        raise ConfigError(f"{flag} {root}: no such folder; {entry.how_to_get}")


def _show(args: argparse.Namespace) -> int:
    import numpy as np

    from atrc_nas.data.visualize import save_grid

    _folder(args.dataset, args.root, "--root")
    dataset = build_dataset(args.dataset, args.split, args.root, **dict(args.option))
    size = len(dataset)
    if size == 0:
        print(f"dataset {args.dataset!r} split {args.split!r} is empty", file=sys.stderr)
        return EXIT_FAILED
    num = min(args.num, size)
    indices = (
        range(num)
        if args.seed is None
        else sorted(np.random.default_rng(args.seed).choice(size, num, replace=False).tolist())
    )
    samples = [dataset.load_raw(i) for i in indices]
    path = save_grid(samples, dataset.spec.tasks, args.out)
    print(
        f"wrote {path}: {num} samples of {args.dataset}/{args.split}; columns: image, "
        f"{', '.join(dataset.spec.tasks)}"
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from atrc_nas.data.check import check_dataset

    _folder(args.dataset, args.dir, "folder")
    problems = check_dataset(args.dataset, args.dir)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {args.dataset} at {args.dir}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{args.dataset} at {args.dir}: OK")
    return 0


def _download(args: argparse.Namespace) -> int:
    from atrc_nas.data.download import download

    url, sha256 = args.url, args.sha256
    if url is None:
        source = dataset_entry(args.dataset).sources if args.dataset else None
        if source is None:
            raise ConfigError("--url: give the archive's URL (or --dataset nyud|pascal to try "
                              "its published archive)")
        print(f"no --url given; trying the published {args.dataset} archive. {source.note}")
        url, sha256 = source.urls[0], sha256 or source.sha256
    path = download(url, args.dest, sha256)
    name = args.dataset or "<nyud|pascal>"
    print(f"downloaded {path} and unpacked it into {args.dest}; validate the dataset folder "
          f"with python -m atrc_nas.data check --dataset {name} {args.dest}/<folder>")
    return 0


def build_parser() -> ArgumentParser:
    datasets = list(DATASETS)
    folders = [name for name, entry in DATASETS.items() if entry.in_folder]
    published = [name for name, entry in DATASETS.items() if entry.sources]
    parser = ArgumentParser(prog="python -m atrc_nas.data",
                            description="Look at, download and validate datasets.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    show = commands.add_parser(
        "show", help="write a PNG grid: one row per sample, the image then every task's label"
    )
    show.add_argument("--dataset", default="synthetic_nyud", choices=datasets)
    show.add_argument("--root", help="dataset folder (synthetic: cache folder, optional)")
    show.add_argument("--split", default="train", help="train, or test: the held-out split "
                      "(NYUD, PASCAL: also by their own name, val)")
    show.add_argument("--num", type=_positive, default=4, help="number of samples (rows)")
    show.add_argument("--out", default="samples.png", help="PNG to write")
    show.add_argument(
        "--seed", type=int, help="pick samples at random with this seed (default: the first)"
    )
    show.add_argument(
        "--option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
        help="dataset option, value in YAML (e.g. num_images=16, image_size=[64,80])",
    )
    show.set_defaults(run=_show)

    sources = "\n".join(f"  {name}: {' or '.join(DATASETS[name].sources.urls)}"  # type: ignore[union-attr]
                        for name in published)
    fetch = commands.add_parser(
        "download",
        help="download (resumable) and unpack an archive, verifying its sha256",
        description="Download an archive (resuming a partial one), verify it and unpack it.",
        epilog=f"published archives:\n{sources}",
    )
    fetch.add_argument("--url", help="archive URL (default: the dataset's published one)")
    fetch.add_argument("--dest", required=True, help="folder to download and unpack into")
    fetch.add_argument("--sha256", help="expected sha256 of the archive (hex)")
    fetch.add_argument("--dataset", choices=published,
                       help="the dataset (for its published archive when --url is not given)")
    fetch.set_defaults(run=_download)

    check = commands.add_parser(
        "check", help="validate a dataset folder; lists every missing or corrupt file"
    )
    check.add_argument("--dataset", required=True, choices=folders)
    check.add_argument("dir", help="the dataset folder")
    check.set_defaults(run=_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: args.run(args))


if __name__ == "__main__":
    sys.exit(main())
