"""The shared shape of the config-driven commands: ``CONFIG [KEY=VALUE ...] [--resume]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from atrc_nas.config import ConfigError, load_config

C = TypeVar("C")


def config_command(
    argv: list[str] | None,
    *,
    prog: str,
    description: str,
    schema: type[C],
    example_config: str,
    example_overrides: str,
    run: Callable[[C, bool], Any],
) -> int:
    """Parse arguments, load ``schema`` from the YAML with overrides, call ``run(cfg, resume)``
    and print what it returns. Config errors print one line and exit with status 2."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("config", help=f"YAML config, e.g. {example_config}")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help=f"config overrides, e.g. {example_overrides}")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in <output_dir>/<name> from its last checkpoint")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, schema, args.overrides)
        output = run(cfg, args.resume)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(output)
    return 0
