"""``python -m atrc_nas.data {show, download, check}``: look at, fetch and validate datasets."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import yaml

from atrc_nas.data.builders import DATASET_BUILDERS, build_dataset
from atrc_nas.data.check import FOLDER_DATASETS, check_dataset
from atrc_nas.data.download import KNOWN_SOURCES, DownloadError, download
from atrc_nas.data.visualize import save_grid


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    parsed = yaml.safe_load(value)
    return key, tuple(parsed) if isinstance(parsed, list) else parsed


def _show(args: argparse.Namespace) -> int:
    dataset = build_dataset(args.dataset, args.split, args.root, **dict(args.option))
    size = len(dataset)
    if size == 0:
        print(f"dataset {args.dataset!r} split {args.split!r} is empty", file=sys.stderr)
        return 1
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
    problems = check_dataset(args.dataset, args.dir)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {args.dataset} at {args.dir}", file=sys.stderr)
        return 1
    print(f"{args.dataset} at {args.dir}: OK")
    return 0


def _download(args: argparse.Namespace) -> int:
    url, sha256 = args.url, args.sha256
    if url is None:
        source = KNOWN_SOURCES[args.dataset]
        print(f"no --url given; trying the published {args.dataset} archive. {source.note}")
        url, sha256 = source.urls[0], sha256 or source.sha256
    path = download(url, args.dest, sha256)
    print(
        f"downloaded {path} and unpacked it into {args.dest}; validate the dataset folder with"
        f" python -m atrc_nas.data check --dataset {args.dataset} {args.dest}/<folder>"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    datasets = list(DATASET_BUILDERS)
    parser = argparse.ArgumentParser(
        prog="python -m atrc_nas.data", description="Look at, download and validate datasets."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    show = commands.add_parser(
        "show", help="write a PNG grid: one row per sample, the image then every task's label"
    )
    show.add_argument("--dataset", default="synthetic_nyud", choices=datasets)
    show.add_argument("--root", help="dataset folder (synthetic: cache folder, optional)")
    show.add_argument("--split", default="train", help="train, or the held-out split")
    show.add_argument("--num", type=_positive, default=4, help="number of samples (rows)")
    show.add_argument("--out", default="samples.png", help="PNG to write")
    show.add_argument(
        "--seed", type=int, help="pick samples at random with this seed (default: the first)"
    )
    show.add_argument(
        "--option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset option, value in YAML (e.g. num_images=16, image_size=[64,80])",
    )
    show.set_defaults(run=_show)

    sources = "\n".join(f"  {name}: {' or '.join(src.urls)}" for name, src in KNOWN_SOURCES.items())
    fetch = commands.add_parser(
        "download",
        help="download (resumable) and unpack an archive, verifying its sha256",
        description="Download an archive (resuming a partial one), verify it and unpack it.",
        epilog=f"published archives:\n{sources}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fetch.add_argument("--dataset", required=True, choices=list(KNOWN_SOURCES))
    fetch.add_argument("--url", help="archive URL (default: the published one, if any)")
    fetch.add_argument("--dest", required=True, help="folder to download and unpack into")
    fetch.add_argument("--sha256", help="expected sha256 of the archive (hex)")
    fetch.set_defaults(run=_download)

    check = commands.add_parser(
        "check", help="validate a dataset folder; lists every missing or corrupt file"
    )
    check.add_argument("--dataset", required=True, choices=list(FOLDER_DATASETS))
    check.add_argument("dir", help="the dataset folder")
    check.set_defaults(run=_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, DownloadError) as err:  # DataFileError is a ValueError
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
