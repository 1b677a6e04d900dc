"""``python -m atrc_nas.ops build`` compiles the extension ahead of time;
``python -m atrc_nas.ops info`` says which kernels run local attention and why."""

from __future__ import annotations

import os
import sys

from atrc_nas.cli import EXIT_FAILED, ArgumentParser, run_command


def _build(verbose: bool) -> int:
    """Exit status 0 only when the best variant for this machine (CUDA when usable) builds."""
    from atrc_nas.ops import build

    for rank, variant in enumerate(build.wanted_variants()):
        devices = "+".join(variant.devices)
        try:
            result = build.load_variant(variant, verbose=verbose)
        except build.BuildUnavailable as exc:
            print(f"{devices}: FAILED: {exc}", file=sys.stderr)
            continue
        how = f"built in {result.seconds:.1f} s" if result.built else "already built"
        print(f"{devices}: {how}: {result.library}")
        return 0 if rank == 0 else EXIT_FAILED
    return EXIT_FAILED


def _info() -> int:
    import torch

    from atrc_nas.ops import backend, build

    choice = os.environ.get(backend.ENV_BACKEND, "auto")
    print(f"{backend.ENV_BACKEND}: {choice}")
    print(f"{build.ENV_DIR}: {build.cache_root()}")
    print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    info = backend.ensure_backend()
    print(f"backend: {info.name} ({info.reason})")
    compiled = set(info.compiled_devices)
    for device in ("cpu", "cuda"):
        if device == "cuda" and not torch.cuda.is_available():
            print("  cuda: no CUDA device")
        else:
            print(f"  {device}: {'compiled extension' if device in compiled else 'pure PyTorch'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m atrc_nas.ops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="compile the extension into the shared cache")
    build_cmd.add_argument("-v", "--verbose", action="store_true", help="show compiler output")
    sub.add_parser("info", help="show the active backend and why")
    args = parser.parse_args(argv)
    return run_command(lambda: _build(args.verbose) if args.command == "build" else _info())


if __name__ == "__main__":
    sys.exit(main())
