"""The shared shape of the config-driven commands:
``CONFIG [KEY=VALUE ...] [--resume]`` and ``--print-schema``.

Bad input never ends in a traceback: a config error prints its lines and exits with
status 2; a data file that cannot be read or a loss that diverged prints one line and
exits with status 1. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from atrc_nas.config import ConfigError, json_schema, load_config
from atrc_nas.data.io import DataFileError
from atrc_nas.training.objective import DivergenceError

C = TypeVar("C", bound=BaseModel)

EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2
EXIT_INTERRUPTED = 130


def report_errors(action: Callable[[], int]) -> int:
    """Run ``action``; print user-facing errors as ``error: ...`` with their exit status."""
    try:
        return action()
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    except (DataFileError, DivergenceError) as err:
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
    run: Callable[[C, bool], Any],
    resume_flag: bool = True,
) -> int:
    """Parse arguments, load ``schema`` from the YAML with overrides, call ``run(cfg, resume)``
    and print what it returns; an int it returns is the exit status. Without
    ``resume_flag`` there is no ``--resume`` (``resume`` is False)."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", help=f"YAML config, e.g. {example_config}")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help=f"config overrides (values in YAML), e.g. {example_overrides}")
    if resume_flag:
        parser.add_argument("--resume", action="store_true", help="continue the run in "
                            "<output_dir>/<name> from its last checkpoint")
    parser.add_argument("--print-schema", action="store_true",
                        help="print the config's JSON Schema (for editors) and exit")
    args = parser.parse_args(argv)
    if args.print_schema:
        print(json_schema(schema))
        return 0
    if args.config is None:
        parser.error("the config file is required (or --print-schema)")

    def action() -> int:
        cfg = load_config(args.config, schema, args.overrides)
        output = run(cfg, getattr(args, "resume", False))
        if isinstance(output, int):
            return output
        print(output)
        return 0

    return report_errors(action)
