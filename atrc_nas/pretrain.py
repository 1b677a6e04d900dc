"""``python -m atrc_nas.pretrain CONFIG [KEY=VALUE ...] --out FILE``: train a network and keep
its backbone as a weights file that ``model.pretrained`` loads, with a record of how it was
made (``FILE`` with ``.json``: the config, its hash, the source commit, the dataset
fingerprint, the run's test metrics, package versions and the file's sha256).

The quickstart's backbone (``experiments/weights/``) is made this way from
``experiments/pretrain_synthetic.yaml``: synthetic images of another generator seed than the
experiments', so no image an experiment trains or tests on is seen here (the role ImageNet
plays for the paper's HRNets).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path
from typing import Any

from atrc_nas.cli import config_command
from atrc_nas.config import ConfigError
from atrc_nas.training.config import TrainConfig

BACKBONE_PREFIX = "network.backbone."  # the backbone's keys in a training checkpoint


def backbone_state(checkpoint: Path) -> dict[str, Any]:
    """The backbone's tensors of a training checkpoint, named as the backbone names them."""
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    found = {k.removeprefix(BACKBONE_PREFIX): v for k, v in state.items()
             if k.startswith(BACKBONE_PREFIX)}
    if not found:
        raise ValueError(f"{checkpoint}: no {BACKBONE_PREFIX}* tensors: not a checkpoint of "
                         "a network with a named backbone")
    return found


def _pretrain(cfg: TrainConfig, args: argparse.Namespace) -> str:
    import torch

    from atrc_nas.fileio import atomic_write_bytes, atomic_write_json
    from atrc_nas.platform.provenance import config_hash, git_state, versions
    from atrc_nas.run_dir import CHECKPOINT_DIR, LAST_CHECKPOINT
    from atrc_nas.training.run import train

    out: Path = args.out
    if out.exists() and not args.overwrite:
        raise ConfigError(f"--out {out}: exists; pass --overwrite to replace it")
    if out.is_dir() or out.suffix == ".json":
        raise ConfigError(f"--out {out}: must name a weights file (e.g. backbone.pt); its "
                          "record is written beside it as .json")
    result = train(cfg, resume=args.resume)
    state = backbone_state(result.run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    weights = buffer.getvalue()
    atomic_write_bytes(out, weights)
    config = cfg.model_dump(mode="json")
    metrics = result.metrics
    atomic_write_json(out.with_suffix(".json"), {
        "weights": out.name, "sha256": hashlib.sha256(weights).hexdigest(),
        "backbone": cfg.model.backbone, "tensors": len(state),
        "command": "python -m atrc_nas.pretrain " + " ".join(sys.argv[1:]),
        "config": config, "config_hash": config_hash(config), "git": git_state(),
        "dataset_fingerprint": metrics["dataset_fingerprint"], "steps": metrics["steps"],
        "test": metrics["test"], "wall_time_s": metrics["wall_time_s"],
        "versions": versions(),
    })
    return f"wrote {out} ({len(state)} tensors) and {out.with_suffix('.json')}"


def _flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True,
                        help="the backbone weights file to write (a record goes beside it, "
                        "as .json)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def main(argv: list[str] | None = None) -> int:
    return config_command(
        argv, prog="python -m atrc_nas.pretrain", schema=TrainConfig, run=_pretrain,
        description="Train a network from a YAML config and keep its backbone as a "
        "pretrained-weights file (model.pretrained), with a record of how it was made.",
        example_config="experiments/pretrain_synthetic.yaml",
        example_overrides="optim.max_steps=200", extra=_flags,
    )


if __name__ == "__main__":
    sys.exit(main())
