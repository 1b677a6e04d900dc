"""The one convention of every command (train, search, launch, data, ops, leaderboard).

- Arguments: argparse with abbreviations off (``--resum`` is an error, not ``--resume``);
  a usage error prints one line and exits with status 2.
- Values: ``KEY=VALUE`` pairs (config overrides, dataset options) are YAML 1.2 values
  (``1e-3`` is a float, ``[64, 80]`` a list), parsed by the config system.
- Exit status: 0 done; 2 bad input (a config, override, option, file or folder that is
  wrong: one ``error:`` line naming it, never a traceback); 1 a run that failed on its
  data or diverged, or a check that found problems; 130 interrupted. Anything else is a bug
  and keeps its traceback.
- Config files are validated completely before torch, Lightning or Ray is imported.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from atrc_nas.config import ConfigError, Issue, Override, json_schema, load_config
from atrc_nas.data.download import DownloadError
from atrc_nas.data.io import DataFileError
from atrc_nas.errors import DivergenceError

C = TypeVar("C", bound=BaseModel)

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class ArgumentParser(argparse.ArgumentParser):
    """argparse as every command uses it: no abbreviations, raw description text."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with a YAML 1.2 value (an argparse ``type``)."""
    try:
        override = Override.parse(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return ".".join(override.path), override.value


def run_command(action: Callable[[], int]) -> int:
    """Run ``action``; print user-facing errors as ``error: ...`` with their exit status."""
    try:
        return action()
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (DataFileError, DivergenceError, DownloadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def config_command(
    argv: list[str] | None,
    *,
    prog: str,
    description: str,
    schema: type[C],
    example_config: str,
    example_overrides: str,
    run: Callable[[C, argparse.Namespace], Any],
    resume_flag: bool = True,
    checks: Callable[[C], list[Issue]] | None = None,
    extra: Callable[[ArgumentParser], None] | None = None,
) -> int:
    """``CONFIG [KEY=VALUE ...] [--resume] [--print-schema]``: load ``schema`` from the YAML
    with overrides and run ``checks`` on it (still before any heavy import: their problems
    are reported like the schema's), call ``run(cfg, args)`` and print what it returns; an
    int it returns is the exit status. ``extra`` adds command-specific flags."""
    parser = ArgumentParser(prog=prog, description=description)
    parser.add_argument("config", nargs="?", help=f"YAML config, e.g. {example_config}")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help=f"config overrides (values in YAML), e.g. {example_overrides}")
    if resume_flag:
        parser.add_argument("--resume", action="store_true", help="continue the run in "
                            "<output_dir>/<name> from its last checkpoint")
    parser.add_argument("--print-schema", action="store_true",
                        help="print the config's JSON Schema (for editors) and exit")
    if extra is not None:
        extra(parser)
    args = parser.parse_intermixed_args(argv)
    if args.print_schema:
        print(json_schema(schema))
        return 0
    if args.config is None:
        parser.error("the config file is required (or --print-schema)")

    def action() -> int:
        cfg = load_config(args.config, schema, args.overrides, checks=checks)
        output = run(cfg, args)
        if isinstance(output, int):
            return output
        print(output)
        return 0

    return run_command(action)
